"""send_files without an API: input checks, the probe script and its parsing, the install command, and
waiting on DescribeSendFileResults against a scripted clock."""

from __future__ import annotations

import hashlib
import os
import subprocess

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.services import send_files as files


def spec(**overrides) -> files.FileSpec:
    return files.FileSpec(**{"data": b"hello\n", "name": "f.txt", "target_dir": "/tmp", **overrides})


@pytest.mark.parametrize(("overrides", "ids", "message"), [
    ({}, [], "instance_ids is empty"),
    ({"name": ".."}, ["i-1"], "name must be a file name"),
    ({"name": "n" * 256}, ["i-1"], "name must be a file name"),
    ({"target_dir": "/" + "d" * 255}, ["i-1"], "target_dir must be an absolute path"),
    ({"mode": "0o644"}, ["i-1"], "mode must be"),
    ({"group": "g:x"}, ["i-1"], "group must be"),
    ({"timeout": 86401}, ["i-1"], "timeout must be between"),
])
def test_check_spec_names_the_option(overrides, ids, message) -> None:
    with pytest.raises(ValueError, match=message):
        files.check_spec(spec(**overrides), ids)


def test_sendfile_limit_is_24_kb_of_data() -> None:
    assert spec(data=b"x" * 24576).fits_sendfile and not spec(data=b"x" * 24577).fits_sendfile


def run_sh(script: bytes | str, stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run(["/bin/sh", "-c", script], input=stdin, capture_output=True, check=False)


def test_probe_script_and_parser_agree_on_a_real_file(tmp_path) -> None:
    target = tmp_path / "f.txt"
    wanted = spec(target_dir=str(tmp_path), mode="0640")
    absent = files.parse_probe(run_sh(files.probe_script(wanted.path, True)).stdout)
    assert not absent.exists and not absent.matches(wanted)
    target.write_bytes(b"hello\n")
    os.chmod(target, 0o640)
    found = files.parse_probe(run_sh(files.probe_script(wanted.path, True)).stdout)
    assert found.sha256 == hashlib.sha256(b"hello\n").hexdigest() and found.content == b"hello\n"
    assert found.matches(wanted) and not found.matches(spec(target_dir=str(tmp_path), mode="0644"))
    assert found.summary()["mode"] == "0640"
    assert files.parse_probe(run_sh(files.probe_script(str(tmp_path), False)).stdout) == files.RemoteFile(exists=True)
    with pytest.raises(ValueError):
        files.parse_probe(b"garbage")


def test_install_command_writes_atomically_and_reports_sendfile_codes(tmp_path) -> None:
    wanted = spec(target_dir=str(tmp_path / "new dir"), mode="0600", data=b"\x00\x01 data")
    done = run_sh(files.install_command(wanted), wanted.data)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "new dir" / "f.txt").read_bytes() == wanted.data
    assert oct(os.stat(tmp_path / "new dir" / "f.txt").st_mode & 0o777) == "0o600"
    assert os.listdir(tmp_path / "new dir") == ["f.txt"]
    refused = run_sh(files.install_command(spec(target_dir=str(tmp_path / "new dir"), overwrite=False)), b"x")
    assert refused.returncode == 70 and refused.stderr.startswith(b"FileAlreadyExists: ")
    nobody = run_sh(files.install_command(spec(target_dir=str(tmp_path), owner="no-such-user-here")), b"x")
    assert nobody.stderr.strip() == b"UserGroupNotExists: Owner not exists"


class FileResults:
    """DescribeSendFileResults answering Running a number of times, then each instance's final status."""

    def __init__(self, running: int, final: dict[str, str]) -> None:
        self.running = running
        self.final = final
        self.calls: list[str] = []

    def call(self, action: str, **params):
        self.calls.append(action)
        if action == "SendFile":
            assert len(params["InstanceId"]) <= files.SENDFILE_INSTANCES_MAX
            return {"InvokeId": f"f-{len(self.calls)}"}
        polls = self.calls.count("DescribeSendFileResults")
        instances = [{"InstanceId": instance_id, "InvocationStatus": "Running" if polls <= self.running else status,
                      "ErrorCode": "" if status == "Success" else "ClientNotResponse"}
                     for instance_id, status in self.final.items()]
        return {"Invocations": {"Invocation": [{"InvokeId": params["InvokeId"],
                                                "InvokeInstances": {"InvokeInstance": instances}}]}}


def clock_pair():
    now = [0.0]
    return (lambda: now[0]), (lambda seconds: now.__setitem__(0, now[0] + seconds))


def test_send_small_waits_until_every_instance_is_done() -> None:
    client = FileResults(running=2, final={"i-1": "Success", "i-2": "Aborted"})
    clock, sleep = clock_pair()
    done = files.send_small(client, ["i-1", "i-2"], spec(), deadline=100, clock=clock, sleep=sleep)
    assert (done["i-1"]["status"], done["i-1"]["changed"]) == ("Success", True)
    assert (done["i-2"]["status"], done["i-2"]["error_code"]) == ("Aborted", "ClientNotResponse")
    assert client.calls == ["SendFile"] + ["DescribeSendFileResults"] * 3


def test_send_small_splits_into_calls_of_at_most_50_instances() -> None:
    ids = [f"i-{index}" for index in range(120)]
    client = FileResults(running=0, final=dict.fromkeys(ids, "Success"))
    clock, sleep = clock_pair()
    done = files.send_small(client, ids, spec(), deadline=100, clock=clock, sleep=sleep)
    assert client.calls.count("SendFile") == 3 and len(done) == 120


def test_send_small_reports_what_did_not_finish_by_the_deadline() -> None:
    client = FileResults(running=10**6, final={"i-1": "Success"})
    clock, sleep = clock_pair()
    done = files.send_small(client, ["i-1"], spec(), deadline=5, clock=clock, sleep=sleep)
    assert (done["i-1"]["status"], done["i-1"]["error_code"]) == ("Timeout", "WaitTimeout")
    assert clock() == pytest.approx(5)


def test_is_text() -> None:
    assert files.is_text("héllo\n".encode())
    assert not files.is_text(b"a\0b") and not files.is_text(b"\xff") and not files.is_text(b"x" * 8193)
