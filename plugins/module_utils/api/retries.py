# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Retrying calls that are safe to repeat, for as long as a time budget lasts.

Only reads and calls carrying a ClientToken opt in: repeating anything else could run a command
twice, which we never do. The budget is counted in seconds rather than attempts because what an
account meets is measured in time: a throttling storm of a minute, an endpoint gone for half a
minute. Each pause is drawn at random up to an exponentially growing, capped limit ("full jitter"),
so many forks throttled at once do not come back in step.
"""

from __future__ import annotations

import random
import time
import typing as t

from .errors import CloudError

# Codes that say "try again later": throttling in its several spellings, and server-side hiccups.
THROTTLING_CODES = frozenset({"Throttling", "Throttling.User", "Throttling.Api", "ServiceUnavailable"})
# SDK.HttpError is the SDK's word for anything below HTTP: refused, reset, timed out, name not resolved.
TRANSIENT_CODES = frozenset({"InternalError", "UnknownError", "InternalError.Dispatch", "SDK.HttpError"})
TRANSIENT_HTTP_STATUSES = frozenset({429, 500, 502, 503, 504})
# An STS token the API holds expired while our clock held it fresh: not retried by the policy (waiting cannot help),
# but the client renews the credentials and repeats the call once (CloudClient._call_renewing). The request was
# refused before the action ran, so repeating it is safe for any action.
EXPIRED_TOKEN_CODES = frozenset({"InvalidSecurityToken.Expired"})
# Rides out a minute-long throttling storm or a 30 s outage with room to spare (the two measured cases).
DEFAULT_BUDGET = 120.0
BASE_DELAY = 0.5
MAX_DELAY = 10.0
# While a call keeps failing, the caller hears of it this often (a progress line instead of silence).
WAIT_REPORT_SECONDS = 10.0

T = t.TypeVar("T")
# Called before each pause: (the error, the attempt that failed counting from 1, the pause in seconds).
RetryHook = t.Callable[[CloudError, int, float], None]
# Asked before each pause: (the error, seconds since the call started, the pause) -> give up now instead.
GiveUpHook = t.Callable[[CloudError, float, float], bool]
# Called every WAIT_REPORT_SECONDS while failing: (the last error, seconds since the first failure).
WaitHook = t.Callable[[CloudError, float], None]


def is_retryable(error: CloudError) -> bool:
    """Whether an error is worth another attempt of a call that is safe to repeat."""
    if error.code in THROTTLING_CODES or error.code in TRANSIENT_CODES:
        return True
    return error.http_status in TRANSIENT_HTTP_STATUSES


def is_expired_token(error: CloudError) -> bool:
    """Whether the API refused the call's STS token as expired."""
    return error.code in EXPIRED_TOKEN_CODES


class RetryPolicy:
    """Full-jitter exponential backoff within ``budget`` seconds: pause n is uniform(0, min(cap, base * 2**n)).

    The budget counts from the first failure: time a call spent queued for a slot (call_slots) or
    waiting on a slow but successful answer is not the API misbehaving. A retry is attempted only when
    its pause still ends inside the budget, so a call gives up at most ``budget`` seconds (plus the
    last attempt's own duration) after it first failed.
    """

    def __init__(self, budget: float = DEFAULT_BUDGET, base: float = BASE_DELAY, cap: float = MAX_DELAY,
                 sleep: t.Callable[[float], None] = time.sleep,
                 clock: t.Callable[[], float] = time.monotonic) -> None:
        self.budget = max(0.0, float(budget))
        self.base = base
        self.cap = cap
        self._sleep = sleep
        self._clock = clock

    def within(self, budget: float) -> RetryPolicy:
        """The same policy with another budget (say, a few seconds for a stop sent on the way out)."""
        return RetryPolicy(budget, self.base, self.cap, self._sleep, self._clock)

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap, self.base * (2 ** min(attempt, 32))))

    def now(self) -> float:
        """The policy's clock (monotonic seconds)."""
        return self._clock()

    def run(self, func: t.Callable[[], T], on_retry: RetryHook | None = None, give_up: GiveUpHook | None = None,
            on_wait: WaitHook | None = None) -> T:
        """Call ``func`` until it succeeds, raises a non-retryable error, the budget is spent, or ``give_up`` says
        so; ``on_wait`` hears every WAIT_REPORT_SECONDS of failing."""
        started = self._clock()
        failing_since: float | None = None
        report_due: float | None = None
        attempt = 0
        while True:
            try:
                return func()
            except CloudError as error:
                now = self._clock()
                failing_since = now if failing_since is None else failing_since
                pause = self.delay(attempt)
                if not is_retryable(error) or now - failing_since + pause > self.budget:
                    raise
                if give_up is not None and give_up(error, now - started, pause):
                    raise
                attempt += 1
                if on_retry is not None:
                    on_retry(error, attempt, pause)
                report_due = self._wait(pause, now, failing_since, report_due, error, on_wait)

    def _wait(self, pause: float, now: float, failing_since: float, due: float | None, error: CloudError,
              on_wait: WaitHook | None) -> float | None:
        """Sleep ``pause`` seconds, in slices that end when the next report is due; the next report's time.

        The slices are counted from ``now`` rather than read from the clock again, so a sleep that returns
        early (a stand-in in tests) never turns this into a busy loop.
        """
        if on_wait is None:
            self._sleep(pause)
            return due
        due = failing_since + WAIT_REPORT_SECONDS if due is None else due
        at, end = now, now + pause
        while True:
            if at >= due:
                on_wait(error, at - failing_since)
                due = at + WAIT_REPORT_SECONDS
            until = min(end, due)
            if until <= at:
                return due
            self._sleep(until - at)
            at = until


NO_RETRY = RetryPolicy(budget=0)
