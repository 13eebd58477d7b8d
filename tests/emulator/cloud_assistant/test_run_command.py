"""RunCommand and its result APIs: shapes, status machines, output cap, timeout, stop, idempotency, limits."""
from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.client import AcsClient
from aliyunsdkecs.request.v20140526.RunCommandRequest import RunCommandRequest
from emulator_helpers import output, run, wait_result

from emulator.testing import EmulatorProcess, wait_for

Api = Callable[..., dict[str, Any]]


def error_of(api: Api, action: str, **params: Any) -> tuple[str, int]:
    with pytest.raises(ServerException) as exc:
        api(action, **params)
    return exc.value.get_error_code(), exc.value.get_http_status()


def test_generated_request_runs_and_reports(emu: EmulatorProcess, client: AcsClient, api: Api,
                                            ids: dict[str, str]) -> None:
    req = RunCommandRequest()
    req.set_endpoint(emu.endpoint.removeprefix("http://"))
    req.set_Type("RunShellScript")
    req.set_CommandContent("echo out; echo err >&2; echo again; exit 3")
    req.set_InstanceIds([ids["web-1"], ids["web-2"]])
    req.set_Name("probe")
    body = json.loads(client.do_action_with_exception(req))
    assert body["InvokeId"].startswith("t-") and body["CommandId"].startswith("c-")
    records = wait_result(api, body["InvokeId"])
    assert {r["InstanceId"] for r in records} == {ids["web-1"], ids["web-2"]}
    for r in records:
        assert (r["InvocationStatus"], r["InvokeRecordStatus"], r["ExitCode"]) == ("Failed", "Finished", 3)
        assert (r["ErrorCode"], r["ErrorInfo"]) == ("ExitCodeNonzero", "the command execution exit code is not zero.")
        assert output(r) == "out\nerr\nagain\n"  # one combined stream, in order
        assert r["FinishedTime"].endswith("Z") and r["StopTime"] == "" and r["Repeats"] == 1
    inv = api("DescribeInvocations", RegionId="cn-hangzhou", InvokeId=body["InvokeId"], IncludeOutput="true")
    item = inv["Invocations"]["Invocation"][0]
    assert (item["InvocationStatus"], item["InvokeStatus"], item["CommandName"]) == ("Failed", "Finished", "probe")
    assert item["Parameters"] == "{}" and base64.b64decode(item["CommandContent"]).startswith(b"echo out")
    instance = item["InvokeInstances"]["InvokeInstance"][0]
    assert "FinishTime" in instance and "FinishedTime" not in instance
    assert instance["InstanceInvokeStatus"] == "Finished" and output(instance) == "out\nerr\nagain\n"
    assert "Output" not in api("DescribeInvocations", RegionId="cn-hangzhou", InvokeId=body["InvokeId"])[
        "Invocations"]["Invocation"][0]["InvokeInstances"]["InvokeInstance"][0]


def test_success_plaintext_and_base64(api: Api, ids: dict[str, str]) -> None:
    script = base64.b64encode(b"printf '%s' \"$(pwd) $(id -un)\"").decode()
    [r] = run(api, [ids["web-1"]], script, ContentEncoding="base64")
    assert (r["InvocationStatus"], r["ErrorCode"], r["ExitCode"]) == ("Success", "", 0)
    assert output(r) == "/root root"
    body = api("DescribeInvocationResults", RegionId="cn-hangzhou", InvokeId=r["InvokeId"],
               ContentEncoding="PlainText")
    assert body["Invocation"]["InvocationResults"]["InvocationResult"][0]["Output"] == "/root root"


def test_output_keeps_the_tail(api: Api, ids: dict[str, str]) -> None:
    [r] = run(api, [ids["web-1"]], "head -c 30000 /dev/zero | tr '\\0' a; printf END")
    data = base64.b64decode(r["Output"])
    assert len(data) == 24576 and data.endswith(b"aEND") and r["Dropped"] == 30003 - 24576


def test_timeout_kills_the_process_tree(emu: EmulatorProcess, api: Api, ids: dict[str, str]) -> None:
    [r] = run(api, [ids["web-2"]], "echo begin; (sleep 30; echo child) & sleep 30", Timeout=1,
              TerminationMode="ProcessTree")
    assert (r["InvocationStatus"], r["InvokeRecordStatus"], r["ErrorCode"]) == ("Timeout", "Failed",
                                                                                "ExecutionTimeout")
    assert output(r) == "begin\n"
    assert "sleep 30" not in emu.exec(ids["web-2"], "ps -eo args")["stdout"]


def test_stop_running_and_pending(emu: EmulatorProcess, api: Api, ids: dict[str, str]) -> None:
    body = api("RunCommand", RegionId="cn-hangzhou", Type="RunShellScript", CommandContent="echo go; sleep 30",
               **{"InstanceId.1": ids["db-1"]})
    wait_for(lambda: api("DescribeInvocations", RegionId="cn-hangzhou", InvokeId=body["InvokeId"])[
        "Invocations"]["Invocation"][0]["InvocationStatus"] == "Running", "the command to run")
    api("StopInvocation", RegionId="cn-hangzhou", InvokeId=body["InvokeId"])
    [r] = wait_result(api, body["InvokeId"])
    assert (r["InvocationStatus"], r["InvokeRecordStatus"]) == ("Terminated", "Stopped") and r["StopTime"]
    # a task not yet delivered (agent offline) is cancelled
    emu.set_instance(ids["web-2"], agent="offline")
    try:
        body = api("RunCommand", RegionId="cn-hangzhou", Type="RunShellScript", CommandContent="echo never",
                   **{"InstanceId.1": ids["web-2"]})
        api("StopInvocation", RegionId="cn-hangzhou", InvokeId=body["InvokeId"], **{"InstanceId.1": ids["web-2"]})
        [r] = wait_result(api, body["InvokeId"])
        assert r["InvocationStatus"] == "Cancelled"
        inv = api("DescribeInvocations", RegionId="cn-hangzhou", InvokeId=body["InvokeId"])
        assert inv["Invocations"]["Invocation"][0]["InvocationStatus"] == "Stopped"
    finally:
        emu.set_instance(ids["web-2"], agent="online")
    assert error_of(api, "StopInvocation", RegionId="cn-hangzhou", InvokeId="t-nope") == (
        "InvalidInvokeId.NotFound", 404)


def test_agent_offline_aborts(emu: EmulatorProcess, api: Api, ids: dict[str, str]) -> None:
    emu.set_instance(ids["db-1"], agent="offline")
    try:
        [r] = run(api, [ids["db-1"]], "echo hi")
    finally:
        emu.set_instance(ids["db-1"], agent="online")
    assert (r["InvocationStatus"], r["InvokeRecordStatus"], r["ErrorCode"]) == ("Aborted", "Failed",
                                                                                "ClientNotResponse")
    assert r["ErrorInfo"] == "the aliyun service in the instance does not response"


def test_user_and_directory(emu: EmulatorProcess, api: Api, ids: dict[str, str]) -> None:
    [r] = run(api, [ids["web-1"]], "id -un; pwd", Username="nobody", WorkingDir="/tmp")
    assert output(r) == "nobody\n/tmp\n"
    [r] = run(api, [ids["web-1"]], "true", Username="no-such-user")
    assert (r["InvocationStatus"], r["ErrorCode"]) == ("Invalid", "AccountNotExists")
    [r] = run(api, [ids["web-1"]], "true", WorkingDir="/no/such/dir")
    assert (r["InvocationStatus"], r["ErrorCode"]) == ("Invalid", "DirectoryNotExists")


def test_client_token_idempotency(emu: EmulatorProcess, api: Api, ids: dict[str, str]) -> None:
    args = {"RegionId": "cn-hangzhou", "Type": "RunShellScript", "InstanceId.1": ids["web-1"],
            "CommandContent": "echo x >> /root/token-runs", "ClientToken": "tok-1"}
    first = api("RunCommand", **args)
    second = api("RunCommand", **args)
    assert first["InvokeId"] == second["InvokeId"] and first["RequestId"] != second["RequestId"]
    wait_result(api, first["InvokeId"])
    assert emu.exec(ids["web-1"], "cat /root/token-runs")["stdout"] == "x\n"
    assert error_of(api, "RunCommand", **{**args, "CommandContent": "echo y"}) == (
        "IdempotentParameterMismatch", 400)


def test_parameters(api: Api, ids: dict[str, str]) -> None:
    [r] = run(api, [ids["web-1"]], "echo {{greeting}} {{ ACS::InstanceId }}", EnableParameter="TRUE",
              Parameters=json.dumps({"greeting": "hello"}))
    assert output(r) == f"hello {ids['web-1']}\n"
    assert error_of(api, "RunCommand", RegionId="cn-hangzhou", Type="RunShellScript", CommandContent="echo",
                    Parameters="{'a': 1}", EnableParameter="true", **{"InstanceId.1": ids["web-1"]})[0] == \
        "InvalidParameter.Parameters"


@pytest.mark.parametrize(("params", "expected"), [
    ({"CommandContent": "x" * 18433}, ("CmdContent.ExceedLimit", 403)),  # base64 form > 24 KB
    ({"CommandContent": "x" * 13825, "KeepCommand": "true"}, ("CmdContent.ExceedLimit", 403)),  # > 18 KB
    ({"Type": "RunFooScript"}, ("InvalidCmdType.NotFound", 404)),
    ({"InstanceId.1": None}, ("MissingParam.InstanceId", 400)),
    ({"Name": "n" * 129}, ("CmdName.ExceedLimit", 403)),
    ({"Username": "u" * 256}, ("Username.ExceedLimit", 403)),
    ({"WorkingDir": "/" * 201}, ("InvalidParameter.WorkingDir", 400)),
    ({"Timeout": "86401"}, ("InvalidTimeout.ExceedLimit", 403)),
    ({"Timeout": "abc"}, ("InvalidParameter.Timeout", 400)),  # not a number: the generic error, docs/api-contract.md#api-error-codes
    ({"CommandContent": " ".join(f"{{{{p{n}}}}}" for n in range(21)), "EnableParameter": "true"},
     ("CmdParamCount.ExceedLimit", 403)),  # the count check comes before Parameter.MissingValue, as in CreateCommand
    ({"Parameters": "{}"}, ("Parameter.Disabled", 400)),
    ({"ClientToken": "t" * 65}, ("InvalidClientToken.Malformed", 400)),
    ({"InstanceId.1": "i-doesnotexist"}, ("InvalidInstance.NotFound", 404)),
    ({"InstanceId.1": "stopped-1"}, ("InvalidInstance.NotMatch", 400)),
    ({"Type": "RunBatScript"}, ("InvalidInstance.NotMatch", 400)),
])
def test_limits(api: Api, ids: dict[str, str], params: dict[str, Any], expected: tuple[str, int]) -> None:
    args = {"RegionId": "cn-hangzhou", "Type": "RunShellScript", "CommandContent": "true",
            "InstanceId.1": ids["web-1"], **params}
    if args["InstanceId.1"] in ids:
        args["InstanceId.1"] = ids[args["InstanceId.1"]]
    args = {k: v for k, v in args.items() if v is not None}
    assert error_of(api, "RunCommand", **args) == expected


def test_instance_limit_and_content_at_limit(api: Api, ids: dict[str, str]) -> None:
    many = {f"InstanceId.{n}": f"i-{n:020d}" for n in range(1, 102)}
    assert error_of(api, "RunCommand", RegionId="cn-hangzhou", Type="RunShellScript", CommandContent="true",
                    **many) == ("InstanceIds.ExceedLimit", 403)
    at_limit = "#" * 18430 + "\n:"  # base64 form exactly 24576 bytes
    [r] = run(api, [ids["web-1"]], at_limit)
    assert r["InvocationStatus"] == "Success"


def test_unknown_invoke_is_empty_and_pagination(api: Api, ids: dict[str, str]) -> None:
    body = api("DescribeInvocations", RegionId="cn-hangzhou", InvokeId="t-unknown")
    assert body["Invocations"]["Invocation"] == [] and body["TotalCount"] == 0
    body = api("DescribeInvocationResults", RegionId="cn-hangzhou", InvokeId="t-unknown")
    assert body["Invocation"]["InvocationResults"]["InvocationResult"] == []
    seen, token = [], None
    while True:
        extra = {"NextToken": token} if token else {}
        page = api("DescribeInvocations", RegionId="cn-hangzhou", MaxResults=2, **extra)
        seen += [i["InvokeId"] for i in page["Invocations"]["Invocation"]]
        token = page["NextToken"]
        if not token:
            break
    total = api("DescribeInvocations", RegionId="cn-hangzhou", PageSize=50)
    assert seen == [i["InvokeId"] for i in total["Invocations"]["Invocation"]] and len(seen) == total["TotalCount"]
    page = api("DescribeInvocationResults", RegionId="cn-hangzhou", InstanceId=ids["web-1"], PageSize=1,
               PageNumber=2)
    assert (page["Invocation"]["PageNumber"], page["Invocation"]["PageSize"]) == (2, 1)
    assert len(page["Invocation"]["InvocationResults"]["InvocationResult"]) == 1
    assert error_of(api, "DescribeInvocations", RegionId="cn-hangzhou", PageSize=51) == ("InvalidParam.PageSize", 400)
    assert error_of(api, "DescribeInvocations", RegionId="cn-hangzhou", MaxResults=0)[0] == \
        "InvalidParameter.MaxResults"
    assert error_of(api, "DescribeInvocations", RegionId="cn-hangzhou", NextToken="junk")[0] == \
        "InvalidParameter.NextToken"
