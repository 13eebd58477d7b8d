"""The connection staples, with pipelining on and off."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from pathlib import Path

PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"

ODD_NAME = "odd [name] 'q' \"dq\" 文件.txt"


@pytest.mark.parametrize("pipelining", ["true", "false"])
def test_connection_staples(ansible, emulator, tmp_path, pipelining) -> None:
    run = ansible.playbook(
        PLAYBOOKS / "connection.yml",
        "-e", json.dumps({"ansible_pipelining": pipelining == "true", "work_dir": str(tmp_path / "work"),
                          "odd_name": ODD_NAME}),
    )
    assert run.rc == 0, run.output
    assert "ansible_alicloud_secret_key" not in run.stdout
    assert emulator.env()["ALIBABA_CLOUD_ACCESS_KEY_SECRET"] not in run.output


def test_wrong_secret_fails_the_task_naming_key_and_code(ansible, emulator, reachable, tmp_path) -> None:
    secret = "not-the-secret-at-all"
    inventory = tmp_path / "static.json"
    inventory.write_text(json.dumps({"all": {"hosts": {"target": {
        "ansible_connection": "alicloud.ecs.cloud_assistant",
        "ansible_alicloud_instance_id": reachable[0]["id"],
        "ansible_alicloud_region": reachable[0]["region"]}}}}))
    run = ansible.playbook(PLAYBOOKS / "ping.yml",
                           inventory=inventory, env={"ALIBABA_CLOUD_ACCESS_KEY_SECRET": secret})
    assert run.rc != 0
    assert "UNREACHABLE" in run.output and "SignatureDoesNotMatch" in run.output
    assert emulator.env()["ALIBABA_CLOUD_ACCESS_KEY_ID"] in run.output
    assert secret not in run.output


def one_host_inventory(tmp_path: Path, target: dict) -> Path:
    """A static inventory of one instance, wired to the connection."""
    inventory = tmp_path / "one.json"
    inventory.write_text(json.dumps({"all": {"hosts": {"target": {
        "ansible_connection": "alicloud.ecs.cloud_assistant", "ansible_alicloud_instance_id": target["id"],
        "ansible_alicloud_region": target["region"]}}}}))
    return inventory


def play_file(path: Path, tasks: list[dict]) -> Path:
    path.write_text(json.dumps([{"hosts": "all", "gather_facts": False, "tasks": tasks}]))
    return path


def test_a_module_in_the_next_playbook_run_is_not_sent_again(ansible, emulator, reachable, tmp_path) -> None:
    """ansible-core rebuilds (and re-stamps) every module zip in each playbook run; the instance keeps the
    last payload of each module and the next run's travels as edits inside the RunCommand."""
    target = reachable[0]
    inventory = one_host_inventory(tmp_path, target)
    playbook = play_file(tmp_path / "echo.yml", [
        {"name": "Echo", "ansible.builtin.command": "echo {{ word }}", "register": "echoed"},
        {"name": "Check", "ansible.builtin.assert": {"that": ["echoed.stdout == word"]}}])
    sent, kept = [], []
    for word in ("first", "second", "third"):
        emulator.reset_counters()
        run = ansible.playbook(playbook, "-e", f"word={word}", inventory=inventory)
        assert run.rc == 0, run.output
        sent.append(emulator.counters().get("SendFile", 0))
        kept.append(emulator.exec(target["id"], "ls /var/lib/alicloud-ecs/root | grep -c '[.]base$'")["stdout"])
    assert sent[0] > 0 and sent[1:] == [0, 0], sent
    assert int(kept[0]) >= 1 and kept[1:] == kept[:1] * 2, f"the newest payload replaces the older: {kept}"


def test_the_home_directory_is_asked_once_per_instance(ansible, emulator, reachable, tmp_path) -> None:
    """ansible expands ~ in remote_tmp before every task that needs a temporary directory (copy, template...)."""
    target = reachable[0]
    inventory = one_host_inventory(tmp_path, target)
    playbook = play_file(tmp_path / "copies.yml", [
        {"name": f"Copy {n}", "ansible.builtin.copy": {"content": f"{n}\n", "dest": f"/tmp/home-memo-{n}.txt"}}
        for n in range(2)])
    first = ansible.playbook(playbook, "-vvv", inventory=inventory)
    second = ansible.playbook(playbook, "-vvv", inventory=inventory)
    assert first.rc == 0 and second.rc == 0, first.output + second.output
    remembered = "~ is /root (remembered from this instance's earlier answer)"
    assert (first.stdout.count(remembered), second.stdout.count(remembered)) == (1, 2)
    assert emulator.exec(target["id"], "cat /tmp/home-memo-0.txt /tmp/home-memo-1.txt")["stdout"] == "0\n1\n"


def test_copy_and_template_prepare_their_directory_without_round_trips_of_their_own(ansible, emulator, reachable, tmp_path) -> None:
    """Creating the task's temporary directory, writing a small source file into it and setting its mode
    run in front of the task's next command: a small copy or template is three commands (stat, copy,
    remove), a larger one four (the file goes up in a command of its own; 6 KB still travels inside that
    command, so no SendFile staging makes the count depend on timing)."""
    target = reachable[0]
    inventory = one_host_inventory(tmp_path, target)
    template = tmp_path / "small.j2"
    template.write_text("round {{ round }} on {{ inventory_hostname }}\n")
    large = tmp_path / "large.bin"
    playbook = play_file(tmp_path / "copies.yml", [
        {"name": "Copy", "ansible.builtin.copy": {"content": "copy {{ round }}\n", "dest": "/tmp/steps-copy.txt",
                                                  "mode": "0640"}},
        {"name": "Template", "ansible.builtin.template": {"src": str(template), "dest": "/tmp/steps-template.txt"}},
        {"name": "Large", "ansible.builtin.copy": {"src": str(large), "dest": "/tmp/steps-large.bin"}}])
    commands = []
    for round_ in range(2):  # the first run also stages the modules
        large.write_bytes(os.urandom(6000))
        emulator.reset_counters()
        # A set interpreter: ansible's interpreter discovery would add a command to every run.
        run = ansible.playbook(playbook, "-e", f"round={round_}", "-e", "ansible_python_interpreter=/usr/bin/python3",
                               inventory=inventory)
        assert run.rc == 0 and "changed=3" in run.stdout, run.output
        commands.append(emulator.counters().get("RunCommand", 0))
        files = emulator.exec(target["id"], "cat /tmp/steps-copy.txt /tmp/steps-template.txt; "
                              "stat -c %a /tmp/steps-copy.txt; sha256sum < /tmp/steps-large.bin")
        assert files["stdout"] == (f"copy {round_}\nround {round_} on target\n640\n"
                                   f"{hashlib.sha256(large.read_bytes()).hexdigest()}  -\n")
    assert commands[1] == 3 + 3 + 4, commands


def test_a_temporary_directory_that_cannot_be_made_is_reported_by_the_next_command(ansible, reachable, tmp_path) -> None:
    inventory = one_host_inventory(tmp_path, reachable[0])
    playbook = play_file(tmp_path / "bad-tmp.yml", [
        {"name": "Copy", "ansible.builtin.copy": {"content": "x\n", "dest": "/tmp/never.txt"},
         "vars": {"ansible_remote_tmp": "/etc/hostname/below-a-file"}}])
    run = ansible.playbook(playbook, inventory=inventory)
    assert run.rc != 0 and "UNREACHABLE" in run.output, run.output
    assert "Failed to create temporary directory (run in front of the task's next command" in run.output
    assert "Not a directory" in run.output
