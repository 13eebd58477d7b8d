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
    """The look finds the missing owner first: the agent would write the file as root and only then fail
    (agent/taskengine/sendfile.go), so nothing is sent either way."""
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


# -- nothing another user controls is followed (the instance's root does every step) -------------------------

VICTIM = "/etc/alicloud-ecs-victim"
RACE_STOP = "/run/alicloud-ecs-race-stop"


def users_directory(emulator, instance_id: str, directory: str) -> None:
    """``directory`` belongs to nobody (as /home/app belongs to app), next to a root-only file to aim at."""
    on_instance(emulator, instance_id, f"rm -rf {directory} {RACE_STOP}; mkdir -p {directory}"
                f" && chown nobody {directory} && printf 'root secret\\n' > {VICTIM}"
                f" && chmod 0600 {VICTIM} && chown root:root {VICTIM}")


def victim_state(emulator, instance_id: str) -> str:
    return on_instance(emulator, instance_id, f"stat -c '%U %G %a %h' {VICTIM}; cat {VICTIM}")


def test_a_user_racing_in_the_directory_they_own_cannot_aim_the_write_at_a_root_file(ansible, emulator, tmp_path):
    """While send_file writes into /srv/appdir (nobody's) as root, nobody swaps every hidden entry there (a
    temporary name) for a link to a root-only file, as fast as it can, for at most 300 s. Writing a temporary
    name there and then chowning it by name handed that root file to nobody."""
    instance_id = emulator.instance_id("web-2")
    users_directory(emulator, instance_id, "/srv/appdir")
    before = victim_state(emulator, instance_id)
    swap = ("end=$(($(date +%s) + 300)); i=0; while [ ! -e " + RACE_STOP + " ]; do i=$((i+1)); "
            "[ $((i % 5000)) != 0 ] || [ $(date +%s) -lt $end ] || break; "
            "for f in /srv/appdir/.[!.]*; do [ -L \"$f\" ] || [ ! -e \"$f\" ] || "
            "{ ln -sfn " + VICTIM + " /srv/appdir/..swap && mv -fT /srv/appdir/..swap \"$f\"; }; done; done")
    on_instance(emulator, instance_id, f"runuser -u nobody -- setsid sh -c '{swap}' </dev/null >/dev/null 2>&1 &")
    source = tmp_path / "app.bin"
    source.write_bytes(os.urandom(60000))
    task = {"instance_ids": [instance_id], "target_dir": "/srv/appdir", "owner": "nobody", "mode": "0644"}
    sends = [{**task, "src": str(source), "name": f"app-{n}.bin"} for n in range(3)]
    sends += [{**task, "content": "small\n", "name": f"small-{n}.conf"} for n in range(2)]
    try:
        played = ansible.play([{"name": args["name"], "alicloud.ecs.send_file": args, "ignore_errors": True}
                               for args in sends])
    finally:
        on_instance(emulator, instance_id, f"touch {RACE_STOP}")
    assert victim_state(emulator, instance_id) == before == "root root 600 1\nroot secret\n"
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    for args in sends:
        [item] = played.result(args["name"])["results"]
        assert (item["status"], item["method"]) == ("Success", "chunks"), item
        path = f"/srv/appdir/{args['name']}"
        assert on_instance(emulator, instance_id, f"test ! -L {path} && stat -c '%U %a' {path}") == "nobody 644\n"
    assert on_instance(emulator, instance_id, "sha256sum < /srv/appdir/app-2.bin | cut -c1-64") == f"{digest}\n"
    assert on_instance(emulator, instance_id, "ls -a /srv | grep -c alicloud-ecs-send || true") == "0\n"


def test_a_planted_link_at_the_target_is_reported_not_followed_or_shown(ansible, emulator):
    instance_id = emulator.instance_id("web-1")
    users_directory(emulator, instance_id, "/srv/linked")
    on_instance(emulator, instance_id, f"runuser -u nobody -- ln -s {VICTIM} /srv/linked/app.conf")
    before = victim_state(emulator, instance_id)
    task = {"instance_ids": [instance_id], "content": "root secret\nmore\n", "name": "app.conf",
            "target_dir": "/srv/linked", "owner": "nobody"}
    large = {**task, "content": "y" * 40000}
    played = ansible.play([{"name": "check", "alicloud.ecs.send_file": task, "ignore_errors": True, "check_mode": True},
                           {"name": "send", "alicloud.ecs.send_file": task, "ignore_errors": True},
                           {"name": "large", "alicloud.ecs.send_file": large, "ignore_errors": True}], diff=True)
    assert "cm9vdCBzZWNyZXQK" not in played.output  # Base64 of the victim's content: no probe printed it
    for name in ("check", "send", "large"):
        assert played.outcome(name) == "failed"
        [item] = played.result(name)["results"]
        assert (item["status"], item["error_code"]) == ("Failed", "UnsafePath"), item
        assert item["error_info"].startswith("/srv/linked/app.conf is a symbolic link"), item
        assert item["before"] == {"exists": True, "regular": False, "link": True}
    assert victim_state(emulator, instance_id) == before


def test_a_directory_another_user_owns_above_the_target_is_refused_by_name(ansible, emulator):
    instance_id = emulator.instance_id("web-1")
    users_directory(emulator, instance_id, "/srv/theirs")
    played = ansible.play([{"name": "send", "alicloud.ecs.send_file": {
        "instance_ids": [instance_id], "content": "x\n", "name": "x.conf", "target_dir": "/srv/theirs/conf.d"}}])
    assert played.rc != 0
    [item] = played.result("send")["results"]
    assert (item["status"], item["error_code"]) == ("Failed", "UnsafePath")
    assert "/srv/theirs belongs to another user" in item["error_info"]
    assert emulator.exec(instance_id, "test -e /srv/theirs/conf.d")["exit_code"] != 0


def test_small_file_into_a_users_directory_goes_by_private_rename_with_its_owner(ansible, emulator):
    """The agent would write in place and follow a link there, so SendFile is kept for root's directories."""
    ids = [emulator.instance_id("web-1"), emulator.instance_id("db-1")]
    users_directory(emulator, ids[0], "/srv/apphome")
    on_instance(emulator, ids[1], "mkdir -p /srv/apphome && chmod 0755 /srv/apphome")
    played = ansible.play([{"name": "send", "alicloud.ecs.send_file": {
        "instance_ids": ids, "content": "hi\n", "name": "hi.txt", "target_dir": "/srv/apphome", "owner": "nobody",
        "mode": "0600"}}])
    assert played.rc == 0, played.output
    assert [item["method"] for item in played.result("send")["results"]] == ["chunks", "SendFile"]
    for instance_id in ids:
        assert on_instance(emulator, instance_id, "stat -c '%U %a' /srv/apphome/hi.txt; cat /srv/apphome/hi.txt") == (
            "nobody 600\nhi\n")


def test_files_the_agent_would_not_write_exactly_go_in_chunks(ansible, emulator):
    """The agent refuses empty content, drops setuid bits, looks owners up by name only and skips chown for
    root:root (agent/taskengine/sendfile.go): those files take the private rename, and are right."""
    instance_id = emulator.instance_id("db-1")
    on_instance(emulator, instance_id, "mkdir -p /opt/exact && echo old > /opt/exact/owned "
                                       "&& chown nobody /opt/exact/owned")
    base = {"instance_ids": [instance_id], "target_dir": "/opt/exact"}
    tasks = {
        "empty": {**base, "content": "", "name": "empty"},
        "setuid": {**base, "content": "#!/bin/sh\n", "name": "tool", "mode": "4755"},
        "numeric": {**base, "content": "n\n", "name": "numeric", "owner": "65534", "group": "65534"},
        "owned": {**base, "content": "mine\n", "name": "owned"},
    }
    played = ansible.play([{"name": name, "alicloud.ecs.send_file": args} for name, args in tasks.items()])
    assert played.rc == 0, played.output
    for name in tasks:
        assert played.result(name)["results"][0]["method"] == "chunks", name
    assert on_instance(emulator, instance_id, "cd /opt/exact && stat -c '%n %s %U %a' empty tool numeric owned") == (
        "empty 0 root 644\ntool 10 root 4755\nnumeric 2 nobody 644\nowned 5 root 644\n")
    again = ansible.play([{"name": name, "alicloud.ecs.send_file": args} for name, args in tasks.items()])
    assert [again.outcome(name) for name in tasks] == ["ok"] * 4, again.output
