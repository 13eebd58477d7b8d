"""Poll schedules and waiting, against a scripted clock."""

from __future__ import annotations

import itertools

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.engine import invocation
from ansible_collections.alicloud.ecs.plugins.module_utils.engine.invocation import PollSchedule


def take(schedule: PollSchedule, count: int) -> list[float]:
    return [round(delay, 4) for delay in itertools.islice(schedule.delays(), count)]


def test_default_schedule_looks_fast_then_backs_off_to_the_cap() -> None:
    assert take(PollSchedule(first=0.1, then=0.05, factor=2, cap=0.3), 5) == [0.1, 0.05, 0.1, 0.2, 0.3]


def test_a_command_nothing_is_known_about_is_looked_at_in_doubling_steps() -> None:
    assert take(PollSchedule(first=0.1, cap=2).unaimed(), 6) == [0.1, 0.2, 0.4, 0.8, 1.6, 2]


def test_aimed_schedule_looks_once_more_quickly_then_at_the_slow_mode_after_a_miss() -> None:
    schedule = PollSchedule(then=0.05, factor=2, cap=2).aimed_at(0.3, fallback=1.3)
    assert take(schedule, 5) == [0.3, 0.05, 0.95, 0.05, 0.1]
    assert take(PollSchedule().aimed_at(0.3, fallback=0.2), 2) == [0.3, 0.05]


class Results:
    """DescribeInvocationResults answering Running a given number of times, then Success."""

    def __init__(self, running: int) -> None:
        self.running = running
        self.calls = 0

    def call(self, action: str, **params):
        self.calls += 1
        status = "Running" if self.calls <= self.running else "Success"
        return {"Invocation": {"InvocationResults": {"InvocationResult": [
            {"InstanceId": "i-1", "InvocationStatus": status, "ExitCode": 0, "Output": ""}]}}}


def test_wait_reports_how_many_looks_and_when() -> None:
    now = [0.0]
    completion = invocation.wait_for_results(
        Results(running=2), "t-1", ["i-1"], deadline=10, schedule=PollSchedule(first=0.2, then=0.1, factor=1),
        clock=lambda: now[0], sleep=lambda seconds: now.__setitem__(0, now[0] + seconds))
    assert completion.polls == 3
    assert (completion.earliest, completion.latest) == (pytest.approx(0.3), pytest.approx(0.4))


def test_wait_past_the_deadline_stops_the_invocation_and_names_it() -> None:
    now = [0.0]
    results = Results(running=10**6)
    stopped = []
    original = results.call

    def call(action, **params):
        if action == "StopInvocation":
            stopped.append(params["InvokeId"])
            return {}
        return original(action, **params)

    results.call = call
    with pytest.raises(invocation.InvocationTimeout, match="t-9"):
        invocation.wait_for_results(results, "t-9", ["i-1"], deadline=1.0, schedule=PollSchedule(first=0.3),
                                    clock=lambda: now[0], sleep=lambda seconds: now.__setitem__(0, now[0] + seconds))
    assert stopped == ["t-9"]
