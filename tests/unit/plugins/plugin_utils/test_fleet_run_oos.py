"""The OOS engine of a fleet run and FleetRun over it, against a fake OOS: calls per run, the error threshold across
batches, results of every kind of instance, re-attaching by ClientToken, wait: false, interrupts."""

from __future__ import annotations

import itertools
import json
import typing as t

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.engine import interrupts
from ansible_collections.alicloud.ecs.plugins.module_utils.services import oos_fleet
from ansible_collections.alicloud.ecs.plugins.module_utils.services.fleet import (
    PlanError, Target, check_engine, host_outcome, summarize,
)
from ansible_collections.alicloud.ecs.plugins.plugin_utils.fleet_run import FleetRun, OosEngine


class FakeOos:
    """Executions end on the second look; ``fail`` instances exit 3, ``stopped`` ones are never selected. The
    template's MaxErrors is applied in instance order: items after the threshold are never created."""

    def __init__(self, fail: t.Iterable[str] = (), stopped: t.Iterable[str] = ()) -> None:
        self.fail, self.stopped = set(fail), set(stopped)
        self.calls: list[tuple[str, dict]] = []
        self.executions: dict[str, dict] = {}
        self.tokens: dict[str, str] = {}
        self.ids = itertools.count(1)

    def count(self, action: str) -> int:
        return sum(1 for name, _params in self.calls if name == action)

    def call(self, action: str, **params: t.Any) -> dict:
        self.calls.append((action, params))
        return getattr(self, action)(**params)

    def StartExecution(self, **params: t.Any) -> dict:  # noqa: N802 (the API's names)
        token = params["ClientToken"]
        if token not in self.tokens:
            exec_id = f"exec-{next(self.ids)}"
            self.tokens[token] = exec_id
            self.executions[exec_id] = {"params": json.loads(str(params["Parameters"])), "looks": 0,
                                        "cancelled": False}
        return {"Execution": {"ExecutionId": self.tokens[token]}}

    def ListExecutions(self, ExecutionId: str, **_params: t.Any) -> dict:  # noqa: N802,N803
        record = self.executions[ExecutionId]
        record["looks"] += 1
        ended = record["looks"] >= 2 or record["cancelled"]
        return {"Executions": [{"ExecutionId": ExecutionId, "Status": "Success" if ended else "Running",
                                "Counters": {"Total": 0}, "CurrentTasks": [] if ended else [{"TaskName": "runCommand"}]}]}

    def CancelExecution(self, ExecutionId: str, **_params: t.Any) -> dict:  # noqa: N802,N803
        self.executions[ExecutionId]["cancelled"] = True
        return {}

    def _items(self, exec_id: str) -> list[dict]:
        params = self.executions[exec_id]["params"]
        max_errors = params["rateControl"]["MaxErrors"]
        selected = [iid for iid in params["targets"]["ResourceIds"] if iid not in self.stopped]
        tasks = [{"TaskName": "getInstance", "LoopItem": "", "Status": "Success",
                  "Outputs": json.dumps({"instanceIds": selected})}]
        failed = 0
        for iid in selected:
            if failed > max_errors:
                break
            bad = iid in self.fail
            failed += bad
            tasks.append({"TaskName": "runCommand", "LoopItem": iid, "Status": "Failed" if bad else "Success",
                          "StatusMessage": "ExitCodeNonzero: exit 3" if bad else "",
                          "Outputs": json.dumps({"invocationOutput": f"out {iid}"})})
        return tasks

    def ListTaskExecutions(self, ExecutionId: str, MaxResults: int, NextToken: str | None = None,  # noqa: N802,N803
                           **_params: t.Any) -> dict:
        tasks = self._items(ExecutionId)
        start = int(NextToken or 0)
        more = start + MaxResults < len(tasks)
        return {"TaskExecutions": tasks[start:start + MaxResults], "NextToken": str(start + MaxResults) if more else ""}

    def DescribeInvocations(self, CommandName: str, **_params: t.Any) -> dict:  # noqa: N802,N803
        failed = [task["LoopItem"] for task in self._items(CommandName) if task["Status"] == "Failed"]
        return {"Invocations": {"Invocation": [
            {"InvokeId": f"t-{iid}", "InvokeInstances": {"InvokeInstance": [
                {"InstanceId": iid, "InvocationStatus": "Failed", "ExitCode": 3, "ErrorCode": "ExitCodeNonzero",
                 "ErrorInfo": "the command exited 3"}]}} for iid in failed]}, "NextToken": ""}

    def DescribeInstances(self, InstanceIds: t.Any, **_params: t.Any) -> dict:  # noqa: N802,N803
        wanted = json.loads(str(InstanceIds))
        return {"Instances": {"Instance": [{"InstanceId": iid, "Status": "Stopped"} for iid in wanted]},
                "TotalCount": len(wanted)}


def fleet(count: int, regions: t.Sequence[str] = ("cn-hangzhou",)) -> list[Target]:
    return [Target(f"h{index}", f"i-{index}", regions[index % len(regions)]) for index in range(count)]


ARGS = {"command_type": "RunShellScript", "timeout": 60, "username": None, "working_dir": None, "read_output": True,
        "engine": "oos", "wait": True, "oos_assume_role": None, "oos_run_label": None, "pause": "none",
        "pause_continue": False, "health_check": None, "rollback": None}


def run(cloud: FakeOos, targets: list[Target], sizes: list[int], concurrency: int, max_errors: int,
        **args: t.Any) -> tuple[dict, dict]:
    engine = OosEngine(lambda region: cloud, {**ARGS, **args}, "seed")
    plan = {"content": "echo", "targets": targets, "sizes": sizes, "concurrency": concurrency,
            "max_errors": max_errors}
    return FleetRun(engine, {**ARGS, **args}, plan).execute()


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(oos_fleet.time, "sleep", lambda seconds: None)


def test_a_thousand_instances_cost_a_handful_of_calls_with_the_same_results_shape() -> None:
    cloud = FakeOos(fail={"i-5", "i-17", "i-300"})
    results, summary = run(cloud, fleet(1000), [1000], 100, 2)
    assert cloud.count("StartExecution") == 1
    params = cloud.executions["exec-1"]["params"]
    assert params["rateControl"] == {"Mode": "Concurrency", "Concurrency": 100, "MaxErrors": 2}
    assert params["commandContent"] == "echo" and params["targets"]["Type"] == "ResourceIds"
    assert len(cloud.calls) <= 20, [name for name, _params in cloud.calls]
    assert summary["counts"] == {"Success": 298, "Failed": 3, "Skipped": 699}  # none after the third failure
    assert summary["invoke_ids"] == ["exec-1"] and summary["stopped"].startswith("3 instance(s) failed")
    assert results["h5"]["exit_code"] == 3 and results["h5"]["error_code"] == "ExitCodeNonzero"
    assert results["h6"] == {**results["h6"], "status": "Success", "exit_code": 0, "output": "out i-6",
                             "invoke_id": "exec-1", "batch": 1}
    assert set(results["h6"]) == {"status", "exit_code", "output", "dropped", "error_code", "error_info",
                                  "invoke_id", "instance_id", "region", "batch", "health_check", "rollback"}


def test_the_error_budget_spans_batches_and_later_batches_are_skipped() -> None:
    cloud = FakeOos(fail={"i-1", "i-12"})
    results, summary = run(cloud, fleet(30), [10, 10, 10], 5, 1)
    assert cloud.count("StartExecution") == 2  # the second batch passed the threshold, the third never started
    second = [params for name, params in cloud.calls if name == "StartExecution"][1]
    assert json.loads(str(second["Parameters"]))["rateControl"]["MaxErrors"] == 0  # one of one already spent
    assert summary["batches_done"] == 1 and results["h25"]["status"] == "Skipped"
    assert results["h12"]["status"] == "Failed" and results["h12"]["batch"] == 2


def test_instances_the_template_does_not_select_are_not_runnable() -> None:
    cloud = FakeOos(stopped={"i-2"})
    results, summary = run(cloud, fleet(4), [4], 4, 1)
    assert results["h2"]["status"] == "NotRunnable" and "i-2 is Stopped" in results["h2"]["error_info"]
    assert summary["failed"] == ["h2"] and not summary["stopped"]


def test_one_execution_per_region_with_the_concurrency_shared_out() -> None:
    cloud = FakeOos()
    run(cloud, fleet(40, ("cn-hangzhou", "cn-shanghai")), [40], 10, 0)
    rates = [json.loads(str(params["Parameters"]))["rateControl"]["Concurrency"]
             for name, params in cloud.calls if name == "StartExecution"]
    assert rates == [5, 5]


def test_running_the_same_task_again_attaches_to_the_same_execution() -> None:
    cloud = FakeOos()
    first, _summary = run(cloud, fleet(5), [5], 5, 0)
    again, summary = run(cloud, fleet(5), [5], 5, 0)
    assert len(cloud.executions) == 1 and summary["invoke_ids"] == ["exec-1"]
    assert again == first


def test_another_run_key_starts_a_new_execution() -> None:
    cloud = FakeOos()
    engine = OosEngine(lambda region: cloud, ARGS, "seed-a")
    other = OosEngine(lambda region: cloud, ARGS, "seed-b")
    plan = {"content": "echo", "targets": fleet(2), "sizes": [2], "concurrency": 2, "max_errors": 0}
    FleetRun(engine, ARGS, plan).execute()
    FleetRun(other, ARGS, plan).execute()
    assert len(cloud.executions) == 2


def test_wait_false_returns_pending_hosts_at_once() -> None:
    cloud = FakeOos()
    results, summary = run(cloud, fleet(3), [3], 3, 0, wait=False)
    assert cloud.count("ListExecutions") == 0 and summary["pending"] == ["h0", "h1", "h2"]
    outcome = host_outcome(results["h1"], summary, True)
    assert outcome["failed"] is False and "exec-1" in outcome["msg"] and outcome["changed"]
    assert summarize(results, ["exec-1"], 1, 0)["failed"] == []


def test_health_check_and_rollback_run_as_executions_too() -> None:
    cloud = FakeOos(fail={"i-1"})
    results, summary = run(cloud, fleet(4), [2, 2], 2, 0, rollback="undo")
    assert summary["stopped"] and results["h1"]["rollback"]["status"] == "Failed"
    assert results["h0"]["rollback"]["status"] == "Success"
    assert cloud.count("StartExecution") == 2  # batch 1 and the rollback of batch 1; batch 2 never started


def test_an_interrupt_cancels_the_running_execution(monkeypatch: pytest.MonkeyPatch) -> None:
    cloud = FakeOos()

    class Client:
        region = "cn-hangzhou"

        def for_region(self, region: str) -> FakeOos:
            return cloud

        def call(self, action: str, **params: t.Any) -> dict:
            return cloud.call(action, **params)

    phase = oos_fleet.OosPhase(lambda region: Client(), oos_fleet.OosSpec("sleep 100"), "main", "seed")
    phase.start(fleet(3), 1, 3, 0)
    lines = interrupts.stop_all("SIGINT")
    assert lines == ["alicloud.ecs: SIGINT: cancelled execution exec-1 (main on 3 instance(s) in cn-hangzhou)"]
    assert cloud.executions["exec-1"]["cancelled"]
    phase.close()


def test_options_the_engines_cannot_honour_are_refused_before_any_call() -> None:
    with pytest.raises(PlanError, match="wait: false needs engine: oos"):
        check_engine({"engine": "controller", "wait": False})
    with pytest.raises(PlanError, match="oos_assume_role applies to engine: oos only"):
        check_engine({"engine": "controller", "wait": True, "oos_assume_role": "OOSRole"})
    with pytest.raises(PlanError, match="cannot take batch"):
        check_engine({"engine": "oos", "wait": False, "batch": 2})
    with pytest.raises(ValueError, match="at most 16384"):
        oos_fleet.check_content("x" * 16385)


def test_assume_role_goes_to_the_template() -> None:
    cloud = FakeOos()
    run(cloud, fleet(1), [1], 1, 0, oos_assume_role="OOSServiceRole")
    assert cloud.executions["exec-1"]["params"]["OOSAssumeRole"] == "OOSServiceRole"
