"""``python -m emulator run`` stopped by a signal leaves nothing behind: not its command, not what the command
left running, not an instance's init or a command running inside an instance.

Proved by outcome: every process below ``run`` (the whole tree, taken while an instance runs a long command and
the command has a process of its own in the background) is gone afterwards, by pid and kernel start time.
"""
from __future__ import annotations

import fcntl
import json
import os
import pty
import signal
import subprocess
import sys
import termios
import textwrap
from pathlib import Path

import pytest
import yaml
from emulator_helpers import FLEET

from emulator.procs import children_map, cmdline, start_time
from emulator.testing import EMULATOR_PYTHON, REPO_ROOT, wait_for

# The command ``run`` runs: with the endpoint and the control token ``run`` exported, it starts a long command
# inside web-1, leaves a process of its own behind (orphaned once it dies), says it is ready, then waits.
CHILD = textwrap.dedent("""
    import json, os, subprocess, sys, urllib.request
    endpoint, token = os.environ["ALIBABA_CLOUD_ECS_ENDPOINT"], os.environ["ALICLOUD_ECS_EMULATOR_TOKEN"]
    def control(method, path, body=None):
        request = urllib.request.Request(f"{endpoint}/_emulator/{path}", method=method,
                                         data=None if body is None else json.dumps(body).encode(),
                                         headers={"Authorization": f"Bearer {token}",
                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())
    web1 = next(i["id"] for i in control("GET", "instances")["instances"] if i["name"] == "web-1")
    done = control("POST", f"instances/{web1}/exec", {"command": "sleep 297 > /dev/null 2>&1 &"})
    assert done["exit_code"] == 0, done
    subprocess.Popen(["sleep", "299"])
    with open(sys.argv[1] + ".tmp", "w") as ready:
        json.dump({"web1": web1}, ready)
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    os.execvp("sleep", ["sleep", "300"])
""")


def tree(root: int) -> dict[int, str | None]:
    """pid → kernel start time of ``root`` and every process below it."""
    children, found, todo = children_map(), {}, [root]
    while todo:
        pid = todo.pop()
        found[pid] = start_time(pid)
        todo.extend(children.get(pid, []))
    return found


def alive(processes: dict[int, str | None]) -> list[tuple[int, list[str]]]:
    """The ones still running (a pid reused by another process does not count)."""
    return [(pid, cmdline(pid)) for pid, started in processes.items()
            if started is not None and start_time(pid) == started and cmdline(pid)]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_stop_signal_ends_the_command_the_server_and_every_instance_process(tmp_path: Path, signum) -> None:
    fleet = tmp_path / "fleet.yml"
    fleet.write_text(yaml.safe_dump(FLEET), encoding="utf-8")
    child, ready = tmp_path / "child.py", tmp_path / "ready.json"
    child.write_text(CHILD, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    run = subprocess.Popen([EMULATOR_PYTHON, "-m", "emulator", "run", "--fleet", str(fleet), "--state-dir",
                            str(tmp_path / "state"), "--", sys.executable, str(child), str(ready)],
                           cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL)
    try:
        wait_for(lambda: ready.exists() or run.poll() is not None, "the command to start", timeout=120)
        assert run.poll() is None, f"emulator run exited with {run.returncode} before its command was ready"
        assert json.loads(ready.read_text())["web1"].startswith("i-")
        processes = tree(run.pid)
        argvs = [cmdline(pid) for pid in processes]
        for long_running in (["sleep", "297"], ["sleep", "299"], ["sleep", "300"]):
            assert long_running in argvs, (long_running, argvs)
        run.send_signal(signum)
        assert run.wait(timeout=120) == -signum  # it dies of the signal it got, after its teardown
        wait_for(lambda: not alive(processes), "every process of the run to end", timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()


def in_a_terminal() -> None:
    """preexec: a session of its own whose controlling terminal is stdin (a pty), as a shell starts a command."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


@pytest.mark.parametrize("command, status, survived", [
    ("sleep 300", 128 + signal.SIGINT, False),  # the command stops on Ctrl-C, and so does run
    ("trap '' INT; sleep 4", 0, True),  # a command that ignores it (an interactive shell) keeps running
])
def test_ctrl_c_at_the_terminal_is_the_command_s_to_decide(tmp_path: Path, command, status, survived) -> None:
    fleet = tmp_path / "fleet.yml"
    fleet.write_text(yaml.safe_dump(FLEET), encoding="utf-8")
    ready, after = tmp_path / "ready", tmp_path / "after"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    master, terminal = pty.openpty()
    run = subprocess.Popen([EMULATOR_PYTHON, "-m", "emulator", "run", "--fleet", str(fleet), "--", "/bin/sh", "-c",
                            f"touch {ready}; {command}; touch {after}"],
                           cwd=REPO_ROOT, env=env, stdin=terminal, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, preexec_fn=in_a_terminal)
    os.close(terminal)
    try:
        wait_for(lambda: ready.exists() or run.poll() is not None, "the command to start", timeout=120)
        assert run.poll() is None
        processes = tree(run.pid)
        os.write(master, b"\x03")  # Ctrl-C: SIGINT to the terminal's foreground group, run and its command
        assert run.wait(timeout=120) == status
        assert after.exists() == survived
        wait_for(lambda: not alive(processes), "every process of the run to end", timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        os.close(master)
