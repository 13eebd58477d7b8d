"""SendFile / DescribeSendFileResults: bytes land inside the instance with mode and owner; limits.

What happens on the instance follows the agent, aliyun/aliyun_assist_client agent/taskengine/sendfile.go
(release branch, 2.x.3.578): empty content and a mode that is not 3 or 4 octal digits are Invalid; the target
directory is made with MkdirAll (0777 under the service's umask, root's, links followed); the file is written in
place with ioutil.WriteFile (a link is followed, an existing file keeps its inode), then os.Chmod with a Go
FileMode built from the octal number (only the permission bits reach chmod); chown comes last and is skipped
when owner and group are both root or both empty; an unknown owner is Invalid after the file was written.
"""
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
    # sendfile.go: EFileAlreadyExist is reported through the invalid-task call, not as a failed write
    assert (one["InvocationStatus"], one["ErrorCode"], one["ErrorInfo"]) == ("Invalid", "FileAlreadyExists",
                                                                             "File already exists")
    assert emu.exec(ids["web-2"], "cat /etc/emulator-motd")["stdout"] == "one\n"
    send(api, ids["web-2"], Name="emulator-motd", TargetDir="/etc", Content="two\n", Overwrite="true")
    assert emu.exec(ids["web-2"], "cat /etc/emulator-motd")["stdout"] == "two\n"


def test_bad_owner_is_invalid_after_the_file_was_written_as_root(
        emu: EmulatorProcess, api: Api, ids: dict[str, str]) -> None:
    """sendfile.go looks the owner up in changeFileOwner, after writeFile: the file stays, root's."""
    inv = send(api, ids["web-1"], Name="x", TargetDir="/opt/ghost", Content="x", FileOwner="ghost", FileMode="0640")
    one = inv["InvokeInstances"]["InvokeInstance"][0]
    assert (one["InvocationStatus"], one["ErrorCode"], one["ErrorInfo"]) == ("Invalid", "UserGroupNotExists",
                                                                             "Owner not exists")
    assert emu.exec(ids["web-1"], "stat -c '%U %G %a' /opt/ghost/x; cat /opt/ghost/x")["stdout"] == "root root 640\nx"
    inv = send(api, ids["web-1"], Name="y", TargetDir="/opt/ghost", Content="y", FileOwner="nobody",
               FileGroup="no-such-group")
    one = inv["InvokeInstances"]["InvokeInstance"][0]
    assert (one["InvocationStatus"], one["ErrorInfo"]) == ("Invalid", "Group not exists")
    assert emu.exec(ids["web-1"], "stat -c '%U %G' /opt/ghost/y")["stdout"] == "root root\n"


def test_numeric_owner_is_looked_up_as_a_name(emu: EmulatorProcess, api: Api, ids: dict[str, str]) -> None:
    """sendfile.go uses user.Lookup (by name): an owner given as a number is unknown unless a user has that name."""
    inv = send(api, ids["web-1"], Name="n", TargetDir="/opt/numeric", Content="n", FileOwner="65534",
               FileGroup="65534")
    one = inv["InvokeInstances"]["InvokeInstance"][0]
    assert (one["InvocationStatus"], one["ErrorInfo"]) == ("Invalid", "Owner not exists")


def test_existing_file_is_written_in_place(emu: EmulatorProcess, api: Api, ids: dict[str, str]) -> None:
    """(a) ioutil.WriteFile truncates and writes the existing file: same inode, no temporary name."""
    emu.exec(ids["web-1"], "mkdir -p /opt/inplace && echo old > /opt/inplace/f && ln /opt/inplace/f /opt/inplace/g")
    before = emu.exec(ids["web-1"], "stat -c %i /opt/inplace/f")["stdout"]
    assert send(api, ids["web-1"], Name="f", TargetDir="/opt/inplace", Content="new\n",
                Overwrite="true")["InvocationStatus"] == "Success"
    out = emu.exec(ids["web-1"], "stat -c %i /opt/inplace/f; cat /opt/inplace/g; ls -A /opt/inplace")["stdout"]
    assert out == f"{before}new\nf\ng\n"


def test_special_bits_are_dropped(emu: EmulatorProcess, api: Api, ids: dict[str, str]) -> None:
    """(b) os.Chmod gets os.FileMode(0o6755): Go maps only its own ModeSetuid/ModeSetgid/ModeSticky flags to
    the special bits, so chmod receives 0755."""
    for mode, name in (("6755", "suid"), ("1777", "sticky")):
        assert send(api, ids["web-1"], Name=name, TargetDir="/opt/bits", Content="#!/bin/sh\n",
                    FileMode=mode)["InvocationStatus"] == "Success"
    assert emu.exec(ids["web-1"], "stat -c %a /opt/bits/suid /opt/bits/sticky")["stdout"] == "755\n777\n"


@pytest.mark.parametrize(("owner", "group"), [("root", "root"), ("", "")])
def test_chown_is_skipped_for_root_or_empty(
        emu: EmulatorProcess, api: Api, ids: dict[str, str], owner: str, group: str) -> None:
    """(c) changeFileOwner returns before chown when owner and group are both root or both empty: an existing
    file keeps its owner."""
    emu.exec(ids["web-2"], "mkdir -p /opt/keep && echo old > /opt/keep/f && chown nobody:nogroup /opt/keep/f")
    inv = send(api, ids["web-2"], Name="f", TargetDir="/opt/keep", Content="new\n", Overwrite="true",
               FileOwner=owner, FileGroup=group, FileMode="0600")
    assert inv["InvocationStatus"] == "Success"
    assert emu.exec(ids["web-2"], "stat -c '%U %G %a' /opt/keep/f; cat /opt/keep/f")["stdout"] == (
        "nobody nogroup 600\nnew\n")


def test_existing_file_or_link_without_overwrite_is_invalid(
        emu: EmulatorProcess, api: Api, ids: dict[str, str]) -> None:
    """(d) writeFile checks existence with os.Lstat: a dangling link counts as an existing file."""
    emu.exec(ids["web-2"], "mkdir -p /opt/exists && ln -sfn /nowhere /opt/exists/dangling")
    inv = send(api, ids["web-2"], Name="dangling", TargetDir="/opt/exists", Content="x")
    one = inv["InvokeInstances"]["InvokeInstance"][0]
    assert (one["InvocationStatus"], one["ErrorCode"]) == ("Invalid", "FileAlreadyExists")
    assert emu.exec(ids["web-2"], "test -e /nowhere")["exit_code"] != 0


def test_empty_content_is_invalid(emu: EmulatorProcess, api: Api, ids: dict[str, str]) -> None:
    """(e) sendFile returns EEmptyContent before anything is made. ⚠ the server may refuse it first."""
    inv = send(api, ids["web-2"], Name="empty", TargetDir="/opt/empty", Content="")
    one = inv["InvokeInstances"]["InvokeInstance"][0]
    assert (one["InvocationStatus"], one["ErrorCode"], one["ErrorInfo"]) == ("Invalid", "FileContentInvalid",
                                                                             "File content is empty")
    assert emu.exec(ids["web-2"], "test -e /opt/empty")["exit_code"] != 0


@pytest.mark.parametrize("mode", ["0999", "12345", "64"])
def test_invalid_mode_is_invalid_after_the_directory_was_made(
        emu: EmulatorProcess, api: Api, ids: dict[str, str], mode: str) -> None:
    """(f) the mode is checked (3 or 4 characters, octal) after MkdirAll and before the write."""
    inv = send(api, ids["web-2"], Name="m", TargetDir=f"/opt/mode{mode}", Content="x", FileMode=mode)
    one = inv["InvokeInstances"]["InvokeInstance"][0]
    assert (one["InvocationStatus"], one["ErrorCode"], one["ErrorInfo"]) == ("Invalid", "FileAuthorityInvalid",
                                                                             "Mode is invalid")
    assert emu.exec(ids["web-2"], f"test -d /opt/mode{mode} && test ! -e /opt/mode{mode}/m")["exit_code"] == 0


def test_missing_directories_are_roots_0755_and_links_are_followed(
        emu: EmulatorProcess, api: Api, ids: dict[str, str]) -> None:
    """MkdirAll makes every missing level root's, 0777 less the service's 022 umask ⚠; it follows a link to a
    directory, and WriteFile follows a link at the target name (the file it points to is written)."""
    emu.exec(ids["db-1"], "umask 077; mkdir -p /opt/real && ln -sfn /opt/real /opt/alias && echo old > /opt/real/t "
                          "&& ln -sfn /opt/real/t /opt/real/link")
    assert send(api, ids["db-1"], Name="f", TargetDir="/opt/made/a/b", Content="x", FileOwner="nobody",
                FileGroup="nogroup")["InvocationStatus"] == "Success"
    out = emu.exec(ids["db-1"], "stat -c '%a %U %G' /opt/made /opt/made/a /opt/made/a/b /opt/made/a/b/f")["stdout"]
    assert out == "755 root root\n755 root root\n755 root root\n644 nobody nogroup\n"
    assert send(api, ids["db-1"], Name="link", TargetDir="/opt/alias", Content="through\n", Overwrite="true",
                FileMode="0600")["InvocationStatus"] == "Success"
    out = emu.exec(ids["db-1"], "cat /opt/real/t; stat -c %a /opt/real/t; test -L /opt/real/link && echo link")
    assert out["stdout"] == "through\n600\nlink\n"


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
