"""The API side of fleet runs against a fake Cloud Assistant: call counts, refills, outputs, deadlines."""

from __future__ import annotations

import itertools
import json
import typing as t

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.api.errors import CloudError, ConfigError
from ansible_collections.alicloud.ecs.plugins.module_utils.services.fleet import ErrorBudget, Target, cause
from ansible_collections.alicloud.ecs.plugins.plugin_utils import fleet_runner
from ansible_collections.alicloud.ecs.plugins.plugin_utils.fleet_runner import CommandSpec, Phase, run_all, run_rollout


class FakeCloud:
    """Instances end on the poll after their launch; ``fail`` ones exit 1, ``hang`` ones never end."""

    def __init__(self, fail: t.Iterable[str] = (), hang: t.Iterable[str] = (),
                 stopped: t.Iterable[str] = ()) -> None:
        self.fail, self.hang, self.stopped = set(fail), set(hang), set(stopped)
        self.calls: list[tuple[str, dict]] = []
        self.invocations: dict[str, dict] = {}
        self.ids = itertools.count(1)

    def call(self, action: str, **params: t.Any) -> dict:
        self.calls.append((action, params))
        if action == "DescribeInstances":
            wanted = json.loads(str(params["InstanceIds"]))
            return {"Instances": {"Instance": [{"InstanceId": iid, "Status": "Stopped" if iid in self.stopped else "Running"}
                                               for iid in wanted if iid != "i-gone"]}, "TotalCount": 0}
        if action == "RunCommand":
            if self.stopped.intersection(params["InstanceId"]) or "i-gone" in params["InstanceId"]:
                raise CloudError("InvalidInstance.NotMatch", "The specified instance type does not match the command.")
            invoke_id = f"t-{next(self.ids)}"
            self.invocations[invoke_id] = {"name": params["Name"], "ids": params["InstanceId"], "polled": False}
            return {"InvokeId": invoke_id}
        if action == "StopInvocation":
            self.hang.clear()
            return {}
        assert action == "DescribeInvocations"
        if params.get("InvokeId"):
            return {"Invocations": {"Invocation": [self.render(params["InvokeId"], output=True)]}}
        found = [self.render(key) for key, item in self.invocations.items() if item["name"] == params["CommandName"]]
        for key in self.invocations:
            self.invocations[key]["polled"] = True
        return {"Invocations": {"Invocation": found}, "NextToken": ""}

    def render(self, invoke_id: str, output: bool = False) -> dict:
        item = self.invocations[invoke_id]

        def status(iid: str) -> str:
            if not item["polled"] or iid in self.hang:
                return "Running"
            return "Failed" if iid in self.fail else "Success"
        return {"InvokeId": invoke_id, "InvokeInstances": {"InvokeInstance": [
            {"InstanceId": iid, "InvocationStatus": status(iid), "ExitCode": int(iid in self.fail),
             **({"Output": f"out {iid}"} if output else {})} for iid in item["ids"]]}}

    def count(self, action: str) -> int:
        return sum(1 for name, _params in self.calls if name == action)


def fleet(count: int) -> list[Target]:
    return [Target(f"h{index}", f"i-{index}", "cn-hangzhou" if index % 2 else "cn-shanghai") for index in range(count)]


def test_a_large_run_costs_launches_plus_polls_plus_one_read_per_invocation() -> None:
    cloud = FakeCloud()
    phase = Phase(lambda region: cloud, CommandSpec("echo"), "run-1")
    run_rollout(phase, fleet(250), 1, 250, ErrorBudget(0), sleep=lambda seconds: None)
    assert cloud.count("RunCommand") == 4  # 125 per region → 100 + 25 twice
    assert all(len(params["InstanceId"]) <= 100 for name, params in cloud.calls if name == "RunCommand")
    reads = [params for name, params in cloud.calls if name == "DescribeInvocations" and params.get("InvokeId")]
    assert len(reads) == 4
    assert cloud.count("DescribeInvocations") - len(reads) <= 4  # two regions, two polls each
    assert phase.results["h7"]["status"] == "Success" and phase.results["h7"]["output"] == "out i-7"
    assert phase.results["h7"]["batch"] == 1


def test_concurrency_refills_freed_slots_and_the_threshold_stops_launching() -> None:
    cloud = FakeCloud(fail={"i-0", "i-2"})
    phase = Phase(lambda region: cloud, CommandSpec("echo"), "run-2")
    budget = ErrorBudget(1)
    targets = [Target(f"h{index}", f"i-{index}", "cn-hangzhou") for index in range(10)]
    run_rollout(phase, targets, 1, 2, budget, sleep=lambda seconds: None)
    launched = [params["InstanceId"] for name, params in cloud.calls if name == "RunCommand"]
    assert launched == [["i-0", "i-1"], ["i-2", "i-3"]]
    assert budget.exceeded and budget.failed == {"h0", "h2"}
    assert set(phase.results) == {"h0", "h1", "h2", "h3"}


def test_an_invocation_past_its_deadline_is_stopped_once(monkeypatch) -> None:
    monkeypatch.setattr(fleet_runner, "DEADLINE_GRACE", 0)
    now = iter(range(0, 1000, 20))
    cloud = FakeCloud(hang={"i-1"})
    phase = Phase(lambda region: cloud, CommandSpec("sleep 99", timeout=10), "run-3", clock=lambda: next(now))
    run_all(phase, fleet(2), 1, sleep=lambda seconds: None)
    assert cloud.count("StopInvocation") == 1
    assert phase.finished


class StubbornCloud(FakeCloud):
    """Its agents ignore StopInvocation: the hanging instances never end."""

    def call(self, action: str, **params: t.Any) -> dict:
        if action == "StopInvocation":
            self.calls.append((action, params))
            return {}
        return super().call(action, **params)


def test_instances_not_ended_after_the_stop_are_given_up_naming_them(monkeypatch) -> None:
    monkeypatch.setattr(fleet_runner, "DEADLINE_GRACE", 0)
    monkeypatch.setenv("ANSIBLE_ALICLOUD_STOP_WAIT", "30")
    now = iter(range(0, 1000, 20))
    cloud = StubbornCloud(hang={"i-1", "i-3"})
    phase = Phase(lambda region: cloud, CommandSpec("sleep 99", timeout=10), "run-3", clock=lambda: next(now))
    budget = ErrorBudget(5)
    run_rollout(phase, fleet(4), 1, 4, budget, sleep=lambda seconds: None)
    # i-1 and i-3 share cn-hangzhou's invocation: it is stopped once; cn-shanghai's ended in time.
    assert phase.finished and cloud.count("StopInvocation") == 1
    assert {host: item["status"] for host, item in phase.results.items()} == {
        "h0": "Success", "h1": "NotStopped", "h2": "Success", "h3": "NotStopped"}
    assert budget.failed == {"h1", "h3"}
    stuck = phase.results["h1"]
    assert stuck["error_info"].startswith(f"still Running 30 s after StopInvocation of {stuck['invoke_id']}")
    assert cause(stuck).startswith("the command passed its deadline on instance i-1 and was stopped, but it was "
                                   "still Running 30 s after StopInvocation")
    assert phase.results["h0"]["output"] == "out i-0" and stuck["output"] == ""


def test_a_bad_stop_wait_is_refused_naming_the_variable(monkeypatch) -> None:
    monkeypatch.setenv("ANSIBLE_ALICLOUD_STOP_WAIT", "-1")
    with pytest.raises(ConfigError, match="ANSIBLE_ALICLOUD_STOP_WAIT must be a number of seconds"):
        Phase(lambda region: FakeCloud(), CommandSpec("echo"), "run-4")


def test_a_refused_run_command_sets_the_unrunnable_instances_aside_and_runs_the_rest() -> None:
    cloud = FakeCloud(stopped={"i-2"})
    phase = Phase(lambda region: cloud, CommandSpec("echo"), "run-4")
    budget = ErrorBudget(5)
    targets = [Target(f"h{index}", f"i-{index}", "cn-hangzhou") for index in range(4)] + [
        Target("gone", "i-gone", "cn-hangzhou")]
    run_rollout(phase, targets, 1, 10, budget, sleep=lambda seconds: None)
    launched = [params["InstanceId"] for name, params in cloud.calls if name == "RunCommand"]
    assert launched == [["i-0", "i-1", "i-2", "i-3", "i-gone"], ["i-0", "i-1", "i-3"]]
    assert phase.results["h2"]["status"] == "NotRunnable"
    assert phase.results["h2"]["error_info"] == "instance i-2 is Stopped"
    assert phase.results["gone"]["error_info"] == "instance i-gone does not exist in region cn-hangzhou"
    assert phase.results["h3"]["status"] == "Success"
    assert budget.failed == {"h2", "gone"}


def test_without_reading_output_a_run_costs_launches_and_polls_only() -> None:
    cloud = FakeCloud(fail={"i-3"})
    phase = Phase(lambda region: cloud, CommandSpec("echo", read_output=False), "run-5")
    run_rollout(phase, fleet(250), 1, 250, ErrorBudget(5), sleep=lambda seconds: None)
    assert cloud.count("RunCommand") == 4
    assert not [params for name, params in cloud.calls if name == "DescribeInvocations" and params.get("InvokeId")]
    assert phase.finished
    assert (phase.results["h3"]["status"], phase.results["h3"]["exit_code"], phase.results["h3"]["output"]) == (
        "Failed", 1, "")
