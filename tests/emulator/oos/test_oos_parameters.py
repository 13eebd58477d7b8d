"""OOS parameter store in the emulator, through both signatures (the legacy SDK's CommonRequest, HMAC-SHA1, and the
Tea SDK's ``call_api``, ACS3-HMAC-SHA256), and the agent's resolution of ``{{oos:…}}`` / ``{{oos-secret:…}}``.

Agent facts (aliyun/aliyun_assist_client): agent/util/paramstore/resolveparamstore.go (the pattern, first match
replaced and the search restarted, so a value holding a reference is resolved in turn), agent/util/paramstore/
paramstore.go (GetSecretParameter with WithDecryption=true, the errors RoleNameFailed / ParameterFailed and their
messages), the task engine (resolution after the built-ins, only with EnableParameter, an ``oos-secret`` in the
content marks the script copy for deletion, a failure reports the task Invalid).
"""
from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.client import AcsClient
from emulator_helpers import FLEET, KEY_ID, SECRET, output, sdk_call, wait_result

from emulator.testing import EmulatorProcess

openapi_client = pytest.importorskip("alibabacloud_tea_openapi.client")
openapi = pytest.importorskip("alibabacloud_tea_openapi.models")
util_models = pytest.importorskip("alibabacloud_tea_util.models")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

OOS = "2019-06-01"
Call = Callable[..., dict[str, Any]]


def fleet(allow: list[str] | None) -> dict[str, Any]:
    """The shared test fleet; ``allow`` None → no instance role at all."""
    role = {} if allow is None else {"instance_role": {"name": "instance-role", "allow": allow}}
    return {**FLEET, **role}


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorProcess]:
    """Instances whose role may read both kinds of parameter."""
    with EmulatorProcess(fleet=fleet(["oos:GetParameter", "oos:GetSecretParameter"]), min_timeout=1,
                         delivery_timeout=0.5, progress_interval=0.2) as proc:
        yield proc


def legacy(emu: EmulatorProcess) -> Call:
    """``call(action, **params)`` through the legacy SDK (signature HMAC-SHA1), OOS version."""
    client = AcsClient(KEY_ID, SECRET, "cn-hangzhou", proxy={"http": "", "https": ""})

    def call(action: str, version: str = OOS, **params: Any) -> dict[str, Any]:
        return sdk_call(client, emu.endpoint, action, version=version, RegionId="cn-hangzhou", **params)
    return call


def tea(emu: EmulatorProcess) -> Call:
    """``call(action, **params)`` through the Tea SDK's call_api (signature V3)."""
    client = openapi_client.Client(openapi.Config(
        access_key_id=KEY_ID, access_key_secret=SECRET, protocol="http",
        endpoint=emu.endpoint.removeprefix("http://"), region_id="cn-hangzhou"))

    def call(action: str, version: str = OOS, **query: Any) -> dict[str, Any]:
        params = openapi.Params(action=action, version=version, protocol="HTTP", pathname="/", method="POST",
                                auth_type="AK", style="RPC", req_body_type="formData", body_type="json")
        request = openapi.OpenApiRequest(query={"RegionId": "cn-hangzhou", **{k: str(v) for k, v in query.items()}})
        return client.call_api(params, request, util_models.RuntimeOptions())["body"]
    return call


def error_code(call: Call, action: str, **params: Any) -> str:
    """The error code a refused call carries, whichever SDK raised it."""
    try:
        call(action, **params)
    except ServerException as exc:
        return str(exc.get_error_code())
    except Exception as exc:  # the Tea SDK's ClientException
        return str(getattr(exc, "code", exc))
    raise AssertionError(f"{action} {params} was not refused")


@pytest.mark.parametrize("signature", ["legacy", "tea"])
def test_parameter_lifecycle(emu: EmulatorProcess, signature: str) -> None:
    call = legacy(emu) if signature == "legacy" else tea(emu)
    name, secret = f"app-{signature}", f"db-password-{signature}"
    created = call("CreateParameter", Name=name, Value="v1", Description="plain", Tags=json.dumps({"team": "a"}))
    assert created["Parameter"]["Name"] == name and "Value" not in created["Parameter"]
    assert call("GetParameter", Name=name)["Parameter"]["Value"] == "v1"
    updated = call("UpdateParameter", Name=name, Value="v2")
    assert updated["Parameter"]["ParameterVersion"] == 2
    call("CreateSecretParameter", Name=secret, Value="s3cr3t", KeyId="key-1")
    clear = call("GetSecretParameter", Name=secret, WithDecryption="true")["Parameter"]
    assert (clear["Value"], clear["Type"], clear["KeyId"]) == ("s3cr3t", "Secret", "key-1")
    assert call("GetSecretParameter", Name=secret)["Parameter"]["Value"] != "s3cr3t"
    many = call("GetSecretParameters", Names=json.dumps([secret, "nope"]), WithDecryption="true")
    assert [p["Value"] for p in many["Parameters"]] == ["s3cr3t"] and many["InvalidParameters"] == ["nope"]
    assert [p["Value"] for p in call("GetParameters", Names=json.dumps([name]))["Parameters"]] == ["v2"]
    listed = call("ListSecretParameters", Name=secret)["Parameters"]
    assert [p["Name"] for p in listed] == [secret] and "Value" not in listed[0]
    assert name in [p["Name"] for p in call("ListParameters", MaxResults=100)["Parameters"]]
    assert name not in [p["Name"] for p in call("ListSecretParameters", MaxResults=100)["Parameters"]]
    assert call("UpdateSecretParameter", Name=secret, Value="new")["Parameter"]["ParameterVersion"] == 2
    assert call("DeleteParameter", Name=name) is not None and call("DeleteSecretParameter", Name=secret) is not None
    assert error_code(call, "GetParameter", Name=name) == "EntityNotExists.Parameter"
    assert error_code(call, "DeleteSecretParameter", Name=secret) == "EntityNotExists.Parameter"


@pytest.mark.parametrize("name, value, code", [
    ("x" * 181, "v", "InvalidParameter.Name"),
    ("has space", "v", "InvalidParameter.Name"),
    ("ACS-thing", "v", "InvalidParameter.Name"),
    ("aliyun_x", "v", "InvalidParameter.Name"),
    ("Alibaba1", "v", "InvalidParameter.Name"),
    ("alicloud", "v", "InvalidParameter.Name"),
    ("oos-x", "v", "InvalidParameter.Name"),
    ("ok-name", "v" * 4097, "InvalidParameter.Value"),
])
def test_limits(emu: EmulatorProcess, name: str, value: str, code: str) -> None:
    assert error_code(legacy(emu), "CreateSecretParameter", Name=name, Value=value) == code
    assert error_code(tea(emu), "CreateParameter", Name=name, Value=value) == code


def test_limits_accept_the_edges(emu: EmulatorProcess) -> None:
    call = legacy(emu)
    call("CreateParameter", Name="a/b_c-" + "x" * 174, Value="v" * 4096)
    assert error_code(call, "CreateParameter", Name="a/b_c-" + "x" * 174, Value="v") == "EntityAlreadyExists.Parameter"


def run(emu: EmulatorProcess, script: str, enable: bool = True) -> dict[str, Any]:
    """RunCommand on web-1 with EnableParameter, the final record."""
    def api(action: str, **params: Any) -> dict[str, Any]:
        return legacy(emu)(action, version="2014-05-26", **params)
    body = api("RunCommand", Type="RunShellScript", CommandContent=script, EnableParameter=str(enable).lower(),
               **{"InstanceId.1": emu.instance_id("web-1")})
    [record] = wait_result(lambda action, **p: api(action, **{k: v for k, v in p.items() if k != "RegionId"}),
                           body["InvokeId"])
    return record


def test_agent_resolves_references_repeatedly_and_deletes_the_secret_script(emu: EmulatorProcess) -> None:
    call = tea(emu)
    call("CreateParameter", Name="greeting", Value="hello")
    call("CreateParameter", Name="indirect", Value="{{oos:greeting}} again")
    call("CreateSecretParameter", Name="token", Value='s3cr3t "quoted"')
    record = run(emu, "echo \"$0\"; echo {{ oos : indirect }}; echo '{{oos-secret:token}}'; "
                      "echo {{ACS::InstanceName}}")
    assert record["InvocationStatus"] == "Success", record
    script, *lines = output(record).splitlines()
    assert lines == ["hello again", 's3cr3t "quoted"', "web-1"]
    assert emu.exec(emu.instance_id("web-1"), f"test -e {script}")["exit_code"] == 1  # the copy is gone
    plain = run(emu, "echo \"$0\"; echo {{oos:greeting}}")
    kept = output(plain).splitlines()[0]
    assert emu.exec(emu.instance_id("web-1"), f"test -e {kept}")["exit_code"] == 0  # no secret: kept
    untouched = run(emu, "echo '{{oos:greeting}}'", enable=False)
    assert output(untouched) == "{{oos:greeting}}\n"
    records = legacy(emu)("DescribeInvocations", version="2014-05-26", InvokeId=record["InvokeId"],
                          IncludeOutput="false")
    content = records["Invocations"]["Invocation"][0]["CommandContent"]
    assert "quoted" not in base64.b64decode(content).decode()  # the record holds the reference only


def test_missing_parameter_is_invalid(emu: EmulatorProcess) -> None:
    record = run(emu, "echo {{oos-secret:absent}}")
    assert (record["InvokeRecordStatus"], record["ErrorCode"]) == ("Failed", "ParameterFailed"), record
    assert record["InvocationStatus"] == "Invalid"
    assert "Get secret parameter 'absent' with ecs ram role instance-role failed" in record["ErrorInfo"]


@pytest.mark.parametrize("allow, code, names", [
    (None, "RoleNameFailed", "Get role name failed"),
    (["oos:GetParameter"], "ParameterFailed", "oos:GetSecretParameter"),
])
def test_role_decides_access(allow: list[str] | None, code: str, names: str) -> None:
    with EmulatorProcess(fleet=fleet(allow), min_timeout=1, delivery_timeout=0.5) as other:
        tea(other)("CreateSecretParameter", Name="pw", Value="x")
        tea(other)("CreateParameter", Name="plain", Value="ok")
        record = run(other, "echo {{oos-secret:pw}}")
        assert (record["InvocationStatus"], record["ErrorCode"]) == ("Invalid", code), record
        assert names in record["ErrorInfo"]
        if allow:
            assert output(run(other, "echo {{oos:plain}}")) == "ok\n"


def test_reset_wipes_parameters(emu: EmulatorProcess) -> None:
    """Last in the module: the control API's reset goes back to the fleet file, parameters included."""
    call = legacy(emu)
    call("CreateParameter", Name="before-reset", Value="v")
    emu.reset()
    assert error_code(call, "GetParameter", Name="before-reset") == "EntityNotExists.Parameter"
    assert call("ListSecretParameters")["Parameters"] == []
