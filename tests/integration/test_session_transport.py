"""transport: session end to end: real ansible-playbook runs over the emulator's Session Manager.

What is checked, each by a real outcome:

* the staples (ping, facts, command, stdin, shell, raw, copy, template, fetch, become, a large output) pass on two
  hosts with pipelining on and off; after each host's first task no task makes a RunCommand or a polling call
  (the emulator's counters of a play of the first task alone are those of the whole play), and
  StartTerminalSession is called once per host; the sessions end with the play (EndTerminalSession);
* remote_user and become with and without a password (become.yml): a command that must answer sudo's password
  prompt goes over RunCommand, the rest over the session;
* Session Manager off: the play passes over RunCommand with exactly one warning per host;
* the session holder killed, or the session ended (EndTerminalSession from elsewhere), mid-task: UNREACHABLE naming
  the instance, the command ran once (a counter file on the instance), nothing of it left running on the instance;
* a command past command_timeout fails the task (not UNREACHABLE), is killed, and the next task runs;
* the agent's idle limit (shrunk through the emulator's setting) ends the session between two tasks: the next
  task reconnects (a second StartTerminalSession) and passes;
* a file above the measured size limits is copied and fetched the RunCommand way, whole;
* meta: reset_connection ends the kept session, so the next login sees a group added during the play.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import typing as t
import uuid
from pathlib import Path

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.api.client import CloudClient, resolve_settings
from ansible_collections.alicloud.ecs.plugins.module_utils.api.private_dirs import state_directory
from ansible_collections.alicloud.ecs.plugins.plugin_utils.session import wire
from ansible_collections.alicloud.ecs.plugins.plugin_utils.session.route import FETCH_LIMIT, PUT_LIMIT
from emulator.testing import wait_for

PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"
BIN_DIR = Path(sys.executable).parent
POLLING = ("RunCommand", "DescribeInvocationResults", "DescribeInvocations")
FALLBACK_WARNING = "transport=session is not available"


def inventory_of(tmp_path: Path, targets: list[dict], **extra: str) -> Path:
    path = tmp_path / "hosts.json"
    path.write_text(json.dumps({"all": {"hosts": {f"host{number}": {
        "ansible_connection": "alicloud.ecs.cloud_assistant", "ansible_alicloud_instance_id": target["id"],
        "ansible_alicloud_region": target["region"], "ansible_python_interpreter": "/usr/bin/python3", **extra}
        for number, target in enumerate(targets)}}}))
    return path


def sessions_ended(emulator, count: int) -> None:
    """The holders end their sessions once ansible-playbook is gone (EndTerminalSession each)."""
    wait_for(lambda: emulator.counters().get("EndTerminalSession", 0) >= count, "the sessions to end", timeout=30)


def session_play(path: Path, tasks: list[dict], **variables: t.Any) -> Path:
    """A playbook of one play over transport: session on every host."""
    play = {"hosts": "all", "gather_facts": False, "tasks": tasks,
            "vars": {"ansible_alicloud_transport": "session", **variables}}
    path.write_text(json.dumps([play]))
    return path


def set_options(emulator, **options) -> None:
    emulator.control("PATCH", "options", options)


@pytest.mark.parametrize("pipelining", [True, False])
def test_staples_over_the_session_make_no_run_command_after_the_first_task(ansible, emulator, reachable, tmp_path,
                                                                           pipelining) -> None:
    targets = reachable[:2]
    inventory = inventory_of(tmp_path, targets)
    extra = ["-e", json.dumps({"ansible_pipelining": pipelining, "work_dir": str(tmp_path / "work")})]
    emulator.reset_counters()
    first = ansible.playbook(PLAYBOOKS / "session_first.yml", *extra, inventory=inventory)
    assert first.rc == 0, first.output
    sessions_ended(emulator, len(targets))
    baseline = emulator.counters()
    emulator.reset_counters()
    run = ansible.playbook(PLAYBOOKS / "session_staples.yml", *extra, inventory=inventory)
    assert run.rc == 0, run.output
    assert FALLBACK_WARNING not in run.output
    counted = emulator.counters()
    assert {action: counted.get(action, 0) for action in POLLING} == \
        {action: baseline.get(action, 0) for action in POLLING}, (baseline, counted)
    assert counted.get("StartTerminalSession") == baseline.get("StartTerminalSession") == len(targets), counted
    sessions_ended(emulator, len(targets))


@pytest.mark.parametrize("pipelining", [True, False])
def test_remote_user_and_become_over_the_session(ansible, emulator, pipelining) -> None:
    """become.yml: deploy (NOPASSWD sudo) over the session; ops' password prompt is answered over RunCommand."""
    emulator.reset_counters()
    run = ansible.playbook(PLAYBOOKS / "become.yml", "-e", json.dumps({
        "ansible_pipelining": pipelining, "ansible_alicloud_transport": "session"}))
    assert run.rc == 0, run.output
    assert "ops-pass" not in run.output
    assert FALLBACK_WARNING not in run.output
    counted = emulator.counters()
    assert counted.get("StartTerminalSession", 0) >= 2, counted  # root's session and deploy's (and ops')
    assert counted.get("RunCommand", 0) >= 2, "the loop's two become-with-password commands go over RunCommand"


def test_session_manager_off_falls_back_with_one_warning_per_host(ansible, emulator, reachable, tmp_path) -> None:
    targets = reachable[:2]
    set_options(emulator, session_manager="off")
    try:
        emulator.reset_counters()
        run = ansible.playbook(PLAYBOOKS / "session_staples.yml", "-e",
                               json.dumps({"work_dir": str(tmp_path / "work")}),
                               inventory=inventory_of(tmp_path, targets), env={"ANSIBLE_FORKS": "5"})
    finally:
        set_options(emulator, session_manager="on")
    assert run.rc == 0, run.output
    for target in targets:
        assert run.output.count(f"{target['id']}: {FALLBACK_WARNING}") == 1, run.output
    assert run.output.count(FALLBACK_WARNING) == len(targets)
    counted = emulator.counters()
    assert counted.get("StartTerminalSession") == len(targets), "each host tried once, later tasks did not"
    assert counted.get("RunCommand", 0) > 10, counted


def holder_pids(env: dict[str, str]) -> list[int]:
    """The pids of the session holders this test's ansible runs started: each answers "stats" on its socket in the
    private state directory that ansible-playbook used (the same ANSIBLE_LOCAL_TEMP)."""
    directory = Path(state_directory(env)) / "sessions"
    pids = []
    for path in directory.glob("*.sock") if directory.is_dir() else ():
        try:
            sock = wire.connect(str(path), 5)
        except wire.WireClosed:
            continue
        with sock:
            wire.send(sock, {"op": "stats"})
            answer, _body = wire.receive(sock, time.monotonic() + 5)
        pids.append(int(answer["pid"]))
    return pids


def kill_the_holder(emulator, target: dict, env: dict[str, str]) -> None:
    pids = holder_pids(env)
    assert len(pids) == 1, pids
    os.kill(pids[0], signal.SIGKILL)


def end_the_session(emulator, target: dict, env: dict[str, str]) -> None:
    """EndTerminalSession from another client: the agent closes the terminal and the websocket under the task."""
    (session,) = [item for item in emulator.control("GET", "sessions")["sessions"]
                  if item["InstanceId"] == target["id"] and item["Status"] == "Connected"]
    client = CloudClient(resolve_settings(region=target["region"], env=emulator.env()))
    client.call("EndTerminalSession", SessionId=session["SessionId"])


@pytest.mark.parametrize("cut", [kill_the_holder, end_the_session], ids=["holder killed", "session ended"])
def test_a_channel_lost_mid_task_is_unreachable_and_runs_nothing_twice(ansible, emulator, reachable, tmp_path,
                                                                       cut) -> None:
    target = reachable[0]
    marker = f"/tmp/session-cut-{uuid.uuid4().hex[:8]}"
    pause = "31.7"  # a sleep this long is this test's own on the instance
    playbook = session_play(tmp_path / "cut.yml", [
        {"name": "Count, then wait", "ansible.builtin.shell": f"echo ran >> {marker}; sleep {pause}; echo late"},
        {"name": "Never reached", "ansible.builtin.command": "true"},
    ])
    env = dict(ansible.env)
    command = [str(BIN_DIR / "ansible-playbook"), "-i", str(inventory_of(tmp_path, [target])), str(playbook)]
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          stdin=subprocess.DEVNULL, cwd=tmp_path) as play:
        try:
            wait_for(lambda: "ran" in emulator.exec(target["id"], f"cat {marker} 2>/dev/null")["stdout"],
                     "the command to start on the instance", timeout=120)
            cut(emulator, target, env)
            output, _none = play.communicate(timeout=120)
        finally:
            if play.poll() is None:
                play.kill()
    assert play.returncode != 0, output
    assert "UNREACHABLE" in output and target["id"] in output and "not sent again" in output, output
    assert "Never reached" not in output.split("UNREACHABLE", 1)[1]
    assert emulator.exec(target["id"], f"cat {marker}")["stdout"] == "ran\n", "the command ran once"
    # The pattern's brackets keep pgrep from finding the shell that runs it.
    wait_for(lambda: not emulator.exec(target["id"], f"pgrep -f 'slee[p] {pause}' || true")["stdout"].strip(),
             "the cut task's command to stop on the instance", timeout=60)


def test_a_command_past_its_timeout_fails_the_task_and_is_killed(ansible, emulator, reachable, tmp_path) -> None:
    target = reachable[0]
    pause = "47.3"
    playbook = session_play(tmp_path / "timeout.yml", [
        {"name": "Too long", "ansible.builtin.raw": f"sleep {pause}", "ignore_errors": True, "register": "slow"},
        {"name": "The host is still reachable", "ansible.builtin.command": "echo still", "register": "still"},
        {"name": "Failed, not unreachable",
         "ansible.builtin.assert": {"that": ["slow is failed", "still.stdout == 'still'"]}},
    ], ansible_alicloud_command_timeout=10)
    run = ansible.playbook(playbook, inventory=inventory_of(tmp_path, [target]))
    assert run.rc == 0, run.output
    assert "ran longer than its timeout" in run.output and "UNREACHABLE" not in run.output, run.output
    assert not emulator.exec(target["id"], f"pgrep -f 'slee[p] {pause}' || true")["stdout"].strip()


def test_the_agent_idle_limit_ends_the_session_and_the_next_task_reconnects(ansible, emulator, reachable,
                                                                            tmp_path) -> None:
    target = reachable[0]
    playbook = session_play(tmp_path / "idle.yml", [
        {"name": "Before", "ansible.builtin.command": "echo before", "register": "before"},
        {"name": "Idle past the agent's limit", "ansible.builtin.pause": {"seconds": 5}},
        {"name": "After", "ansible.builtin.command": "echo after", "register": "after"},
        {"name": "Both ran", "ansible.builtin.assert": {"that": ["before.stdout == 'before'",
                                                                 "after.stdout == 'after'"]}},
    ])
    set_options(emulator, session_idle_seconds=2)
    try:
        emulator.reset_counters()
        run = ansible.playbook(playbook, inventory=inventory_of(tmp_path, [target]))
    finally:
        set_options(emulator, session_idle_seconds=180)
    assert run.rc == 0, run.output
    assert emulator.counters().get("StartTerminalSession") == 2, "the next task opened a new session"


def test_files_above_the_measured_limits_go_the_run_command_way(ansible, emulator, reachable, tmp_path) -> None:
    """One byte over PUT_LIMIT up and over FETCH_LIMIT down: those two transfers are RunCommand's (zeros, so the
    RunCommand path's gzip keeps them quick), everything else of the play stays on the session."""
    target = reachable[0]
    size = max(PUT_LIMIT, FETCH_LIMIT) + 1
    local = tmp_path / "zeros.bin"
    with open(local, "wb") as handle:
        handle.truncate(size)
    digest = hashlib.sha1(local.read_bytes()).hexdigest()
    fetch = {"src": "/tmp/session-large-down.bin", "flat": True, "dest": str(tmp_path / "down.bin")}
    checksum = {"path": "/tmp/session-large-up.bin", "checksum_algorithm": "sha1"}
    playbook = session_play(tmp_path / "large.yml", [
        {"name": "Make a large file", "ansible.builtin.command": f"truncate -s {size} /tmp/session-large-down.bin"},
        {"name": "Fetch it", "ansible.builtin.fetch": fetch},
        {"name": "Copy one up", "ansible.builtin.copy": {"src": str(local), "dest": "/tmp/session-large-up.bin"}},
        {"name": "Checksum up", "ansible.builtin.stat": checksum, "register": "up"},
        {"name": "Arrived whole", "ansible.builtin.assert": {"that": [f"up.stat.checksum == '{digest}'"]}},
    ])
    emulator.reset_counters()
    run = ansible.playbook(playbook, inventory=inventory_of(tmp_path, [target]))
    assert run.rc == 0, run.output
    assert hashlib.sha1((tmp_path / "down.bin").read_bytes()).hexdigest() == digest
    counted = emulator.counters()
    assert counted.get("StartTerminalSession") == 1, counted
    assert counted.get("RunCommand", 0) >= 2, "the large fetch and the large copy went over RunCommand"


def test_reset_connection_ends_the_session_and_the_next_login_sees_new_groups(ansible, emulator, reachable,
                                                                              tmp_path) -> None:
    """As ssh's reset stops its ControlPersist master: the kept session's login took the user's groups when it
    started, so a group added later shows only after meta: reset_connection."""
    target = reachable[0]
    group = f"s{uuid.uuid4().hex[:8]}"
    playbook = session_play(tmp_path / "reset.yml", [
        {"name": "Before", "ansible.builtin.command": "id -Gn", "register": "before"},
        {"name": "Add a group", "ansible.builtin.shell": f"groupadd {group} && usermod -aG {group} root"},
        {"name": "Same login", "ansible.builtin.command": "id -Gn", "register": "same"},
        {"name": "Reset", "ansible.builtin.meta": "reset_connection"},
        {"name": "New login", "ansible.builtin.command": "id -Gn", "register": "fresh"},
        {"name": "Only the new login has the group", "ansible.builtin.assert": {"that": [
            f"'{group}' not in same.stdout.split()", f"'{group}' in fresh.stdout.split()"]}},
    ])
    emulator.reset_counters()
    run = ansible.playbook(playbook, inventory=inventory_of(tmp_path, [target]))
    assert run.rc == 0, run.output
    assert emulator.counters().get("StartTerminalSession") == 2, "the reset ended the session; a new one started"
