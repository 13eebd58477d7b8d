"""The Cloud Assistant agent helpers of assistant_info and assistant_install, against a fake ECS that keeps the
API's per-call limits (refusing a call over them) and pages the way the API documents: the status read in
batches, the install plan from reads alone, installs in batches, and the wait for agents with its deadline."""

from __future__ import annotations

import json
import typing as t

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.api.errors import CloudError
from ansible_collections.alicloud.ecs.plugins.module_utils.services.assistant_agent import (
    batches, describe_agents, install_agents, instance_id_list, plan_install, reboot_instances, wait_online,
)


class FakeEcs:
    """Instances (id → status) with agents (id → online); records every call as (action, params)."""

    def __init__(self, instances: dict[str, str], online: t.Iterable[str] = (), os_type: str = "Linux") -> None:
        self.instances = dict(instances)
        self.online = set(online)
        self.os_type = os_type
        self.calls: list[tuple[str, dict[str, t.Any]]] = []
        self.come_online_after: dict[str, int] = {}  # id -> status reads before its agent answers

    def call(self, action: str, **params: t.Any) -> dict[str, t.Any]:
        self.calls.append((action, params))
        return getattr(self, action)(**params)

    def actions(self) -> list[str]:
        return [action for action, _params in self.calls]

    def DescribeInstances(self, InstanceIds: t.Any, MaxResults: int, NextToken: str | None) -> dict[str, t.Any]:
        wanted = json.loads(str(InstanceIds))
        if len(wanted) > 100:
            raise CloudError("InvalidParameter", "InstanceIds takes at most 100")
        found = [{"InstanceId": iid, "Status": self.instances[iid]} for iid in wanted if iid in self.instances]
        return {"Instances": {"Instance": found}, "NextToken": ""}

    def _status(self, iid: str) -> dict[str, t.Any]:
        reads = self.come_online_after.get(iid)
        if reads is not None:
            self.come_online_after[iid] = reads - 1
            if reads <= 1:
                self.online.add(iid)
        return {"InstanceId": iid, "CloudAssistantStatus": "true" if iid in self.online else "false",
                "CloudAssistantVersion": "2.2.3.1" if iid in self.online else "", "OSType": self.os_type,
                "ActiveTaskCount": "2", "InvocationCount": 7, "SupportSessionManager": True}

    def DescribeCloudAssistantStatus(self, OSType: str | None, InstanceId: list[str] | None = None,
                                     PageNumber: int | None = None, PageSize: int | None = None,
                                     MaxResults: int | None = None, NextToken: str | None = None) -> dict[str, t.Any]:
        if (PageSize or MaxResults or 0) > 50:
            raise CloudError("InvalidParameter", "at most 50 per page")
        if InstanceId is not None:
            unknown = [iid for iid in InstanceId if iid not in self.instances]
            if unknown:
                raise CloudError("InvalidInstance.NotFound", f"{unknown}")
            start = (PageNumber - 1) * PageSize
            page = InstanceId[start:start + PageSize]
            return {"InstanceCloudAssistantStatusSet": {"InstanceCloudAssistantStatus": [
                self._status(iid) for iid in page]}, "TotalCount": len(InstanceId)}
        every = sorted(self.instances)
        start = int(NextToken or 0)
        page = every[start:start + MaxResults]
        more = start + MaxResults < len(every)
        return {"InstanceCloudAssistantStatusSet": {"InstanceCloudAssistantStatus": [
            self._status(iid) for iid in page]}, "NextToken": str(start + MaxResults) if more else ""}

    def InstallCloudAssistant(self, InstanceId: list[str]) -> dict[str, t.Any]:
        if len(InstanceId) > 50:
            raise CloudError("InvalidParameter", "InstanceId.N takes at most 50")
        return {}

    def RebootInstance(self, InstanceId: str) -> dict[str, t.Any]:
        return {}


def ids(count: int, prefix: str = "i-") -> list[str]:
    return [f"{prefix}{number:04d}" for number in range(count)]


def test_instance_ids_are_checked_before_any_call_and_kept_in_order_without_repeats() -> None:
    assert instance_id_list([" i-2", "i-1", "i-2 "]) == ["i-2", "i-1"]
    assert instance_id_list([]) == []
    with pytest.raises(ValueError, match="^instance_ids must be a list of instance ids$"):
        instance_id_list("i-1")
    with pytest.raises(ValueError, match="targets must hold non-empty instance id strings, got ' '"):
        instance_id_list(["i-1", " "], option="targets")
    with pytest.raises(ValueError, match="instance_ids must name at least one instance"):
        instance_id_list([], required=True)


def test_batches_cut_at_the_limit_and_keep_the_order() -> None:
    assert list(batches(ids(5), 2)) == [ids(5)[0:2], ids(5)[2:4], ids(5)[4:5]]
    assert list(batches([], 50)) == []


def test_the_status_of_many_instances_is_read_in_batches_of_fifty_by_page_number() -> None:
    fleet = ids(120)
    ecs = FakeEcs({iid: "Running" for iid in fleet}, online=fleet[::2])
    agents = describe_agents(ecs, fleet)
    assert [agent["instance_id"] for agent in agents] == fleet
    assert [len(params["InstanceId"]) for _action, params in ecs.calls] == [50, 50, 20]
    assert all(params["PageNumber"] == 1 and params["PageSize"] == 50 for _action, params in ecs.calls)
    assert agents[0] == {"instance_id": "i-0000", "online": True, "version": "2.2.3.1", "os_type": "Linux",
                         "last_heartbeat_time": "", "last_invoked_time": "", "active_task_count": 2,
                         "invocation_count": 7, "support_session_manager": True}
    assert agents[1]["online"] is False and agents[1]["version"] == ""


def test_without_ids_every_agent_of_the_region_is_read_by_next_token_for_one_os_type() -> None:
    ecs = FakeEcs({iid: "Running" for iid in ids(70)}, os_type="Windows")
    agents = describe_agents(ecs, os_type="Windows")
    assert len(agents) == 70 and {agent["os_type"] for agent in agents} == {"Windows"}
    assert [(params["NextToken"], params["OSType"]) for _action, params in ecs.calls] == [
        (None, "Windows"), ("50", "Windows")]


def test_the_install_plan_sorts_instances_by_what_they_need() -> None:
    ecs = FakeEcs({"i-on": "Running", "i-off": "Running", "i-stopped": "Stopped", "i-on-stopped": "Stopped"},
                  online=["i-on", "i-on-stopped"])
    plan = plan_install(ecs, ["i-on", "i-off", "i-stopped", "i-on-stopped"])
    assert (plan.need, plan.online, plan.not_running, plan.missing) == (
        ["i-off"], ["i-on", "i-on-stopped"], {"i-stopped": "Stopped"}, [])
    assert plan.problem() == ("the agent can only be installed on Running instances; start these first: "
                              "i-stopped (Stopped)")
    assert "InstallCloudAssistant" not in ecs.actions()  # planning only reads


def test_unknown_instances_end_the_plan_before_the_status_read_that_would_fail_on_them() -> None:
    ecs = FakeEcs({"i-1": "Running"})
    plan = plan_install(ecs, ["i-1", "i-gone", "i-typo"])
    assert plan.missing == ["i-gone", "i-typo"]
    assert plan.problem() == "instances not found in the region: i-gone, i-typo"
    assert ecs.actions() == ["DescribeInstances"]


def test_the_plan_reads_instances_in_batches_of_one_hundred() -> None:
    fleet = ids(250)
    ecs = FakeEcs({iid: "Running" for iid in fleet})
    plan = plan_install(ecs, fleet)
    assert plan.need == fleet and plan.problem() == ""
    described = [params for action, params in ecs.calls if action == "DescribeInstances"]
    assert [len(str(params["InstanceIds"]).split(",")) for params in described] == [100, 100, 50]


def test_installs_go_in_batches_of_fifty_and_each_instance_is_rebooted() -> None:
    fleet = ids(120)
    ecs = FakeEcs({iid: "Running" for iid in fleet})
    install_agents(ecs, fleet)
    reboot_instances(ecs, fleet[:3])
    installs = [params["InstanceId"] for action, params in ecs.calls if action == "InstallCloudAssistant"]
    assert [len(batch) for batch in installs] == [50, 50, 20] and sum(installs, []) == fleet
    assert [params for action, params in ecs.calls if action == "RebootInstance"] == [
        {"InstanceId": iid} for iid in fleet[:3]]


def test_the_wait_polls_only_the_agents_still_offline_with_a_growing_interval(clock) -> None:
    ecs = FakeEcs({"i-fast": "Running", "i-slow": "Running"})
    ecs.come_online_after = {"i-fast": 1, "i-slow": 4}
    assert wait_online(ecs, ["i-fast", "i-slow"], timeout=60, sleep=clock.sleep, clock=clock) == []
    assert clock.sleeps == [1.0, 2.0, 4.0]
    polled = [params["InstanceId"] for action, params in ecs.calls]
    assert polled == [["i-fast", "i-slow"], ["i-slow"], ["i-slow"], ["i-slow"]]


def test_the_wait_ends_at_its_timeout_and_returns_the_agents_still_offline(clock) -> None:
    ecs = FakeEcs({"i-1": "Running", "i-never": "Running"}, online=["i-1"])
    assert wait_online(ecs, ["i-1", "i-never"], timeout=10, sleep=clock.sleep, clock=clock) == ["i-never"]
    assert clock.sleeps == [1.0, 2.0, 4.0, 3.0]  # the last pause is cut to what is left of the 10 s
    assert clock.now == 10.0
