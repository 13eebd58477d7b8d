"""alicloud.ecs.send_file end to end: check mode, real writes checked on the instances, idempotence,
large files through the transfer engine, per-instance failures and bad input."""

from __future__ import annotations

import hashlib
import os


def on_instance(emulator, instance_id: str, command: str) -> str:
    done = emulator.exec(instance_id, command)
    assert done["exit_code"] == 0, done
    return done["stdout"]


def test_check_mode_then_send_then_idempotent(ansible, emulator):
    ids = [emulator.instance_id("web-1"), emulator.instance_id("web-2")]
    task = {"instance_ids": ids, "content": "hello\nworld\n", "name": "greeting.txt", "target_dir": "/opt/greet",
            "mode": "0640"}
    emulator.reset_counters()
    checked = ansible.play([{"name": "send", "alicloud.ecs.send_file": task}], check=True, diff=True)
    assert checked.rc == 0, checked.output
    assert checked.outcome("send") == "changed"
    assert [item["status"] for item in checked.result("send")["results"]] == ["Planned", "Planned"]
    assert "+hello" in checked.output and f"{ids[0]}:/opt/greet/greeting.txt" in checked.output
    assert "SendFile" not in emulator.counters()
    assert emulator.exec(ids[0], "test -e /opt/greet/greeting.txt")["exit_code"] != 0

    played = ansible.play([{"name": "send", "alicloud.ecs.send_file": task}])
    assert played.rc == 0, played.output
    result = played.result("send")
    assert result["method"] == "SendFile"
    assert [(item["status"], item["changed"]) for item in result["results"]] == [("Success", True)] * 2
    for instance_id in ids:
        assert on_instance(emulator, instance_id, "cat /opt/greet/greeting.txt") == "hello\nworld\n"
        assert on_instance(emulator, instance_id, "stat -c '%U %G %a' /opt/greet/greeting.txt") == "root root 640\n"

    emulator.reset_counters()
    again = ansible.play([{"name": "send", "alicloud.ecs.send_file": task}])
    assert again.rc == 0 and again.outcome("send") == "ok", again.output
    assert [item["status"] for item in again.result("send")["results"]] == ["Unchanged", "Unchanged"]
    counters = emulator.counters()
    assert "SendFile" not in counters and counters.get("RunCommand") == 1


def test_mode_change_text_diff_and_overwrite_false(ansible, emulator):
    instance_id = emulator.instance_id("db-1")
    base = {"instance_ids": [instance_id], "name": "app.conf", "target_dir": "/etc/app"}
    first = ansible.play([{"name": "first", "alicloud.ecs.send_file": {**base, "content": "port=1\n"}}])
    assert first.rc == 0, first.output

    changed = ansible.play([{"name": "edit", "alicloud.ecs.send_file": {
        **base, "content": "port=2\n", "mode": "0600", "owner": "nobody"}}], diff=True)
    assert changed.rc == 0, changed.output
    assert "-port=1" in changed.output and "+port=2" in changed.output
    assert changed.result("edit")["results"][0]["before"]["mode"] == "0644"
    assert on_instance(emulator, instance_id, "stat -c '%U %a' /etc/app/app.conf; cat /etc/app/app.conf") == (
        "nobody 600\nport=2\n")

    kept = ansible.play([{"name": "keep", "alicloud.ecs.send_file": {
        **base, "content": "port=3\n", "overwrite": False}}])
    assert kept.rc == 0 and kept.outcome("keep") == "ok", kept.output
    assert kept.result("keep")["results"][0]["status"] == "Skipped"
    assert on_instance(emulator, instance_id, "cat /etc/app/app.conf") == "port=2\n"


def test_one_megabyte_file_goes_through_the_transfer_engine(ansible, emulator, tmp_path):
    ids = [emulator.instance_id("web-1"), emulator.instance_id("db-1")]
    source = tmp_path / "payload.bin"
    source.write_bytes(os.urandom(1 << 20))
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    task = {"instance_ids": ids, "src": str(source), "target_dir": "/srv/data", "mode": "0600"}
    played = ansible.play([{"name": "big", "alicloud.ecs.send_file": task}])
    assert played.rc == 0, played.output
    assert played.result("big")["method"] == "chunks" and played.result("big")["sha256"] == digest
    for instance_id in ids:
        assert on_instance(emulator, instance_id, "sha256sum /srv/data/payload.bin | cut -c1-64").strip() == digest
        assert on_instance(emulator, instance_id, "stat -c '%a %s' /srv/data/payload.bin") == f"600 {1 << 20}\n"

    emulator.reset_counters()
    again = ansible.play([{"name": "big", "alicloud.ecs.send_file": task}])
    assert again.rc == 0 and again.outcome("big") == "ok", again.output
    assert "SendFile" not in emulator.counters()


def test_stopped_and_offline_instances_fail_per_instance(ansible, emulator):
    ids = [emulator.instance_id(name) for name in ("web-3", "legacy-1", "dark-1")]
    played = ansible.play([{"name": "fleet", "alicloud.ecs.send_file": {
        "region": "cn-shanghai", "instance_ids": ids, "content": "x\n", "name": "x.txt", "target_dir": "/tmp"}}])
    assert played.rc != 0
    result = played.result("fleet")
    by_id = {item["instance_id"]: item for item in result["results"]}
    assert by_id[ids[0]]["status"] == "Success"
    assert (by_id[ids[1]]["status"], by_id[ids[1]]["error_code"]) == ("Aborted", "InstanceNotRunning")
    assert by_id[ids[2]]["status"] == "Aborted" and by_id[ids[2]]["error_code"] == "ClientNotResponse"
    assert "send_file failed on 2 of 3 instances" in result["msg"] and ids[1] in result["msg"]
    assert on_instance(emulator, ids[0], "cat /tmp/x.txt") == "x\n"


def test_missing_owner_is_the_same_instance_failure_for_small_and_large_files(ansible, emulator):
    instance_id = emulator.instance_id("web-2")
    task = {"instance_ids": [instance_id], "target_dir": "/tmp", "owner": "no-such-user"}
    played = ansible.play([
        {"name": "small", "alicloud.ecs.send_file": {**task, "content": "x", "name": "o.txt"}, "ignore_errors": True},
        {"name": "large", "alicloud.ecs.send_file": {**task, "content": "y" * 40000, "name": "p.txt"},
         "ignore_errors": True}])
    for name, method in (("small", "SendFile"), ("large", "chunks")):
        assert played.outcome(name) == "failed"
        result = played.result(name)
        assert result["method"] == method
        [item] = result["results"]
        assert (item["status"], item["error_code"], item["error_info"]) == (
            "Invalid", "UserGroupNotExists", "Owner not exists"), item
    assert emulator.exec(instance_id, "ls /tmp/o.txt /tmp/p.txt")["exit_code"] != 0


def test_a_path_that_also_exists_on_the_controller_reports_only_the_instance(ansible, emulator, tmp_path):
    """ansible's modules add owner, mode and size of a local file named by ``path``; ours name instance paths."""
    here = tmp_path / "here.txt"
    here.write_text("controller\n")
    instance_id = emulator.instance_id("web-2")
    played = ansible.play([{"name": "send", "alicloud.ecs.send_file": {
        "instance_ids": [instance_id], "content": "instance\n", "name": "here.txt", "target_dir": str(tmp_path)}}])
    result = played.result("send")
    assert result["path"] == str(here) and not {"uid", "owner", "mode", "size"} & set(result)
    assert emulator.exec(instance_id, f"cat {here}")["stdout"] == "instance\n"


def test_unknown_instance_fails_before_anything_is_run(ansible, emulator):
    emulator.reset_counters()
    played = ansible.play([{"name": "ghost", "alicloud.ecs.send_file": {
        "instance_ids": ["i-doesnotexist000000000"], "content": "x", "name": "g", "target_dir": "/tmp"}}])
    assert played.rc != 0
    assert "not found in region cn-hangzhou: i-doesnotexist000000000" in played.result("ghost")["msg"]
    assert set(emulator.counters()) == {"DescribeInstances"}


def test_bad_input_fails_before_any_call(ansible, emulator):
    good = {"instance_ids": ["i-any"], "content": "x", "name": "f", "target_dir": "/tmp"}
    cases = {
        "slash": ({**good, "name": "a/b"}, "name must be a file name"),
        "relative": ({**good, "target_dir": "tmp"}, "target_dir must be an absolute path"),
        "mode": ({**good, "mode": "999"}, "mode must be 3 or 4 octal digits"),
        "owner": ({**good, "owner": "a b"}, "owner must be 1 to 64 characters"),
        "timeout": ({**good, "timeout": 5}, "timeout must be between 10 and 86400"),
        "empty": ({**good, "instance_ids": []}, "instance_ids is empty"),
        "both": ({**good, "src": "/etc/hostname"}, "mutually exclusive"),
        "no name": ({key: value for key, value in good.items() if key != "name"}, "name must be a file name"),
        "src": ({**{key: value for key, value in good.items() if key != "content"}, "src": "/nonexistent/file"},
                "src: cannot read /nonexistent/file"),
    }
    emulator.reset_counters()
    played = ansible.play([{"name": name, "alicloud.ecs.send_file": args, "ignore_errors": True}
                           for name, (args, _message) in cases.items()])
    for name, (_args, message) in cases.items():
        assert played.outcome(name) == "failed", name
        assert message in played.result(name)["msg"], (name, played.result(name)["msg"])
    assert sum(emulator.counters().values()) == 0
