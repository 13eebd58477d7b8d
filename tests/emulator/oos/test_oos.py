"""OOS 2019-06-01 through the legacy SDK (CommonRequest): templates CRUD, ACS-ECS-BulkyRunCommand executions with
rateControl (Concurrency, Batch with pauses, MaxErrors), NotifyExecution, CancelExecution, ListExecutions."""
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
TEMPLATE = json.dumps({"FormatVersion": "OOS-2019-06-01", "Description": "mine", "Tasks": []})


@pytest.fixture(scope="module")
def oos(emu: EmulatorProcess, client: AcsClient) -> Call:
    """``oos(Action, **params)`` with Version 2019-06-01 and RegionId cn-hangzhou."""
    def call(action: str, **params: Any) -> dict[str, Any]:
        return sdk_call(client, emu.endpoint, action, version="2019-06-01", **{"RegionId": "cn-hangzhou", **params})
    return call


def failure(oos: Call, action: str, **params: Any) -> tuple[str, int]:
    """(code, HTTP status) of a failing call."""
    with pytest.raises(ServerException) as exc:
        oos(action, **params)
    return exc.value.get_error_code(), exc.value.get_http_status()


def execution(oos: Call, exec_id: str) -> dict[str, Any]:
    """ListExecutions(ExecutionId) → the one execution."""
    [item] = oos("ListExecutions", ExecutionId=exec_id)["Executions"]
    return item


def wait_status(oos: Call, exec_id: str, statuses: tuple[str, ...]) -> dict[str, Any]:
    """Poll until the execution's Status is one of ``statuses``; returns the execution."""
    def reached() -> dict[str, Any] | None:
        item = execution(oos, exec_id)
        return item if item["Status"] in statuses else None
    return wait_for(reached, f"{exec_id} to be {' or '.join(statuses)}")


def bulky(oos: Call, targets: dict[str, Any], content: str, rate: dict[str, Any]) -> str:
    """StartExecution of ACS-ECS-BulkyRunCommand; returns the ExecutionId."""
    params = {"targets": {"RegionId": "cn-hangzhou", **targets}, "commandContent": content, "timeout": 30,
              "rateControl": rate}
    body = oos("StartExecution", TemplateName="ACS-ECS-BulkyRunCommand", Parameters=json.dumps(params))
    assert isinstance(body["Execution"]["Parameters"], str)  # a JSON string here, an object in ListExecutions
    return body["Execution"]["ExecutionId"]


def test_templates_crud(oos: Call) -> None:
    created = oos("CreateTemplate", TemplateName="my-template", Content=TEMPLATE, Tags='{"team": "ops"}')
    assert (created["Template"]["TemplateVersion"], created["Template"]["ShareType"]) == ("v1", "Private")
    assert failure(oos, "CreateTemplate", TemplateName="my-template", Content=TEMPLATE) == (
        "EntityAlreadyExists.Template", 400)
    assert failure(oos, "CreateTemplate", TemplateName="bad", Content="not a template") == ("InvalidTemplate", 400)
    updated = oos("UpdateTemplate", TemplateName="my-template", Content=TEMPLATE.replace("mine", "v2"))
    assert updated["Template"]["TemplateVersion"] == "v2"
    got = oos("GetTemplate", TemplateName="my-template", TemplateVersion="v1")
    assert json.loads(got["Content"])["Description"] == "mine" and got["Template"]["Tags"] == {"team": "ops"}
    names = {t["TemplateName"] for t in oos("ListTemplates")["Templates"]}
    assert {"my-template", "ACS-ECS-BulkyRunCommand"} <= names
    assert [t["TemplateName"] for t in oos("ListTemplates", ShareType="Private")["Templates"]] == ["my-template"]
    assert "commandContent" in json.loads(oos("GetTemplate", TemplateName="ACS-ECS-BulkyRunCommand")["Content"])[
        "Parameters"]
    oos("DeleteTemplate", TemplateName="my-template")
    assert failure(oos, "GetTemplate", TemplateName="my-template") == ("EntityNotExists.Template", 404)


def test_bulky_run_command_concurrency(oos: Call, ids: dict[str, str]) -> None:
    targets = {"Type": "ResourceIds", "ResourceIds": [ids["web-1"], ids["web-2"], ids["db-1"], ids["stopped-1"]]}
    exec_id = bulky(oos, targets, "hostname", {"Mode": "Concurrency", "MaxErrors": 0, "Concurrency": 2})
    item = wait_status(oos, exec_id, ("Success", "Failed", "Cancelled"))
    assert item["Status"] == "Success" and item["Counters"] == {"Total": 3, "Success": 3, "Failed": 0}
    assert sorted(json.loads(item["Outputs"])["commandOutputs"]) == ["db-1\n", "web-1\n", "web-2\n"]
    assert item["Parameters"]["rateControl"]["Concurrency"] == 2 and item["TemplateName"] == "ACS-ECS-BulkyRunCommand"
    assert oos("ListExecutions", ExecutionId="exec-unknown")["Executions"] == []


def test_max_errors_number_and_percent(oos: Call) -> None:
    tags = {"Type": "Tags", "Tags": [{"Key": "role", "Value": "web"}]}
    strict = bulky(oos, tags, "exit 1", {"Mode": "Concurrency", "MaxErrors": 0, "Concurrency": 1})
    item = wait_status(oos, strict, ("Success", "Failed", "Cancelled"))
    assert item["Status"] == "Failed" and item["Counters"] == {"Total": 2, "Success": 0, "Failed": 1}
    lenient = bulky(oos, tags, '[ "$(hostname)" = web-1 ] && exit 1; echo ok',
                    {"Mode": "Concurrency", "MaxErrors": "50%", "Concurrency": 2})
    item = wait_status(oos, lenient, ("Success", "Failed", "Cancelled"))
    assert item["Status"] == "Success" and item["Counters"] == {"Total": 2, "Success": 1, "Failed": 1}


def test_batches_pause_notify_and_cancel(oos: Call, ids: dict[str, str]) -> None:
    targets = {"Type": "ResourceIds", "ResourceIds": [ids["web-1"], ids["web-2"], ids["db-1"]]}
    exec_id = bulky(oos, targets, "echo batch", {"Mode": "Batch", "Batch": [1], "BatchPauseOption": "EveryBatchPause",
                                                 "MaxErrors": 0})
    assert wait_status(oos, exec_id, ("Waiting",))["Counters"]["Success"] == 1
    assert failure(oos, "NotifyExecution", ExecutionId=exec_id, NotifyType="Sideways") == ("InvalidParameter", 400)
    oos("NotifyExecution", ExecutionId=exec_id, NotifyType="Approve")
    wait_for(lambda: execution(oos, exec_id)["Counters"]["Success"] >= 2, "the second batch to succeed")
    wait_status(oos, exec_id, ("Waiting",))
    oos("CancelExecution", ExecutionId=exec_id)
    item = wait_status(oos, exec_id, ("Cancelled",))
    assert item["Counters"] == {"Total": 3, "Success": 2, "Failed": 0}
    assert failure(oos, "StartExecution", TemplateName="nope", Parameters="{}") == ("EntityNotExists.Template", 404)
    odd = json.dumps({"targets": {"Type": "All"}, "commandContent": "true"})
    assert failure(oos, "StartExecution", TemplateName="ACS-ECS-BulkyRunCommand", Parameters=odd) == (
        "InvalidParameter", 400)
