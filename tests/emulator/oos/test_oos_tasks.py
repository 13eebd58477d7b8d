"""OOS task executions and FailurePause through the legacy SDK: ListTaskExecutions (loop items with their
invocationOutput), NotifyExecution RetryTask / SkipTask / Reject on a failed item, modes checked at StartExecution."""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.client import AcsClient
from emulator_helpers import sdk_call

from emulator.testing import EmulatorProcess, wait_for

Call = Callable[..., dict[str, Any]]
BULKY = "ACS-ECS-BulkyRunCommand"


@pytest.fixture(scope="module")
def oos(emu: EmulatorProcess, client: AcsClient) -> Call:
    """``oos(Action, **params)`` with Version 2019-06-01 and RegionId cn-hangzhou."""
    def call(action: str, **params: Any) -> dict[str, Any]:
        return sdk_call(client, emu.endpoint, action, version="2019-06-01", **{"RegionId": "cn-hangzhou", **params})
    return call


def start(oos: Call, ids: list[str], content: str, mode: str = "Automatic") -> str:
    """StartExecution of the bulky template over ``ids``, one at a time."""
    params = {"targets": {"Type": "ResourceIds", "RegionId": "cn-hangzhou", "ResourceIds": ids},
              "commandContent": content, "timeout": 30,
              "rateControl": {"Mode": "Concurrency", "MaxErrors": 0, "Concurrency": 1}}
    return oos("StartExecution", TemplateName=BULKY, Mode=mode, Parameters=json.dumps(params))["Execution"]["ExecutionId"]


def wait_status(oos: Call, exec_id: str, statuses: tuple[str, ...]) -> dict[str, Any]:
    """Poll ListExecutions until the status is one of ``statuses``; returns the execution."""
    def reached() -> dict[str, Any] | None:
        [item] = oos("ListExecutions", ExecutionId=exec_id)["Executions"]
        return item if item["Status"] in statuses else None
    return wait_for(reached, f"{exec_id} to be {' or '.join(statuses)}")


def items(oos: Call, exec_id: str, **filters: Any) -> list[dict[str, Any]]:
    """The loop items (child task executions) of an execution."""
    found = oos("ListTaskExecutions", ExecutionId=exec_id, IncludeChildTaskExecution="true", **filters)
    return [t for t in found["TaskExecutions"] if t["LoopItem"]]


def code_of(oos: Call, action: str, **params: Any) -> str:
    with pytest.raises(ServerException) as exc:
        oos(action, **params)
    return exc.value.get_error_code()


def test_task_executions_of_a_finished_execution(oos: Call, ids: dict[str, str]) -> None:
    exec_id = start(oos, [ids["web-1"], ids["web-2"]], "hostname")
    assert wait_status(oos, exec_id, ("Success", "Failed"))["Status"] == "Success"
    top = oos("ListTaskExecutions", ExecutionId=exec_id)["TaskExecutions"]
    assert [(t["TaskName"], t["TaskAction"], t["Status"]) for t in top] == [
        ("getInstance", "ACS::SelectTargets", "Success"), ("runCommand", "ACS::ECS::RunCommand", "Success")]
    assert sorted(json.loads(top[0]["Outputs"])["instanceIds"]) == sorted([ids["web-1"], ids["web-2"]])
    loop = items(oos, exec_id)
    assert {t["LoopItem"]: json.loads(t["Outputs"])["invocationOutput"] for t in loop} == {
        ids["web-1"]: "web-1\n", ids["web-2"]: "web-2\n"}
    assert {t["ParentTaskExecutionId"] for t in loop} == {top[1]["TaskExecutionId"]}
    assert code_of(oos, "ListTaskExecutions", ExecutionId="exec-nope") == "EntityNotExists.Execution"


def test_failure_pause_retry_then_skip(oos: Call, ids: dict[str, str], emu: EmulatorProcess) -> None:
    web1 = ids["web-1"]
    emu.exec(web1, "rm -f /tmp/retry-ok")
    exec_id = start(oos, [web1, ids["web-2"]], '[ -e /tmp/retry-ok ] || { echo no; exit 3; }; echo yes',
                    mode="FailurePause")
    wait_status(oos, exec_id, ("Waiting",))
    [failed] = items(oos, exec_id, Status="Failed")
    assert code_of(oos, "NotifyExecution", ExecutionId=exec_id, NotifyType="RetryTask") == (
        "MissingParameter.TaskExecutionId")
    assert code_of(oos, "NotifyExecution", ExecutionId=exec_id, NotifyType="SkipTask",
                   TaskExecutionId="task-exec-nope") == "InvalidParameter"
    emu.exec(failed["LoopItem"], "touch /tmp/retry-ok")
    oos("NotifyExecution", ExecutionId=exec_id, NotifyType="RetryTask", TaskExecutionId=failed["TaskExecutionId"])
    assert code_of(oos, "NotifyExecution", ExecutionId=exec_id, NotifyType="RetryTask",
                   TaskExecutionId=failed["TaskExecutionId"]) in ("InvalidParameter", "InvalidStatus.Execution")
    still = wait_for(lambda: [t for t in items(oos, exec_id, Status="Failed") if t["LoopItem"] != web1],
                     "the other instance's item to fail")
    wait_status(oos, exec_id, ("Waiting",))  # the other instance has no marker file: skip it
    oos("NotifyExecution", ExecutionId=exec_id, NotifyType="SkipTask", TaskExecutionId=still[0]["TaskExecutionId"])
    done = wait_status(oos, exec_id, ("Success", "Failed"))
    assert done["Status"] == "Success"
    statuses = {t["LoopItem"]: t["Status"] for t in items(oos, exec_id)}
    assert statuses[failed["LoopItem"]] == "Success" and len(still) == 1
    assert statuses[still[0]["LoopItem"]] == "Skipped"
    assert done["Counters"] == {"Total": 2, "Success": 1, "Failed": 0, "Skipped": 1}


def test_failure_pause_reject_and_modes(oos: Call, ids: dict[str, str]) -> None:
    exec_id = start(oos, [ids["db-1"]], "exit 1", mode="FailurePause")
    wait_status(oos, exec_id, ("Waiting",))
    oos("NotifyExecution", ExecutionId=exec_id, NotifyType="Reject")
    done = wait_status(oos, exec_id, ("Success", "Failed", "Cancelled"))
    assert (done["Status"], done["StatusMessage"]) == ("Failed", "Rejected by the user.")
    assert code_of(oos, "NotifyExecution", ExecutionId=exec_id, NotifyType="Approve") == "InvalidStatus.Execution"
    params = json.dumps({"targets": {"Type": "ResourceIds", "ResourceIds": [ids["db-1"]]}, "commandContent": "true"})
    assert code_of(oos, "StartExecution", TemplateName=BULKY, Parameters=params, Mode="Debug") == "InvalidParameter"
    assert code_of(oos, "StartExecution", TemplateName=BULKY, Parameters=params, Mode="FailurePause",
                   SafetyCheck="Skip") == "InvalidParameter"
