"""Planning rules of fleet runs: amounts, batches, the error threshold, concurrency, results."""

from __future__ import annotations

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.services.fleet import (
    ErrorBudget, PlanError, Rollout, Target, check_pause, compact_summary, host_outcome, host_result,
    run_command_groups, parse_amount, pause_after, plan_batches, split_batches, summarize,
)


def targets(count: int, region: str = "cn-hangzhou") -> list[Target]:
    return [Target(f"h{index}", f"i-{index}", region) for index in range(count)]


@pytest.mark.parametrize(("value", "total", "minimum", "expected"), [
    (5, 100, 0, 5), ("5", 100, 0, 5), ("10%", 15, 0, 1), ("10%", 9, 0, 0), ("10%", 9, 1, 1),
    ("100%", 1000, 1, 1000), ("0", 10, 0, 0), ("33.5%", 200, 0, 67),
])
def test_amounts_round_percentages_down(value, total, minimum, expected) -> None:
    assert parse_amount(value, total, "max_errors", minimum) == expected


@pytest.mark.parametrize("value", ["ten", "-1", "120%", "-5%", "1.5"])
def test_bad_amounts_name_the_option(value) -> None:
    with pytest.raises(PlanError, match="concurrency"):
        parse_amount(value, 10, "concurrency")


def test_batch_count_splits_evenly_larger_first() -> None:
    assert plan_batches(10, batch=3) == [4, 3, 3]
    assert plan_batches(2, batch=5) == [1, 1]
    assert plan_batches(20) == [20]
    assert plan_batches(0, batch=3) == []


def test_batch_sizes_repeat_the_last_and_take_percentages() -> None:
    assert plan_batches(10, batch_size=4) == [4, 4, 2]
    assert plan_batches(20, batch_size=[1, "25%"]) == [1, 5, 5, 5, 4]
    assert plan_batches(3, batch_size="1%") == [1, 1, 1]


def test_batch_options_are_checked() -> None:
    with pytest.raises(PlanError, match="mutually exclusive"):
        plan_batches(10, batch=2, batch_size=3)
    with pytest.raises(PlanError, match="batch must be at least 1"):
        plan_batches(10, batch=0)
    with pytest.raises(PlanError, match="empty"):
        plan_batches(10, batch_size=[])


def test_split_and_run_command_groups_keep_order_region_and_the_100_limit() -> None:
    fleet = targets(250) + targets(30, "cn-shanghai")
    batches = split_batches(fleet, [200, 80])
    assert [len(batch) for batch in batches] == [200, 80]
    groups = run_command_groups(fleet)
    assert [len(group) for group in groups] == [100, 100, 50, 30]
    assert all(len({item.region for item in group}) == 1 for group in groups)


def test_error_budget_stops_only_when_failures_exceed_max_errors() -> None:
    budget = ErrorBudget(2)
    budget.record("a")
    budget.record("b")
    assert not budget.exceeded
    budget.record("c")
    assert budget.exceeded
    assert ErrorBudget(0).exceeded is False


def test_rollout_respects_concurrency_and_stops_launching_past_the_threshold() -> None:
    budget = ErrorBudget(1)
    rollout = Rollout(targets(6), 2, budget)
    assert [item.host for item in rollout.take()] == ["h0", "h1"]
    assert rollout.take() == []
    rollout.finish("h0", succeeded=False)
    assert [item.host for item in rollout.take()] == ["h2"]
    rollout.finish("h1", succeeded=False)  # second failure: 2 > 1
    assert rollout.take() == []
    assert not rollout.done  # h2 still running
    rollout.finish("h2", succeeded=True)
    assert rollout.done
    assert [item.host for item in rollout.skipped()] == ["h3", "h4", "h5"]


def test_summary_lists_hosts_by_outcome() -> None:
    fleet = targets(4)
    results = {
        "h0": host_result(fleet[0], 1, "Success", exit_code=0),
        "h1": host_result(fleet[1], 1, "Failed", exit_code=3),
        "h2": host_result(fleet[2], 2, "HealthCheckFailed", exit_code=0),
        "h3": host_result(fleet[3], 2),
    }
    results["h1"]["rollback"] = {"status": "Success"}
    summary = summarize(results, ["t-1"], batches=2, batches_done=1, stopped="why")
    assert summary["counts"] == {"Success": 1, "Failed": 1, "HealthCheckFailed": 1, "Skipped": 1}
    assert summary["succeeded"] == ["h0"]
    assert summary["failed"] == ["h1", "h2"]
    assert summary["skipped"] == ["h3"]
    assert summary["rolled_back"] == ["h1"]
    assert (summary["batches"], summary["batches_done"], summary["stopped"]) == (2, 1, "why")


def test_pause_points() -> None:
    assert [pause_after("first", index, 3) for index in range(3)] == [True, False, False]
    assert [pause_after("every", index, 3) for index in range(3)] == [True, True, False]
    assert [pause_after("none", index, 3) for index in range(3)] == [False, False, False]
    with pytest.raises(PlanError, match="pause"):
        check_pause("sometimes")


def per_host_result(status: str, **details) -> dict:
    return host_result(Target("web-1", "i-1", "cn-hangzhou"), 1, status, **details)


SUMMARY = {"counts": {"Success": 1}, "batches": 1, "batches_done": 1, "stopped": "", "succeeded": ["web-1"]}


def test_a_host_that_succeeded_is_changed_with_its_own_output() -> None:
    outcome = host_outcome(per_host_result("Success", exit_code=0, output="a\nb\n", invoke_id="t-1"),
                           compact_summary(SUMMARY), True)
    assert (outcome["changed"], outcome["rc"], outcome["stdout_lines"]) == (True, 0, ["a", "b"])
    assert "failed" not in outcome and outcome["summary"] == {"counts": {"Success": 1}, "batches": 1,
                                                              "batches_done": 1, "stopped": ""}


@pytest.mark.parametrize(("status", "details", "message"), [
    ("Failed", {"exit_code": 3, "error_code": "ExitCodeNonzero", "invoke_id": "t-1"},
     "the command exited 3 on instance i-1"),
    ("NotRunnable", {"error_code": "InvalidInstance.NotMatch", "error_info": "instance i-1 is Stopped"},
     "instance i-1 is Stopped: RunCommand refused it (InvalidInstance.NotMatch)"),
    ("Aborted", {"error_code": "ClientNotResponse", "error_info": "no heartbeat", "invoke_id": "t-1"},
     "the Cloud Assistant agent of instance i-1 did not take the command (ClientNotResponse: no heartbeat)"),
    ("Timeout", {"invoke_id": "t-1"}, "the command timed out on instance i-1"),
])
def test_a_host_that_did_not_succeed_fails_with_the_cause_in_plain_words(status, details, message) -> None:
    outcome = host_outcome(per_host_result(status, **details), SUMMARY, True)
    assert outcome["failed"] and outcome["msg"] == message
    assert outcome["changed"] == (status != "NotRunnable")


def test_a_host_never_started_fails_unless_fail_when_stopped_is_false() -> None:
    summary = {**SUMMARY, "stopped": "the health check of batch 1 failed on web-2"}
    assert host_outcome(per_host_result("Skipped"), summary, True)["failed"]
    skipped = host_outcome(per_host_result("Skipped"), summary, False)
    assert skipped["skipped"] and "failed" not in skipped and not skipped["changed"]
    assert skipped["msg"].endswith("the run stopped: the health check of batch 1 failed on web-2")
