"""send_files without an API: input checks, the probe script and its parsing, the install command, and
waiting on DescribeSendFileResults against a scripted clock."""

from __future__ import annotations

import base64
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


def probe(wanted: files.FileSpec, with_content: bool = True) -> tuple[files.RemoteFile, bytes]:
    done = run_sh(files.probe_script(wanted, with_content))
    assert done.returncode == 0, done.stderr
    return files.parse_probe(done.stdout), done.stdout


NOBODY = 65534


def test_probe_script_and_parser_agree_on_a_real_file(tmp_path) -> None:
    target = tmp_path / "f.txt"
    wanted = spec(target_dir=str(tmp_path), mode="0640")
    absent, _out = probe(wanted)
    assert not absent.exists and not absent.matches(wanted) and absent.directory == "private" and not absent.missing
    target.write_bytes(b"hello\n")
    os.chmod(target, 0o640)
    found, _out = probe(wanted)
    assert found.sha256 == hashlib.sha256(b"hello\n").hexdigest() and found.content == b"hello\n"
    assert found.matches(wanted) and not found.matches(spec(target_dir=str(tmp_path), mode="0644"))
    assert found.summary()["mode"] == "0640"
    other, _out = probe(spec(target_dir=str(tmp_path.parent), name=tmp_path.name), False)
    assert other.exists and not other.regular
    assert probe(spec(target_dir=str(tmp_path / "not" / "yet")))[0].directory == "private"
    assert probe(spec(owner="no-such-user-here"))[0].missing == "Owner"
    assert probe(spec(group="no-such-group-here"))[0].missing == "Group"
    with pytest.raises(ValueError):
        files.parse_probe(b"garbage")


def test_probe_reports_a_link_and_never_prints_the_file_it_points_to(tmp_path) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(b"root-only secret\n")
    (tmp_path / "f.txt").symlink_to(secret)
    found, out = probe(spec(target_dir=str(tmp_path)))
    assert found.link and found.summary() == {"exists": True, "regular": False, "link": True}
    assert b"secret" not in out and base64.b64encode(secret.read_bytes()) not in out
    verdict = files.verdict("i-1", spec(target_dir=str(tmp_path)), found)
    assert (verdict["status"], verdict["error_code"]) == ("Failed", "UnsafePath")
    assert verdict["error_info"].startswith(f"{tmp_path}/f.txt is a symbolic link")


def test_probe_shows_no_body_from_a_directory_another_user_can_change(tmp_path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "f.txt").write_bytes(b"hello\n")
    os.chown(home, NOBODY, NOBODY)
    found, out = probe(spec(target_dir=str(home)))
    assert found.directory == "shared" and found.regular and found.content is None and b"ACE-BODY" not in out
    assert found.sha256 == hashlib.sha256(b"hello\n").hexdigest()
    assert not files.by_sendfile(spec(target_dir=str(home)), found)


@pytest.mark.parametrize("planted", ["owner", "link"])
def test_probe_and_install_refuse_a_path_another_user_can_change_above_the_directory(tmp_path, planted) -> None:
    owned = tmp_path / "owned"
    owned.mkdir()
    os.chown(owned, NOBODY, NOBODY)
    if planted == "owner":
        target_dir, named = owned / "sub", str(owned)
    else:
        (tmp_path / "real").mkdir()
        (tmp_path / "via").symlink_to(tmp_path / "real")
        os.lchown(tmp_path / "via", NOBODY, NOBODY)
        target_dir, named = tmp_path / "via" / "sub", str(tmp_path / "via")
    wanted = spec(target_dir=str(target_dir))
    found, _out = probe(wanted)
    assert found.directory == "unsafe" and named in found.why
    verdict = files.verdict("i-1", wanted, found)
    assert verdict["error_code"] == "UnsafePath" and named in verdict["error_info"]
    refused = run_sh(files.install_command(wanted), b"x")
    assert refused.returncode == 70 and refused.stderr.startswith(b"UnsafePath: ") and named.encode() in refused.stderr
    assert not target_dir.exists()


def test_install_command_writes_atomically_and_reports_sendfile_codes(tmp_path) -> None:
    wanted = spec(target_dir=str(tmp_path / "new dir"), mode="0600", data=b"\x00\x01 data")
    done = run_sh(files.install_command(wanted), wanted.data)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "new dir" / "f.txt").read_bytes() == wanted.data
    assert oct(os.stat(tmp_path / "new dir" / "f.txt").st_mode & 0o777) == "0o600"
    assert oct(os.stat(tmp_path / "new dir").st_mode & 0o7777) == "0o755"
    assert os.listdir(tmp_path / "new dir") == ["f.txt"]
    refused = run_sh(files.install_command(spec(target_dir=str(tmp_path / "new dir"), overwrite=False)), b"x")
    assert refused.returncode == 70 and refused.stderr.startswith(b"FileAlreadyExists: ")
    nobody = run_sh(files.install_command(spec(target_dir=str(tmp_path), owner="no-such-user-here")), b"x")
    assert nobody.stderr.strip() == b"UserGroupNotExists: Owner not exists"
    (tmp_path / "new dir" / "d").mkdir()
    onto_dir = run_sh(files.install_command(spec(target_dir=str(tmp_path / "new dir"), name="d")), b"x")
    assert onto_dir.stderr.strip() == f"FilePathInvalid: {tmp_path}/new dir/d is a directory".encode()
    setuid = spec(target_dir=str(tmp_path), mode="4755", owner=str(NOBODY))
    assert run_sh(files.install_command(setuid), b"#!/bin/sh\n").returncode == 0
    assert os.stat(tmp_path / "f.txt").st_mode & 0o7777 == 0o4755 and os.stat(tmp_path / "f.txt").st_uid == NOBODY


def test_links_root_owns_on_the_way_are_followed_like_the_kernel_does(tmp_path) -> None:
    """Like /lib -> usr/lib on a merged-/usr system: a root link in a root directory is no reason to refuse."""
    (tmp_path / "usr" / "lib").mkdir(parents=True)
    (tmp_path / "lib").symlink_to("usr/lib")
    (tmp_path / "up").symlink_to(f"{tmp_path}/usr/lib/../lib/.")
    for via in ("lib", "up"):
        wanted = spec(target_dir=f"{tmp_path}/{via}/conf.d", name=f"{via}.conf")
        assert probe(wanted)[0].directory == "private"
        done = run_sh(files.install_command(wanted), b"x")
        assert done.returncode == 0, done.stderr
        assert (tmp_path / "usr" / "lib" / "conf.d" / f"{via}.conf").read_bytes() == b"x"


def test_install_in_another_users_directory_replaces_a_planted_link_and_leaves_its_target(tmp_path) -> None:
    """The user who owns the directory planted f.txt -> a root file: the write goes to a private directory
    made in the parent, then one rename replaces the link itself."""
    victim = tmp_path / "victim"
    victim.write_bytes(b"root's\n")
    home = tmp_path / "home"
    home.mkdir()
    (home / "f.txt").symlink_to(victim)
    os.lchown(home / "f.txt", NOBODY, NOBODY)
    os.chown(home, NOBODY, NOBODY)
    wanted = spec(target_dir=str(home), owner=str(NOBODY), group=str(NOBODY), mode="0640")
    done = run_sh(files.install_command(wanted), b"new\n")
    assert done.returncode == 0, done.stderr
    assert victim.read_bytes() == b"root's\n" and os.stat(victim).st_uid == 0
    written = os.lstat(home / "f.txt")
    assert (home / "f.txt").read_bytes() == b"new\n" and not os.path.islink(home / "f.txt")
    assert (written.st_uid, written.st_gid, written.st_mode & 0o7777) == (NOBODY, NOBODY, 0o640)
    assert sorted(os.listdir(tmp_path)) == ["home", "victim"]  # the private directory is gone
    (home / "g.txt").symlink_to(victim)
    kept = run_sh(files.install_command(spec(target_dir=str(home), name="g.txt", overwrite=False)), b"x")
    assert kept.stderr.startswith(b"FileAlreadyExists: ") and victim.read_bytes() == b"root's\n"


def test_by_sendfile_only_where_the_agent_writes_exactly_this_file_safely() -> None:
    private = files.RemoteFile(exists=False)
    assert files.by_sendfile(spec(), private)
    assert not files.by_sendfile(spec(), files.RemoteFile(exists=False, directory="shared"))
    assert not files.by_sendfile(spec(mode="4755"), private)      # the agent drops special bits
    assert not files.by_sendfile(spec(owner="1000"), private)     # and looks owners up by name only
    assert not files.by_sendfile(spec(data=b""), private)         # and refuses empty content
    someone_elses = files.RemoteFile(exists=True, regular=True, uid="1000", gid="1000")
    assert not files.by_sendfile(spec(), someone_elses)           # root:root skips chown
    assert files.by_sendfile(spec(owner="app", group="app"), someone_elses)


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
