"""Saved commands through the legacy SDK: Create/Modify/Delete/DescribeCommands, InvokeCommand, KeepCommand."""
from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.client import AcsClient
from aliyunsdkecs.request.v20140526.CreateCommandRequest import CreateCommandRequest
from emulator_helpers import output, wait_result

from emulator.testing import EmulatorProcess

Api = Callable[..., dict[str, Any]]
R = {"RegionId": "cn-hangzhou"}


def failure(api: Api, action: str, **params: Any) -> tuple[str, int]:
    """(code, HTTP status) of a call expected to fail."""
    with pytest.raises(ServerException) as exc:
        api(action, **params)
    return exc.value.get_error_code(), exc.value.get_http_status()


def b64(text: str) -> str:
    """Base64 of UTF-8 text."""
    return base64.b64encode(text.encode()).decode()


def commands(api: Api, **params: Any) -> list[dict[str, Any]]:
    """DescribeCommands → the Command list."""
    return api("DescribeCommands", **params, **R)["Commands"]["Command"]


def test_create_describe_invoke_modify_delete(emu: EmulatorProcess, client: AcsClient, api: Api,
                                              ids: dict[str, str]) -> None:
    req = CreateCommandRequest()
    req.set_endpoint(emu.endpoint.removeprefix("http://"))
    req.set_Name("greet")
    req.set_Type("RunShellScript")
    req.set_CommandContent(b64("echo hello {{ who }} from {{where}} {{ACS::InstanceName}}; pwd"))
    req.set_EnableParameter(True)
    req.set_WorkingDir("/tmp")
    req.set_Timeout(30)
    command_id = json.loads(client.do_action_with_exception(req))["CommandId"]
    [cmd] = commands(api, CommandId=command_id)
    assert cmd["ParameterNames"]["ParameterName"] == ["who", "where"]
    assert (cmd["Name"], cmd["Timeout"], cmd["WorkingDir"], cmd["InvokeTimes"], cmd["EnableParameter"]) == (
        "greet", 30, "/tmp", 0, True)
    assert base64.b64decode(cmd["CommandContent"]).startswith(b"echo hello {{ who }}")
    assert commands(api, CommandId=command_id, ContentEncoding="PlainText")[0]["CommandContent"].startswith("echo")
    body = api("InvokeCommand", CommandId=command_id, Parameters=json.dumps({"who": "ann", "where": "hz"}),
               **{"InstanceId.1": ids["web-1"]}, **R)
    [record] = wait_result(api, body["InvokeId"])
    assert output(record) == "hello ann from hz web-1\n/tmp\n"
    assert record["CommandId"] == command_id
    assert failure(api, "InvokeCommand", CommandId=command_id, Parameters='{"who": "x"}',
                   **{"InstanceId.1": ids["web-1"]}, **R) == ("Parameter.MissingValue", 400)
    assert failure(api, "InvokeCommand", CommandId=command_id, Parameters='{"who": "x", "where": "y", "z": "1"}',
                   **{"InstanceId.1": ids["web-1"]}, **R) == ("Parameter.NotMatched", 403)
    api("ModifyCommand", CommandId=command_id, Name="greet2", Timeout="40", CommandContent=b64("ignored"), **R)
    [cmd] = commands(api, Name="greet*")
    assert (cmd["Name"], cmd["Timeout"], cmd["InvokeTimes"]) == ("greet2", 40, 1)
    assert base64.b64decode(cmd["CommandContent"]).startswith(b"echo hello")
    api("DeleteCommand", CommandId=command_id, **R)
    assert commands(api, CommandId=command_id) == []
    assert failure(api, "DeleteCommand", CommandId=command_id, **R) == ("InvalidCmdId.NotFound", 404)
    assert failure(api, "InvokeCommand", CommandId=command_id, **{"InstanceId.1": ids["web-1"]}, **R) == (
        "InvalidCmdId.NotFound", 404)
    assert failure(api, "ModifyCommand", CommandId=command_id, Name="x", **R) == ("InvalidCmdId.NotFound", 404)


def test_create_limits_and_encoding(api: Api) -> None:
    plain = api("CreateCommand", Name="plain", Type="RunShellScript", CommandContent="echo plain",
                ContentEncoding="PlainText", **R)["CommandId"]
    assert base64.b64decode(commands(api, CommandId=plain)[0]["CommandContent"]) == b"echo plain"
    assert commands(api, CommandId=plain)[0]["ParameterNames"]["ParameterName"] == []
    assert failure(api, "CreateCommand", Name="x", Type="RunShellScript", CommandContent="echo not-base64!",
                   **R) == ("CmdContent.DecodeError", 400)
    big = b64("#" * 13900)  # 18,536 Base64 chars > 18 KB
    assert failure(api, "CreateCommand", Name="x", Type="RunShellScript", CommandContent=big, **R) == (
        "CmdContent.ExceedLimit", 403)
    assert failure(api, "CreateCommand", Name="x" * 129, Type="RunShellScript", CommandContent=b64("true"),
                   **R) == ("CmdName.ExceedLimit", 403)
    assert failure(api, "CreateCommand", Name="x", Type="RunPerl", CommandContent=b64("true"), **R) == (
        "InvalidCmdType.NotFound", 404)
    assert failure(api, "CreateCommand", Name="x", Type="RunShellScript", CommandContent=b64("{{a b}}"),
                   EnableParameter="true", **R) == ("CmdParam.InvalidParamName", 400)
    many = " ".join(f"{{{{p{n}}}}}" for n in range(21))
    assert failure(api, "CreateCommand", Name="x", Type="RunShellScript", CommandContent=b64(many),
                   EnableParameter="true", **R) == ("CmdParamCount.ExceedLimit", 403)


def test_describe_commands_pagination_and_unknown(api: Api) -> None:
    created = [api("CreateCommand", Name=f"page-{n}", Type="RunShellScript", CommandContent=b64("true"), **R)[
        "CommandId"] for n in range(3)]
    assert commands(api, CommandId="c-doesnotexist") == []
    assert commands(api, Provider="AlibabaCloud") == []
    first = api("DescribeCommands", Name="page-*", PageSize=2, **R)
    second = api("DescribeCommands", Name="page-*", PageSize=2, PageNumber=2, **R)
    assert first["TotalCount"] == 3 and len(first["Commands"]["Command"]) == 2
    assert {c["CommandId"] for c in first["Commands"]["Command"] + second["Commands"]["Command"]} == set(created)
    tokens = api("DescribeCommands", Name="page-*", MaxResults=2, **R)
    rest = api("DescribeCommands", Name="page-*", MaxResults=2, NextToken=tokens["NextToken"], **R)
    assert len(rest["Commands"]["Command"]) == 1 and rest["NextToken"] == ""
    assert failure(api, "DescribeCommands", PageSize=51, **R) == ("InvalidParam.PageSize", 400)


def test_run_command_keep_command(api: Api, ids: dict[str, str]) -> None:
    body = api("RunCommand", Type="RunShellScript", CommandContent="echo kept", KeepCommand="true", Name="keeper",
               **{"InstanceId.1": ids["web-1"]}, **R)
    [cmd] = commands(api, CommandId=body["CommandId"])
    assert (cmd["Name"], cmd["InvokeTimes"]) == ("keeper", 1)
    again = api("InvokeCommand", CommandId=body["CommandId"], **{"InstanceId.1": ids["web-2"]}, **R)
    assert output(wait_result(api, again["InvokeId"])[0]) == "kept\n"
    transient = api("RunCommand", Type="RunShellScript", CommandContent="echo gone",
                    **{"InstanceId.1": ids["web-1"]}, **R)
    assert commands(api, CommandId=transient["CommandId"]) == []
    big = "#" * 13900  # Base64 18,536 > 18 KB with KeepCommand, fine without
    assert failure(api, "RunCommand", Type="RunShellScript", CommandContent=big, KeepCommand="true",
                   **{"InstanceId.1": ids["web-1"]}, **R) == ("CmdContent.ExceedLimit", 403)
    assert api("RunCommand", Type="RunShellScript", CommandContent=big, **{"InstanceId.1": ids["web-1"]}, **R)


def test_invoke_command_content_plus_parameters_limit(api: Api, ids: dict[str, str]) -> None:
    command_id = api("CreateCommand", Name="fat", Type="RunShellScript", EnableParameter="true",
                     CommandContent=b64("#" * 13000 + "\necho {{v}}"), **R)["CommandId"]
    assert failure(api, "InvokeCommand", CommandId=command_id, Parameters=json.dumps({"v": "x" * 1000}),
                   **{"InstanceId.1": ids["web-1"]}, **R) == ("CmdContent.ExceedLimit", 403)
    body = api("InvokeCommand", CommandId=command_id, Parameters='{"v": "ok"}', **{"InstanceId.1": ids["web-1"]},
               **R)
    assert output(wait_result(api, body["InvokeId"])[0]) == "ok\n"
