"""The instance-side staging directories, end to end: what another user plants changes nothing, and a non-root
remote user (with become) stages in a directory of its own, where delta copies, pruning and no_log release work.

Users are planted as with ``runuser`` inside the emulated instance (the control API's exec runs as root).
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
from pathlib import Path

from emulator.testing import wait_for
from test_connection import one_host_inventory

PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"
ROOT_DIR = "/var/lib/alicloud-ecs/root"
DEPLOY_DIR = "/home/deploy/.alicloud-ecs"
OLD_DIR = "/var/tmp/.alicloud-ecs"
FILLER = "staged-" * 30_000  # 210 KB: too large to ride inside the RunCommand, so it is staged in chunks
SETTINGS = {"ansible_python_interpreter": "/usr/bin/python3", "ansible_alicloud_command_timeout": 60}


def as_user(emulator, instance_id: str, user: str, command: str) -> dict:
    return emulator.exec(instance_id, f"runuser -u {user} -- /bin/sh -c {shlex.quote(command)}")


def users(ansible) -> None:
    """deploy (password-less sudo) and ops exist on the first instance."""
    run = ansible.playbook(PLAYBOOKS / "become.yml")
    assert run.rc == 0, run.output


def staging_play(path: Path, user: str, tag: str = "", extra: list[dict] | None = None) -> Path:
    """A module whose payload the instance keeps, a copy and a command reading a staged stdin; as ``user``."""
    play = {"hosts": "all", "gather_facts": False, "vars": dict(SETTINGS), "tasks": [
        {"name": "Module", "ansible.builtin.command": f"echo {user}{tag}", "changed_when": False},
        {"name": "Copy", "ansible.builtin.copy": {"content": FILLER + tag, "dest": f"/tmp/staged-by-{user}"}},
        {"name": "Stdin", "ansible.builtin.command": {"cmd": "wc -c", "stdin": FILLER + tag},
         "register": "counted", "changed_when": False},
        {"name": "Counted", "ansible.builtin.assert": {"that": [f"counted.stdout | int == {len(FILLER + tag) + 1}"]}},
        *(extra or []),
    ]}
    if user != "root":
        play.update({"remote_user": user, "become": True})
    path.write_text(json.dumps([play]))
    return path


def test_what_another_user_plants_changes_nothing_outside_the_staging_directory(
        ansible, emulator, reachable, tmp_path) -> None:
    target = reachable[0]["id"]
    users(ansible)
    inventory = one_host_inventory(tmp_path, reachable[0])
    # The old place, free for anyone on a fresh instance: a link to /etc for root, a stamp link to /etc/nologin.
    emulator.exec(target, f"rm -rf {OLD_DIR}")
    planted = as_user(emulator, target, "nobody", f"mkdir -p {OLD_DIR}/deploy && ln -s /etc {OLD_DIR}/root && "
                      f"ln -s /etc/nologin {OLD_DIR}/deploy/.pruned && mkfifo {OLD_DIR}/deploy/fifo")
    assert planted["exit_code"] == 0, planted
    # The new places (and where they live) take no plant from another user.
    for place in ("/var/lib", "/var/lib/alicloud-ecs", ROOT_DIR, "/home/deploy", DEPLOY_DIR):
        planted = as_user(emulator, target, "nobody", f"touch {place}/planted || ln -s /etc {place}/planted")
        assert planted["exit_code"] != 0, place
    before = emulator.exec(target, f"ls -la {OLD_DIR} {OLD_DIR}/deploy; touch /tmp/planted-marker")["stdout"]

    for user in ("root", "deploy"):
        run = ansible.playbook(staging_play(tmp_path / f"{user}.yml", user), inventory=inventory)
        assert run.rc == 0, run.output

    assert emulator.exec(target, "find /etc -newer /tmp/planted-marker")["stdout"] == ""
    assert emulator.exec(target, "test -e /etc/nologin")["exit_code"] != 0
    assert emulator.exec(target, f"ls -la {OLD_DIR} {OLD_DIR}/deploy")["stdout"] == before
    owners = emulator.exec(target, f"stat -c '%U %F' /var/lib/alicloud-ecs; stat -c '%U %a %F' {ROOT_DIR} {DEPLOY_DIR}")
    assert owners["stdout"].split("\n")[:3] == ["root directory", "root 700 directory", "deploy 700 directory"], owners
    held = emulator.exec(target, f"ls {ROOT_DIR} {DEPLOY_DIR}")["stdout"]
    assert held.count(".base") >= 2, f"each user keeps its module payloads for the next delta:\n{held}"


def test_a_fifo_or_a_link_in_a_staging_directory_hangs_nothing_and_is_not_followed(
        ansible, emulator, reachable, tmp_path) -> None:
    """The owner (or root, in root's directory) is the only one who can plant there: still nothing hangs."""
    target = reachable[0]["id"]
    users(ansible)
    inventory = one_host_inventory(tmp_path, reachable[0])
    for user in ("root", "deploy"):  # something kept in each directory
        assert ansible.playbook(staging_play(tmp_path / f"{user}.yml", user), inventory=inventory).rc == 0
    plant = ("cd {dir} && for f in *.base *.gz; do rm -f \"$f\" && mkfifo \"$f\"; done; "
             "rm -f .pruned; ln -s {victim} .pruned")
    assert emulator.exec(target, plant.format(dir=ROOT_DIR, victim="/etc/nologin"))["exit_code"] == 0
    assert as_user(emulator, target, "deploy", plant.format(dir=DEPLOY_DIR, victim="/tmp/deploy-victim"))[
        "exit_code"] == 0

    for user in ("root", "deploy"):
        run = ansible.playbook(staging_play(tmp_path / f"{user}-2.yml", user, "-2"), inventory=inventory)
        assert run.rc == 0, run.output  # a FIFO read would have run into the 60 s command timeout
    assert emulator.exec(target, "test -e /etc/nologin || test -e /tmp/deploy-victim")["exit_code"] != 0
    stamps = emulator.exec(target, f"stat -c %F {ROOT_DIR}/.pruned {DEPLOY_DIR}/.pruned")["stdout"]
    assert stamps.split("\n")[:2] == ["regular empty file"] * 2, stamps


def test_a_planted_root_staging_directory_is_refused_by_name(ansible, emulator, reachable, tmp_path) -> None:
    """Only root can plant there; the envelope still refuses a link, names it and runs nothing. (The agent's
    SendFile, which runs first, follows such a link: only root could have planted it.)"""
    target = reachable[0]["id"]
    inventory = one_host_inventory(tmp_path, reachable[0])
    emulator.exec(target, f"mkdir -p {ROOT_DIR} /tmp/root-elsewhere && mv {ROOT_DIR} {ROOT_DIR}.away && "
                          f"ln -s /tmp/root-elsewhere {ROOT_DIR} && rm -f /tmp/refused-ran")
    play = tmp_path / "refused.yml"
    play.write_text(json.dumps([{"hosts": "all", "gather_facts": False, "vars": dict(SETTINGS), "tasks": [
        {"name": "Stdin", "ansible.builtin.shell": {"cmd": "touch /tmp/refused-ran; wc -c", "stdin": FILLER}}]}]))
    try:
        run = ansible.playbook(play, inventory=inventory)
    finally:
        emulator.exec(target, f"rm -f {ROOT_DIR} && mv {ROOT_DIR}.away {ROOT_DIR}")
    assert run.rc != 0
    assert f"refusing the staging directory {ROOT_DIR} on {target}" in run.output, run.output
    assert emulator.exec(target, "test -e /tmp/refused-ran")["exit_code"] != 0, "nothing ran"


def deploy_files(emulator, target: str) -> str:
    return as_user(emulator, target, "deploy", f"cd {DEPLOY_DIR} && ls -A | sort")["stdout"]


def test_deploy_with_become_costs_two_calls_per_module_task_and_prunes_and_releases(
        ansible, emulator, reachable, tmp_path) -> None:
    target = reachable[0]["id"]
    users(ansible)
    inventory = one_host_inventory(tmp_path, reachable[0])
    tasks = [{"name": f"Module {n}", "ansible.builtin.command": "id -un", "register": "who", "changed_when": False,
              "failed_when": "who.stdout != 'root'"} for n in range(3)]
    play = tmp_path / "modules.yml"
    play.write_text(json.dumps([{"hosts": "all", "gather_facts": False, "remote_user": "deploy", "become": True,
                                 "vars": dict(SETTINGS), "tasks": tasks}]))
    for _warm in range(2):  # the first run stages the module, the second is the first to find it kept
        assert ansible.playbook(play, inventory=inventory).rc == 0
    seen = []
    for _run in range(3):  # on a loaded machine a run may take longer than learned and cost a poll more
        emulator.reset_counters()
        run = ansible.playbook(play, inventory=inventory)
        assert run.rc == 0, run.output
        seen.append({action: count for action, count in emulator.counters().items() if count})
        assert set(seen[-1]) == {"RunCommand", "DescribeInvocationResults"} and seen[-1]["RunCommand"] == 3, seen
        if seen[-1]["DescribeInvocationResults"] == 3:
            break
    assert seen[-1] == {"RunCommand": 3, "DescribeInvocationResults": 3}, f"one run and one look per task: {seen}"

    # Pruning, as deploy: its old files and its own stray work directories go; root's stray directory stays.
    as_user(emulator, target, "deploy", f"rm -f {DEPLOY_DIR}/.pruned; printf old > {DEPLOY_DIR}/0ld0; "
            f"touch -d '3 hours ago' {DEPLOY_DIR}/0ld0; mkdir /tmp/.alicloud-ecs.deployold; "
            "touch -d '3 hours ago' /tmp/.alicloud-ecs.deployold")
    emulator.exec(target, "mkdir -p /tmp/.alicloud-ecs.rootold; touch -d '3 hours ago' /tmp/.alicloud-ecs.rootold")
    run = ansible.playbook(staging_play(tmp_path / "deploy.yml", "deploy", "-prune"), "-e",
                           json.dumps({"ansible_alicloud_staging_max_age": 2}), inventory=inventory)
    assert run.rc == 0, run.output
    assert "0ld0" not in deploy_files(emulator, target)
    left = emulator.exec(target, "ls -d /tmp/.alicloud-ecs.deployold /tmp/.alicloud-ecs.rootold 2>/dev/null")
    assert left["stdout"].split() == ["/tmp/.alicloud-ecs.rootold"]

    # A no_log task's staged stdin leaves deploy's directory as it found it.
    secret = "deploy-nolog-SENTINEL-71"
    before = deploy_files(emulator, target)
    nolog = tmp_path / "nolog.yml"
    secret_task = {"name": "Secret stdin", "ansible.builtin.command": {"cmd": "wc -c", "stdin": secret + FILLER},
                   "no_log": True}
    nolog.write_text(json.dumps([{"hosts": "all", "gather_facts": False, "remote_user": "deploy", "become": True,
                                  "vars": dict(SETTINGS), "tasks": [secret_task]}]))
    run = ansible.playbook(nolog, inventory=inventory)
    assert run.rc == 0, run.output
    wait_for(lambda: deploy_files(emulator, target) == before, f"deploy's staging directory to hold only:\n{before}",
             step=0.5)
    assert emulator.exec(target, f"grep -rl {secret} {DEPLOY_DIR} /tmp/.alicloud-ecs* 2>/dev/null")["stdout"] == ""


def test_a_large_file_as_deploy_goes_up_by_runcommand_and_leaves_no_chunks(ansible, emulator, reachable, tmp_path) -> None:
    """2 MB of random bytes: a manifest and its chunks, each written by a RunCommand run as deploy (no SendFile),
    removed by deploy's own envelope once the file is rebuilt."""
    target = reachable[0]["id"]
    users(ansible)
    inventory = one_host_inventory(tmp_path, reachable[0])
    source = tmp_path / "big.bin"
    play = tmp_path / "big.yml"
    big = {"name": "Big", "ansible.builtin.copy": {"src": str(source), "dest": "/root/big-by-deploy.bin"}}
    play.write_text(json.dumps([{"hosts": "all", "gather_facts": False, "remote_user": "deploy", "become": True,
                                 "vars": dict(SETTINGS), "tasks": [big]}]))
    source.write_bytes(b"small")  # first, the modules copy runs (stat, copy) are staged and kept
    assert ansible.playbook(play, inventory=inventory).rc == 0
    source.write_bytes(os.urandom(2 << 20))
    size = f"du -sk {DEPLOY_DIR} | cut -f1"
    before = int(emulator.exec(target, size)["stdout"])
    emulator.reset_counters()
    run = ansible.playbook(play, inventory=inventory)
    assert run.rc == 0, run.output
    counters = emulator.counters()
    assert counters.get("SendFile", 0) == 0 and counters["RunCommand"] > 2 * 2 * 1024 // 25, counters
    remote = emulator.exec(target, "sha256sum < /root/big-by-deploy.bin; rm -f /root/big-by-deploy.bin")
    assert remote["stdout"].split()[0] == hashlib.sha256(source.read_bytes()).hexdigest()
    grown = int(emulator.exec(target, size)["stdout"]) - before
    assert grown < 512, f"a large transfer's chunks are removed once it is rebuilt (grew by {grown} KB)"
