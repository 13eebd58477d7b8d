# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The invocation engine: run content on instances, wait for it, and collect per-instance results.

Every feature that runs a command (the connection, the modules, the fleet action) goes through
these functions, so polling, decoding and stopping on timeout are written once.
"""

from __future__ import annotations

import base64
import time
import typing as t
from dataclasses import dataclass

from ..api.client import PROGRESS_VERBOSITY, CloudClient
from ..api.errors import CloudError
from .interrupts import tracking
from . import invocations_api as api
from .invocations_api import stop_invocation
from ..api.retries import is_retryable

# Per-instance InvocationStatus values after which nothing changes any more (docs/api-contract.md#invocation-statuses).
TERMINAL_STATUSES = frozenset({
    "Success", "Failed", "Timeout", "Error", "Invalid", "Aborted", "Cancelled", "Terminated",
})
PROGRESS_SECONDS = 10  # a command running longer reports (at -v) how long it has run, this often
RESULTS_PAGE_SIZE = api.PAGE_SIZE


@dataclass
class InstanceResult:
    """One instance's outcome as the API reports it, with the output already decoded to bytes."""

    instance_id: str
    status: str
    exit_code: int | None
    output: bytes
    dropped: int
    error_code: str
    error_info: str

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @classmethod
    def from_api(cls, item: dict[str, t.Any]) -> InstanceResult:
        raw = item.get("Output") or ""
        return cls(
            instance_id=item.get("InstanceId", ""),
            status=item.get("InvocationStatus", ""),
            exit_code=item.get("ExitCode"),
            output=base64.b64decode(raw) if raw else b"",
            dropped=int(item.get("Dropped") or 0),
            error_code=item.get("ErrorCode") or "",
            error_info=item.get("ErrorInfo") or "",
        )


class InvocationTimeout(Exception):
    """The wall-clock wait ran out; the invocation was asked to stop."""

    def __init__(self, invoke_id: str, waited: float) -> None:
        self.invoke_id = invoke_id
        super().__init__(
            f"Cloud Assistant invocation {invoke_id} did not finish within {waited:.0f}s; "
            "it was stopped (StopInvocation)")


class PollSchedule:
    """Delays between result polls: one aimed look, then short geometric steps up to a cap.

    ``first`` is aimed at the expected run time (learned per instance), so a typical task needs a
    single poll; if that look is early, the following ones come quickly, starting at ``then``.
    """

    def __init__(self, first: float = 0.1, then: float = 0.05, factor: float = 1.5, cap: float = 2.0,
                 second: float | None = None) -> None:
        self.first = first
        self.then = then
        self.factor = factor
        self.cap = cap
        self.second = second  # where the second look goes (seconds after the start), if known

    def aimed_at(self, seconds: float, fallback: float | None = None) -> PollSchedule:
        """Aim the first look at ``seconds``; after a miss, look at ``fallback`` (a known slow mode)."""
        first = min(self.cap, max(0.0, seconds))
        second = fallback if fallback is not None and fallback > first else None
        return PollSchedule(first, self.then, self.factor, self.cap, second)

    def unaimed(self) -> PollSchedule:
        """For a command nothing is known about: the first look as early, then steps that double from
        twice that, so a command of a second or so costs four looks rather than six or seven."""
        return PollSchedule(self.first, 2 * self.first, 2.0, self.cap)

    def delays(self) -> t.Iterator[float]:
        yield self.first
        if self.second is not None:
            # Most misses are jitter (a busy instance or controller), not the slow mode: one quick
            # look first, so such a miss costs one short step instead of the wait for the slow mode.
            quick = min(self.then, max(0.0, self.second - self.first))
            yield quick
            if self.second - self.first > quick:
                yield self.second - self.first - quick
        delay = self.then
        while True:
            yield delay
            delay = min(self.cap, delay * self.factor)


@dataclass
class Completion:
    """Results of a finished invocation and when they were seen: between ``earliest`` and ``latest``
    seconds after the wait began (the last unfinished look and the first finished one)."""

    results: dict[str, InstanceResult]
    polls: int
    earliest: float
    latest: float


def describe_results(client: CloudClient, invoke_id: str,
                     instance_id: str | None = None) -> dict[str, InstanceResult]:
    """All per-instance results of an invocation, across as many pages as there are."""
    results: dict[str, InstanceResult] = {}
    for item in api.describe_invocation_results(client, RESULTS_PAGE_SIZE, InvokeId=invoke_id, InstanceId=instance_id):
        result = InstanceResult.from_api(item)
        results[result.instance_id] = result
    return results


def wait_for_results(
    client: CloudClient,
    invoke_id: str,
    instance_ids: t.Sequence[str],
    *,
    deadline: float,
    schedule: PollSchedule | None = None,
    clock: t.Callable[[], float] = time.monotonic,
    sleep: t.Callable[[float], None] = time.sleep,
) -> Completion:
    """Poll until every instance reached a terminal status; on deadline stop it and raise.

    A single instance is polled with an InstanceId filter so the answer stays one small page.
    The command runs on whether the API answers or not, so a poll that fails for a passing reason
    (throttling, a 5xx, the endpoint gone for a while) is only a look that saw nothing: the wait
    goes on until the invocation's own deadline. While waiting, a SIGINT or SIGTERM stops it.
    """
    started = clock()
    only = instance_ids[0] if len(instance_ids) == 1 else None
    last_unfinished = 0.0
    failed_look: CloudError | None = None
    next_report = PROGRESS_SECONDS
    where = instance_ids[0] if len(instance_ids) == 1 else f"{len(instance_ids)} instances"
    with tracking(client, invoke_id, f"on {where}"):
        for polls, delay in enumerate((schedule or PollSchedule()).delays(), 1):
            remaining = deadline - clock()
            if remaining <= 0:
                stop_invocation(client, invoke_id, quiet=True)
                if failed_look is not None:
                    raise failed_look
                raise InvocationTimeout(invoke_id, clock() - started)
            sleep(min(delay, remaining))
            looked_at = clock() - started
            try:
                results = describe_results(client, invoke_id, only)
            except CloudError as error:
                if not is_retryable(error):
                    raise
                failed_look = error
                continue
            failed_look = None
            if all(iid in results and results[iid].finished for iid in instance_ids):
                return Completion(results, polls, last_unfinished, looked_at)
            last_unfinished = looked_at
            if looked_at >= next_report:
                client.say(PROGRESS_VERBOSITY, f"invocation {invoke_id} on {where}: still running after {looked_at:.0f} s")
                next_report = looked_at + PROGRESS_SECONDS
    raise AssertionError("unreachable")  # pragma: no cover
