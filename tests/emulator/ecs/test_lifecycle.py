"""Instance lifecycle and information actions through the legacy SDK: Start/Stop/Reboot, InstallCloudAssistant,
console output, system events, tags, the remaining DescribeInstances filters."""
from __future__ import annotations

import base64
import copy
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from emulator_helpers import FLEET, output, run

from emulator.testing import EmulatorProcess, wait_for

Api = Callable[..., dict[str, Any]]
R = {"RegionId": "cn-hangzhou"}


def fleet() -> dict[str, Any]:
    """The shared test fleet plus an agent-less instance and a scheduled maintenance event."""
    data = copy.deepcopy(FLEET)
    data["instances"][0]["events"] = [{"type": "SystemMaintenance.Reboot", "not_before": "2030-01-01T00:00:00Z",
                                       "reason": "host upgrade", "publish_time": "2029-12-01T00:00:00Z"}]
    data["instances"].append({"name": "bare-1", "region": "cn-hangzhou", "agent": "offline"})
    return data


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorProcess]:
    """Own fleet, quick power transitions."""
    with EmulatorProcess(fleet=fleet(), min_timeout=1, delivery_timeout=0.5, transition_delay=0.3) as proc:
        yield proc


def failure(api: Api, action: str, **params: Any) -> tuple[str, int]:
    """(code, HTTP status) of a call expected to fail."""
    with pytest.raises(ServerException) as exc:
        api(action, **params)
    return exc.value.get_error_code(), exc.value.get_http_status()


def status(api: Api, iid: str) -> str:
    """Power state via DescribeInstances."""
    return api("DescribeInstances", InstanceIds=f'["{iid}"]', **R)["Instances"]["Instance"][0]["Status"]


def wait_status(api: Api, iid: str, wanted: str) -> list[str]:
    """Poll until ``wanted``; returns the distinct states seen on the way (every 0.05 s: a transitional state
    lasts 0.3 s here)."""
    seen: list[str] = []

    def reached() -> bool:
        current = status(api, iid)
        if not seen or seen[-1] != current:
            seen.append(current)
        return current == wanted
    wait_for(reached, f"{iid} to be {wanted}", step=0.05)
    return seen


def test_stop_kills_processes_keeps_files_and_start_boots(emu: EmulatorProcess, api: Api,
                                                          ids: dict[str, str]) -> None:
    iid = ids["web-2"]
    [r] = run(api, [iid], "echo kept > /root/keep; nohup sleep 300 >/dev/null 2>&1 & echo started")
    assert output(r) == "started\n"
    api("StopInstance", InstanceId=iid, **R)
    assert wait_status(api, iid, "Stopped")[0] == "Stopping"
    assert failure(api, "StopInstance", InstanceId=iid, **R) == ("IncorrectInstanceStatus", 403)
    assert failure(api, "RebootInstance", InstanceId=iid, **R) == ("IncorrectInstanceStatus", 403)
    assert failure(api, "StartInstance", InstanceId="i-nope", **R) == ("InvalidInstanceId.NotFound", 404)
    api("StartInstance", InstanceId=iid, **R)
    assert wait_status(api, iid, "Running")[0] == "Starting"
    assert emu.exec(iid, "cat /root/keep")["stdout"] == "kept\n"
    assert "sleep 300" not in emu.exec(iid, "ps -eo args")["stdout"]
    console = api("GetInstanceConsoleOutput", InstanceId=iid, **R)
    text = base64.b64decode(console["ConsoleOutput"]).decode()
    assert text.count("Linux version") == 1 and text.rstrip().endswith("web-2 login:")
    assert console["InstanceId"] == iid and console["LastUpdateTime"].endswith("Z")


def test_install_cloud_assistant_needs_a_reboot(emu: EmulatorProcess, api: Api, ids: dict[str, str]) -> None:
    iid = ids["bare-1"]

    def online() -> str:
        body = api("DescribeCloudAssistantStatus", **{"InstanceId.1": iid}, **R)
        return body["InstanceCloudAssistantStatusSet"]["InstanceCloudAssistantStatus"][0]["CloudAssistantStatus"]
    assert online() == "false"
    api("InstallCloudAssistant", **{"InstanceId.1": iid}, **R)
    assert online() == "false"
    assert next(i for i in emu.instances() if i["id"] == iid)["agent"] == "installed"
    assert failure(api, "InstallCloudAssistant", **{"InstanceId.1": "i-nope"}, **R) == (
        "InvalidInstance.NotFound", 404)
    api("RebootInstance", InstanceId=iid, **R)
    seen = wait_status(api, iid, "Running")
    assert "Stopping" in seen or "Starting" in seen
    assert online() == "true"
    [r] = run(api, [iid], "echo agent")
    assert output(r) == "agent\n"


def test_system_events(emu: EmulatorProcess, api: Api, ids: dict[str, str]) -> None:
    emu.control("POST", f"instances/{ids['db-1']}/events", {"events": [
        {"type": "SystemFailure.Reboot", "status": "Executed", "publish_time": "2025-01-01T00:00:00Z",
         "not_before": "2025-01-01T01:00:00Z", "finish_time": "2025-01-01T01:05:00Z"}]})
    full = api("DescribeInstancesFullStatus", **R)
    by_id = {i["InstanceId"]: i for i in full["InstanceFullStatusSet"]["InstanceFullStatusType"]}
    assert full["TotalCount"] == len(by_id) and ids["stopped-1"] in by_id
    [event] = by_id[ids["web-1"]]["ScheduledSystemEventSet"]["ScheduledSystemEventType"]
    assert event["EventType"] == {"Code": 1, "Name": "SystemMaintenance.Reboot"}
    assert (event["EventCycleStatus"]["Name"], event["NotBefore"], event["Reason"]) == (
        "Scheduled", "2030-01-01T00:00:00Z", "host upgrade")
    assert by_id[ids["db-1"]]["ScheduledSystemEventSet"]["ScheduledSystemEventType"] == []  # executed: history only
    assert by_id[ids["web-1"]]["Status"] == {"Code": 1, "Name": "Running"}
    only = api("DescribeInstancesFullStatus", **{"EventType": "SystemMaintenance.Reboot"}, **R)
    assert [i["InstanceId"] for i in only["InstanceFullStatusSet"]["InstanceFullStatusType"]] == [ids["web-1"]]
    history = api("DescribeInstanceHistoryEvents", **R)["InstanceSystemEventSet"]["InstanceSystemEventType"]
    assert [(e["InstanceId"], e["EventType"]["Name"]) for e in history] == [
        (ids["web-1"], "SystemMaintenance.Reboot"), (ids["db-1"], "SystemFailure.Reboot")]
    assert history[1]["EventFinishTime"] == "2025-01-01T01:05:00Z"
    executed = api("DescribeInstanceHistoryEvents", **{"InstanceEventCycleStatus.1": "Executed"}, **R)
    assert [e["EventId"] for e in executed["InstanceSystemEventSet"]["InstanceSystemEventType"]] == [
        history[1]["EventId"]]
    assert failure(api, "DescribeInstancesFullStatus", **{"NotBefore.Start": "2030-01-02T00:00:00Z",
                                                          "NotBefore.End": "2030-01-01T00:00:00Z"}, **R) == (
        "InvalidParameter.TimeEndBeforeStart", 403)


def test_due_maintenance_event_reboots(emu: EmulatorProcess, api: Api, ids: dict[str, str]) -> None:
    iid = ids["db-1"]
    booted = api("GetInstanceConsoleOutput", InstanceId=iid, **R)["LastUpdateTime"]
    soon = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 1))
    [event] = [e for e in emu.control("POST", f"instances/{iid}/events", [
        {"type": "SystemMaintenance.Reboot", "not_before": soon}])["events"] if e["status"] == "Scheduled"]

    def executed() -> bool:
        history = api("DescribeInstanceHistoryEvents", **{"EventId.1": event["id"]}, **R)
        return history["InstanceSystemEventSet"]["InstanceSystemEventType"][0]["EventCycleStatus"][
            "Name"] == "Executed"
    wait_for(executed, "the maintenance event to be executed")
    wait_for(lambda: api("GetInstanceConsoleOutput", InstanceId=iid, **R)["LastUpdateTime"] > booted,
             "the instance to reboot")
    wait_status(api, iid, "Running")


def test_tags(api: Api, ids: dict[str, str]) -> None:
    api("TagResources", ResourceType="instance", **{"ResourceId.1": ids["db-1"], "Tag.1.Key": "team",
                                                    "Tag.1.Value": "core"}, **R)
    found = api("DescribeInstances", **{"Tag.1.Key": "team", "Tag.1.Value": "core"}, **R)
    assert [i["InstanceId"] for i in found["Instances"]["Instance"]] == [ids["db-1"]]
    rows = api("ListTagResources", ResourceType="instance", **{"ResourceId.1": ids["db-1"]}, **R)
    assert {(t["TagKey"], t["TagValue"]) for t in rows["TagResources"]["TagResource"]} == {("role", "db"),
                                                                                           ("team", "core")}
    by_tag = api("ListTagResources", ResourceType="instance", **{"Tag.1.Key": "role", "Tag.1.Value": "web"}, **R)
    assert {t["ResourceId"] for t in by_tag["TagResources"]["TagResource"]} == {ids["web-1"], ids["web-2"]}
    assert failure(api, "TagResources", **{"ResourceId.1": ids["db-1"], "Tag.1.Key": "a"}, **R) == (
        "MissingParameter.ResourceType", 404)
    many = {f"ResourceId.{n}": ids["db-1"] + str(n) for n in range(1, 52)}
    assert failure(api, "TagResources", ResourceType="instance", **many, **{"Tag.1.Key": "a"}, **R) == (
        "NumberExceed.ResourceIds", 400)
    assert failure(api, "TagResources", ResourceType="instance", **{"ResourceId.1": ids["db-1"],
                                                                    "Tag.1.Key": "acs:x"}, **R) == (
        "InvalidTagKey.Malformed", 400)


def test_more_describe_instances_filters(api: Api) -> None:
    def count(**params: Any) -> int:
        return api("DescribeInstances", **params, **R)["TotalCount"]
    total = count()
    assert count(InstanceTypeFamily="ecs.g7", InstanceChargeType="PostPaid", InstanceNetworkType="vpc",
                 InternetChargeType="PayByTraffic", IoOptimized="true") == total
    assert count(InstanceNetworkType="classic") == 0 and count(EipAddresses='["1.2.3.4"]') == 0
    assert count(**{"Filter.1.Key": "CreationStartTime", "Filter.1.Value": "2023-01-01T00:00Z",
                    "Filter.2.Key": "CreationEndTime", "Filter.2.Value": "2030-01-01T00:00Z"}) == total
    assert count(**{"Filter.1.Key": "CreationStartTime", "Filter.1.Value": "2030-01-01T00:00Z"}) == 0
    assert failure(api, "DescribeInstances", InstanceNetworkType="lan", **R) == ("InvalidNetworkType.NotFound", 404)
    assert failure(api, "DescribeInstances", DryRun="true", **R) == ("DryRunOperation", 400)
