"""SendFile / DescribeSendFileResults: bytes land inside the instance with mode and owner; limits."""
from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException

from emulator.testing import EmulatorProcess, wait_for

Api = Callable[..., dict[str, Any]]


def send(api: Api, instance_id: str, **params: Any) -> dict[str, Any]:
    """SendFile then poll DescribeSendFileResults until the batch is no longer Pending/Running."""
    body = api("SendFile", RegionId="cn-hangzhou", **{"InstanceId.1": instance_id}, **params)
    assert body["InvokeId"].startswith("f-")

    def ended() -> dict[str, Any] | None:
        res = api("DescribeSendFileResults", RegionId="cn-hangzhou", InvokeId=body["InvokeId"])
        inv = res["Invocations"]["Invocation"][0]
        return inv if inv["InvocationStatus"] not in ("Pending", "Running") else None
    return wait_for(ended, f"file delivery {body['InvokeId']} to end")


def test_binary_file_with_mode_and_owner(emu: EmulatorProcess, api: Api, ids: dict[str, str]) -> None:
    payload = bytes(range(256)) * 4
    inv = send(api, ids["web-1"], Name="blob.bin", TargetDir="/opt/new/dir", ContentType="Base64",
               Content=base64.b64encode(payload).decode(), FileMode="0640", FileOwner="nobody",
               FileGroup="nogroup")
    assert (inv["InvocationStatus"], inv["VmCount"], inv["FileMode"], inv["Overwrite"]) == ("Success", 1, "0640",
                                                                                            False)
    [one] = inv["InvokeInstances"]["InvokeInstance"]
    assert (one["InvocationStatus"], one["ErrorCode"]) == ("Success", "")
    out = emu.exec(ids["web-1"], "stat -c '%a %U %G %s' /opt/new/dir/blob.bin; sha256sum < /opt/new/dir/blob.bin")
    import hashlib
    assert out["stdout"].splitlines() == ["640 nobody nogroup 1024", f"{hashlib.sha256(payload).hexdigest()}  -"]


def test_overwrite(emu: EmulatorProcess, api: Api, ids: dict[str, str]) -> None:
    assert send(api, ids["web-2"], Name="emulator-motd", TargetDir="/etc", Content="one\n")["InvocationStatus"] == "Success"
    inv = send(api, ids["web-2"], Name="emulator-motd", TargetDir="/etc", Content="two\n")
    [one] = inv["InvokeInstances"]["InvokeInstance"]
    assert (inv["InvocationStatus"], one["ErrorCode"], one["ErrorInfo"]) == ("Failed", "FileAlreadyExists",
                                                                             "File already exists")
    send(api, ids["web-2"], Name="emulator-motd", TargetDir="/etc", Content="two\n", Overwrite="true")
    assert emu.exec(ids["web-2"], "cat /etc/emulator-motd")["stdout"] == "two\n"


def test_bad_owner_is_invalid(api: Api, ids: dict[str, str]) -> None:
    inv = send(api, ids["web-1"], Name="x", TargetDir="/tmp", Content="x", FileOwner="ghost")
    one = inv["InvokeInstances"]["InvokeInstance"][0]
    assert (one["InvocationStatus"], one["ErrorCode"], one["ErrorInfo"]) == ("Invalid", "UserGroupNotExists",
                                                                             "Owner not exists")


@pytest.mark.parametrize(("params", "expected"), [
    ({"Content": "x" * 24577}, ("FileSize.ExceedLimit", 403)),  # base64 form > 32 KB
    ({"ContentType": "Base64", "Content": "!!notbase64"}, ("FileContent.DecodeError", 400)),
    ({"ContentType": "Zip"}, ("FileContentType.Invalid", 400)),
    ({"FileMode": "rwx"}, ("FileMode.Invalid", 400)),
    ({"TargetDir": "relative"}, ("FileTargetDir.Invalid", 400)),
    ({"Name": "n" * 256}, ("FileName.ExceedLimit", 403)),
])
def test_limits(api: Api, ids: dict[str, str], params: dict[str, Any], expected: tuple[str, int]) -> None:
    args = {"RegionId": "cn-hangzhou", "InstanceId.1": ids["web-1"], "Name": "f", "TargetDir": "/tmp",
            "Content": "x", **params}
    with pytest.raises(ServerException) as exc:
        api("SendFile", **args)
    assert (exc.value.get_error_code(), exc.value.get_http_status()) == expected


def test_instance_limit(api: Api) -> None:
    many = {f"InstanceId.{n}": f"i-{n:020d}" for n in range(1, 52)}
    with pytest.raises(ServerException) as exc:
        api("SendFile", RegionId="cn-hangzhou", Name="f", TargetDir="/tmp", Content="x", **many)
    assert exc.value.get_error_code() == "InstanceIds.ExceedLimit"
