"""RetryPolicy on a fake clock: which errors are retried, the budget counted from the first failure, the give-up
hook, and the progress report every 10 s of failing — the rules every API call of the collection rides on."""

from __future__ import annotations

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.api import retries
from ansible_collections.alicloud.ecs.plugins.module_utils.api.errors import CloudError
from ansible_collections.alicloud.ecs.plugins.module_utils.api.retries import (
    NO_RETRY, RetryPolicy, is_expired_token, is_retryable,
)


class Failing:
    """A call that raises the given errors in order, then returns ``result``; counts its calls."""

    def __init__(self, *errors: CloudError, result: str = "done") -> None:
        self.errors = list(errors)
        self.result = result
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.result


def throttled() -> CloudError:
    return CloudError("Throttling.User", "Request was denied due to user flow control.", http_status=400)


@pytest.fixture
def most(monkeypatch):
    """Each pause takes its upper bound, so the schedule is fixed."""
    monkeypatch.setattr(retries.random, "uniform", lambda low, high: high)


@pytest.mark.parametrize("code, status", [("Throttling", 400), ("Throttling.Api", 400), ("ServiceUnavailable", 503),
                                          ("InternalError", 500), ("SDK.HttpError", None), ("Whatever", 502)])
def test_throttling_server_errors_and_broken_connections_are_retried(code: str, status: int | None) -> None:
    assert is_retryable(CloudError(code, "m", http_status=status))


@pytest.mark.parametrize("code, status", [("InvalidParameter", 400), ("Forbidden.RAM", 403),
                                          ("InvalidSecurityToken.Expired", 400), ("InvalidInstance.NotFound", 404)])
def test_refusals_that_waiting_cannot_change_are_not_retried(code: str, status: int) -> None:
    assert not is_retryable(CloudError(code, "m", http_status=status))


def test_only_the_expired_token_code_asks_for_renewal() -> None:
    assert is_expired_token(CloudError("InvalidSecurityToken.Expired", "m"))
    assert not is_expired_token(CloudError("InvalidSecurityToken.Malformed", "m"))


def test_a_call_throttled_twice_succeeds_on_the_third_attempt(clock, most) -> None:
    call = Failing(throttled(), throttled())
    heard = []
    policy = RetryPolicy(budget=60, base=0.5, cap=10, sleep=clock.sleep, clock=clock)
    assert policy.run(call, on_retry=lambda error, attempt, pause: heard.append((error.code, attempt, pause))) == "done"
    assert call.calls == 3
    assert heard == [("Throttling.User", 1, 0.5), ("Throttling.User", 2, 1.0)]
    assert clock.sleeps == [0.5, 1.0]


def test_a_non_retryable_error_is_raised_at_once_without_a_pause(clock) -> None:
    call = Failing(CloudError("InvalidParameter", "bad"))
    with pytest.raises(CloudError, match="InvalidParameter"):
        RetryPolicy(budget=60, sleep=clock.sleep, clock=clock).run(call)
    assert (call.calls, clock.sleeps) == (1, [])


def test_no_retry_gives_up_on_the_first_throttling() -> None:
    call = Failing(throttled())
    with pytest.raises(CloudError):
        NO_RETRY.run(call)
    assert call.calls == 1


def test_the_budget_ends_the_retries_and_is_never_overslept(clock, most) -> None:
    call = Failing(*[throttled() for _unused in range(100)])
    with pytest.raises(CloudError, match="Throttling.User"):
        RetryPolicy(budget=30, base=0.5, cap=10, sleep=clock.sleep, clock=clock).run(call)
    # pauses 0.5, 1, 2, 4, 8, 10 (capped) = 25.5 s; the next 10 s pause would end past the 30 s budget
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0]
    assert call.calls == 7
    assert clock.now <= 30


def test_the_budget_counts_from_the_first_failure_not_from_the_start(clock, most) -> None:
    """A first attempt that took 100 s to fail (a slow answer) still leaves the whole budget for retries."""
    call = Failing(throttled(), throttled())

    def slow_first() -> str:
        if call.calls == 0:
            clock.now += 100.0
        return call()

    assert RetryPolicy(budget=4, base=1, cap=10, sleep=clock.sleep, clock=clock).run(slow_first) == "done"
    assert clock.sleeps == [1.0, 2.0]
    assert call.calls == 3


def test_give_up_is_asked_with_the_time_since_the_start_and_stops_the_call(clock, most) -> None:
    call = Failing(throttled(), throttled(), throttled())
    asked = []

    def give_up(error: CloudError, elapsed: float, pause: float) -> bool:
        asked.append((elapsed, pause))
        return elapsed + pause > 2

    with pytest.raises(CloudError):
        RetryPolicy(budget=60, base=1, cap=10, sleep=clock.sleep, clock=clock).run(call, give_up=give_up)
    assert asked == [(0.0, 1.0), (1.0, 2.0)]
    assert call.calls == 2


def test_a_long_failure_is_reported_every_ten_seconds_until_the_budget_ends(clock, most) -> None:
    call = Failing(*[throttled() for _unused in range(100)])
    reports = []
    with pytest.raises(CloudError):
        RetryPolicy(budget=40, base=8, cap=8, sleep=clock.sleep, clock=clock).run(
            call, on_wait=lambda error, failing: reports.append((error.code, failing)))
    assert reports == [("Throttling.User", 10.0), ("Throttling.User", 20.0), ("Throttling.User", 30.0),
                       ("Throttling.User", 40.0)]
    assert sum(clock.sleeps) == 40.0  # the pauses are sliced at the reports, never lengthened
    assert call.calls == 6


def test_within_keeps_the_clock_and_changes_only_the_budget(clock, most) -> None:
    short = RetryPolicy(budget=60, base=1, cap=10, sleep=clock.sleep, clock=clock).within(1.5)
    call = Failing(throttled(), throttled())
    with pytest.raises(CloudError):
        short.run(call)
    assert clock.sleeps == [1.0] and short.now() == 1.0


def test_the_pause_is_random_below_a_capped_exponential_limit() -> None:
    policy = RetryPolicy(base=0.5, cap=10)
    for attempt, limit in ((0, 0.5), (1, 1.0), (3, 4.0), (10, 10.0), (500, 10.0)):
        pauses = [policy.delay(attempt) for _unused in range(200)]
        assert all(0 <= pause <= limit for pause in pauses)
        assert max(pauses) > limit / 2  # spread over the range, not a fixed value
