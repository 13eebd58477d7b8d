# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Jittered exponential backoff for calls that are safe to repeat.

Only reads and calls carrying a ClientToken opt in: repeating anything else could run a command
twice, which we never do.
"""

from __future__ import annotations

import random
import time
import typing as t

from .errors import CloudError

# Codes that say "try again later": throttling in its several spellings, and server-side hiccups.
THROTTLING_CODES = frozenset({"Throttling", "Throttling.User", "Throttling.Api", "ServiceUnavailable"})
TRANSIENT_CODES = frozenset({"InternalError", "UnknownError", "InternalError.Dispatch", "SDK.HttpError"})
TRANSIENT_HTTP_STATUSES = frozenset({429, 500, 502, 503, 504})

T = t.TypeVar("T")


def is_retryable(error: CloudError) -> bool:
    """Whether an error is worth another attempt of a call that is safe to repeat."""
    if error.code in THROTTLING_CODES or error.code in TRANSIENT_CODES:
        return True
    return error.http_status in TRANSIENT_HTTP_STATUSES


class Backoff:
    """Full-jitter exponential backoff: attempt n waits uniform(0, min(cap, base * 2**n))."""

    def __init__(self, attempts: int = 5, base: float = 0.2, cap: float = 5.0,
                 sleep: t.Callable[[float], None] = time.sleep) -> None:
        self.attempts = max(1, attempts)
        self.base = base
        self.cap = cap
        self._sleep = sleep

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap, self.base * (2 ** attempt)))

    def run(self, func: t.Callable[[], T]) -> T:
        """Call ``func`` until it succeeds, raises a non-retryable error, or attempts run out."""
        for attempt in range(self.attempts):
            try:
                return func()
            except CloudError as error:
                if attempt + 1 >= self.attempts or not is_retryable(error):
                    raise
                self._sleep(self.delay(attempt))
        raise AssertionError("unreachable")  # pragma: no cover


NO_RETRY = Backoff(attempts=1)
