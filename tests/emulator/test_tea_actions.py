"""Every implemented action through the Tea SDK's generic ``call_api`` (signature V3, its default), in an order that
gives each call valid inputs, asserting the documented top-level response keys (docs/api-contract.md)."""
from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from emulator_helpers import KEY_ID, SECRET

from emulator.testing import EmulatorProcess, wait_for

openapi_client = pytest.importorskip("alibabacloud_tea_openapi.client")
openapi = pytest.importorskip("alibabacloud_tea_openapi.models")
util_models = pytest.importorskip("alibabacloud_tea_util.models")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK's own datetime.utcnow()

ECS, OOS = "2014-05-26", "2019-06-01"
TEMPLATE = json.dumps({"FormatVersion": "OOS-2019-06-01", "Tasks": []})
State = dict[str, Any]
Call = Callable[[str, str, dict[str, Any]], dict[str, Any]]


@pytest.fixture(scope="module")
def tea_call(emu: EmulatorProcess) -> Call:
    """``tea_call(version, action, query)`` through ``call_api`` (RPC style, POST, V3 signature)."""
    client = openapi_client.Client(openapi.Config(
        access_key_id=KEY_ID, access_key_secret=SECRET, protocol="http",
        endpoint=emu.endpoint.removeprefix("http://"), region_id="cn-hangzhou"))

    def call(version: str, action: str, query: dict[str, Any]) -> dict[str, Any]:
        params = openapi.Params(action=action, version=version, protocol="HTTP", pathname="/", method="POST",
                                auth_type="AK", style="RPC", req_body_type="formData", body_type="json")
        request = openapi.OpenApiRequest(query={"RegionId": "cn-hangzhou", **{k: str(v) for k, v in query.items()}})
        return client.call_api(params, request, util_models.RuntimeOptions())["body"]
    return call


@pytest.fixture(scope="module")
def state(ids: dict[str, str]) -> State:
    """What earlier steps created (invoke ids, command ids, execution id), shared along the ordered steps."""
    return {"ids": ids}


def settle(call: Call, action: str, query: dict[str, Any], done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """Repeat a read until ``done`` says the state under test was reached; returns that read."""
    def read() -> dict[str, Any] | None:
        body = call(ECS if action.startswith("Describe") else OOS, action, query)
        return body if done(body) else None
    return wait_for(read, f"{action} {query} to reach the state under test")


def first_result_final(body: dict[str, Any]) -> bool:
    """Every record of DescribeInvocationResults is final."""
    records = body["Invocation"]["InvocationResults"]["InvocationResult"]
    return bool(records) and all(r["InvokeRecordStatus"] not in ("Running", "Stopping") for r in records)


def waiting(body: dict[str, Any]) -> bool:
    """The batch execution paused after its first batch."""
    return body["Executions"][0]["Status"] == "Waiting"


# (version, action, query from state, documented top-level keys, step after the call) — run in this order.
STEPS: list[tuple[str, str, Callable[[State], dict[str, Any]], set[str], Callable[[State, dict[str, Any]], None]]] = [
    (ECS, "DescribeRegions", lambda s: {}, {"Regions"}, lambda s, b: None),
    (ECS, "DescribeInstances", lambda s: {"MaxResults": 10}, {"Instances", "TotalCount", "NextToken"},
     lambda s, b: None),
    (ECS, "DescribeCloudAssistantStatus", lambda s: {"InstanceId.1": s["ids"]["web-1"]},
     {"InstanceCloudAssistantStatusSet", "TotalCount"}, lambda s, b: None),
    (ECS, "InstallCloudAssistant", lambda s: {"InstanceId.1": s["ids"]["web-1"]}, set(), lambda s, b: None),
    (ECS, "RunCommand", lambda s: {"Type": "RunShellScript", "CommandContent": "echo tea", "KeepCommand": "true",
                                   "InstanceId.1": s["ids"]["web-1"]},
     {"CommandId", "InvokeId"}, lambda s, b: s.update(run=b["InvokeId"], kept=b["CommandId"])),
    (ECS, "CreateCommand", lambda s: {"Name": "tea", "Type": "RunShellScript",
                                      "CommandContent": base64.b64encode(b"sleep 30").decode()},
     {"CommandId"}, lambda s, b: s.update(command=b["CommandId"])),
    (ECS, "ModifyCommand", lambda s: {"CommandId": s["command"], "Description": "changed"}, set(),
     lambda s, b: None),
    (ECS, "DescribeCommands", lambda s: {"CommandId": s["command"]},
     {"Commands", "TotalCount", "PageNumber", "PageSize"}, lambda s, b: None),
    (ECS, "InvokeCommand", lambda s: {"CommandId": s["command"], "InstanceId.1": s["ids"]["web-2"]}, {"InvokeId"},
     lambda s, b: s.update(invoke=b["InvokeId"])),
    (ECS, "StopInvocation", lambda s: {"InvokeId": s["invoke"]}, set(), lambda s, b: None),
    (ECS, "DeleteCommand", lambda s: {"CommandId": s["kept"]}, set(), lambda s, b: None),
    (ECS, "DescribeInvocations", lambda s: {"InvokeId": s["run"]},
     {"Invocations", "TotalCount", "PageNumber", "PageSize"}, lambda s, b: None),
    (ECS, "DescribeInvocationResults", lambda s: {"InvokeId": s["run"]}, {"Invocation"}, lambda s, b: None),
    (ECS, "SendFile", lambda s: {"Name": "tea.txt", "TargetDir": "/tmp", "Content": "hi", "Overwrite": "true",
                                 "InstanceId.1": s["ids"]["web-1"]}, {"InvokeId"},
     lambda s, b: s.update(file=b["InvokeId"])),
    (ECS, "DescribeSendFileResults", lambda s: {"InvokeId": s["file"]},
     {"Invocations", "TotalCount", "PageNumber", "PageSize"}, lambda s, b: None),
    (ECS, "DescribeInstancesFullStatus", lambda s: {}, {"InstanceFullStatusSet", "TotalCount"}, lambda s, b: None),
    (ECS, "DescribeInstanceHistoryEvents", lambda s: {}, {"InstanceSystemEventSet", "TotalCount"},
     lambda s, b: None),
    (ECS, "GetInstanceConsoleOutput", lambda s: {"InstanceId": s["ids"]["db-1"]},
     {"InstanceId", "ConsoleOutput", "LastUpdateTime"}, lambda s, b: None),
    (ECS, "TagResources", lambda s: {"ResourceType": "instance", "ResourceId.1": s["ids"]["db-1"],
                                     "Tag.1.Key": "tea", "Tag.1.Value": "yes"}, set(), lambda s, b: None),
    (ECS, "ListTagResources", lambda s: {"ResourceType": "instance", "ResourceId.1": s["ids"]["db-1"]},
     {"TagResources", "NextToken"}, lambda s, b: None),
    (OOS, "CreateTemplate", lambda s: {"TemplateName": "tea-template", "Content": TEMPLATE}, {"Template"},
     lambda s, b: None),
    (OOS, "UpdateTemplate", lambda s: {"TemplateName": "tea-template", "Content": TEMPLATE}, {"Template"},
     lambda s, b: None),
    (OOS, "GetTemplate", lambda s: {"TemplateName": "tea-template"}, {"Template", "Content"}, lambda s, b: None),
    (OOS, "ListTemplates", lambda s: {}, {"Templates", "MaxResults", "NextToken"}, lambda s, b: None),
    (OOS, "DeleteTemplate", lambda s: {"TemplateName": "tea-template"}, set(), lambda s, b: None),
    (OOS, "StartExecution", lambda s: {"TemplateName": "ACS-ECS-BulkyRunCommand", "Parameters": json.dumps({
        "targets": {"Type": "ResourceIds", "ResourceIds": [s["ids"]["web-1"], s["ids"]["db-1"]]},
        "commandContent": "echo oos", "rateControl": {"Mode": "Batch", "Batch": [1], "MaxErrors": 0,
                                                      "BatchPauseOption": "FirstBatchPause"}})},
     {"Execution"}, lambda s, b: s.update(execution=b["Execution"]["ExecutionId"])),
    (OOS, "ListExecutions", lambda s: {"ExecutionId": s["execution"]}, {"Executions", "MaxResults", "NextToken"},
     lambda s, b: None),
    (OOS, "NotifyExecution", lambda s: {"ExecutionId": s["execution"], "NotifyType": "Approve"}, set(),
     lambda s, b: None),
    (OOS, "CancelExecution", lambda s: {"ExecutionId": s["execution"]}, set(), lambda s, b: None),
    (ECS, "StartInstance", lambda s: {"InstanceId": s["ids"]["stopped-1"]}, set(), lambda s, b: None),
    (ECS, "StopInstance", lambda s: {"InstanceId": s["ids"]["db-1"]}, set(), lambda s, b: None),
    (ECS, "RebootInstance", lambda s: {"InstanceId": s["ids"]["web-2"]}, set(), lambda s, b: None),
]


@pytest.mark.parametrize(("version", "action", "query", "keys", "after"), STEPS, ids=[s[1] for s in STEPS])
def test_every_action(tea_call: Call, state: State, version: str, action: str,
                      query: Callable[[State], dict[str, Any]], keys: set[str],
                      after: Callable[[State, dict[str, Any]], None]) -> None:
    if action == "DescribeInvocations":  # the command ran before its results are read
        settle(tea_call, "DescribeInvocationResults", {"InvokeId": state["run"]}, first_result_final)
    if action == "NotifyExecution":  # only a paused execution can be resumed
        settle(tea_call, "ListExecutions", {"ExecutionId": state["execution"]}, waiting)
    body = tea_call(version, action, query(state))
    assert keys | {"RequestId"} <= set(body), body
    after(state, body)
