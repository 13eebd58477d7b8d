"""End-to-end: the session channel (plugins/plugin_utils/session) against the emulator's Session Manager.

Real StartTerminalSession calls, a real websocket, the helper in a real terminal inside the instance, real
holder processes found through their Unix socket. Throughput figures are printed (run with -s to see them)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.api.client import CloudClient, resolve_settings
from ansible_collections.alicloud.ecs.plugins.plugin_utils.session.channel import (
    ChannelLost, SessionChannel, SessionUnavailable, TransferFailed)

from emulator.testing import wait_for

# Its own root: a bare "from conftest import" picks tests/integration/modules/conftest.py in a whole run.
REPO_ROOT = Path(__file__).resolve().parents[2]

COLLECTIONS = REPO_ROOT / ".build" / "collections"


@pytest.fixture
def session_env(emulator, tmp_path, monkeypatch) -> dict[str, str]:
    """The emulator's credentials and a private state directory of this test's own, in this process too."""
    env = dict(emulator.env(), ANSIBLE_LOCAL_TEMP=str(tmp_path / "local"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def instance(reachable) -> str:
    return reachable[0]["id"]


@pytest.fixture
def channels(session_env):
    """Makes SessionChannels; every holder they started is ended after the test."""
    made: list[SessionChannel] = []

    def make(instance_id: str, username: str = "root", **options) -> SessionChannel:
        channel = SessionChannel(lambda: CloudClient(resolve_settings()), instance_id,
                                 session_env["ALIBABA_CLOUD_REGION_ID"], username, **options)
        made.append(channel)
        return channel
    yield make
    for channel in made:
        channel.end_holder()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _sessions(emulator) -> int:
    return emulator.counters().get("StartTerminalSession", 0)


def test_exec_is_byte_exact_with_stderr_apart_and_rc(emulator, channels, instance) -> None:
    channel = channels(instance)
    every_byte = bytes(range(256)) * 64 + "é€😀".encode() + b"\r\n\x03\x04"
    rc, stdout, stderr = channel.exec("cat; printf 'warn\\n' >&2; exit 5", every_byte, timeout=60)
    assert (rc, stdout, stderr) == (5, every_byte, b"warn\n")
    assert channel.exec("id -u") == (0, b"0\n", b"")  # root: ecs-assist-user's helper through sudo -n
    assert channel.exec("head -c 3000 /dev/zero | tr '\\0' '\\377'") == (0, b"\xff" * 3000, b"")
    timed = time.monotonic()
    for _round in range(10):
        assert channel.exec("true") == (0, b"", b"")
    print(f"\nsession exec round trip: {(time.monotonic() - timed) / 10 * 1000:.1f} ms")


def test_another_remote_user_is_the_sessions_username(emulator, channels, instance) -> None:
    emulator.exec(instance, "id session-user >/dev/null 2>&1 || useradd -m session-user")
    channel = channels(instance, "session-user")
    assert channel.exec("id -un; pwd") == (0, b"session-user\n/home/session-user\n", b"")
    assert channel.session_user == "session-user"


# Run on the instance as the helper's child: the helper's stdout and the stdin of the session's terminal process (the
# helper's nearest ancestor that is not sudo, or the topmost sudo), each as the path its descriptor points at.
TERMINALS_SCRIPT = """
import os
def parent(pid):
    with open("/proc/%d/stat" % pid) as handle:
        return int(handle.read().rsplit(")", 1)[1].split()[1])
def comm(pid):
    with open("/proc/%d/comm" % pid) as handle:
        return handle.read().strip()
helper = os.getppid()
above = parent(helper)
while comm(above) == "sudo" and parent(above) > 1:  # 0: started from outside the instance's pid namespace
    above = parent(above)
print(os.readlink("/proc/%d/fd/1" % helper), os.readlink("/proc/%d/fd/0" % above), comm(above))
"""


def test_the_root_helper_writes_to_the_sessions_own_terminal(emulator, channels, instance) -> None:
    """Regression: a 16 MB fetch stalled with the helper blocked writing to the pty sudo's use_pty makes and sudo
    waiting in poll, its relay not draining; the root helper's sudo now runs without a controlling terminal, so it
    makes no pty and the helper's output goes straight to the terminal the agent reads (no relay in between)."""
    channel = channels(instance)
    rc, stdout, stderr = channel.exec("exec python3 -", TERMINALS_SCRIPT.encode())
    assert rc == 0, stderr
    helper_terminal, session_terminal, terminal_process = stdout.decode().split()
    assert session_terminal.startswith("/dev/pts/"), (session_terminal, terminal_process)
    assert helper_terminal == session_terminal, f"the helper writes to {helper_terminal}, not the session's terminal"
    data = os.urandom(16 << 20)
    channel.put(data, "/tmp/session-16m.bin")
    for _round in range(3):
        assert channel.fetch("/tmp/session-16m.bin", timeout=60) == data


def test_put_and_fetch_of_one_megabyte(emulator, channels, instance, tmp_path) -> None:
    channel = channels(instance)
    data = os.urandom(1024 * 1024)
    channel.exec("true")
    started = time.monotonic()
    channel.put(data, "/tmp/session-put.bin", mode=0o640)
    put_seconds = time.monotonic() - started
    assert channel.exec("stat -c %a /tmp/session-put.bin; sha256sum < /tmp/session-put.bin")[1].split() == [
        b"640", hashlib.sha256(data).hexdigest().encode(), b"-"]
    started = time.monotonic()
    assert channel.fetch("/tmp/session-put.bin", tmp_path / "back.bin") == data
    fetch_seconds = time.monotonic() - started
    assert (tmp_path / "back.bin").read_bytes() == data
    started = time.monotonic()
    rc, stdout, _stderr = channel.exec("head -c 4194304 /dev/urandom")
    output_seconds = time.monotonic() - started
    assert rc == 0 and len(stdout) == 4 * 1024 * 1024
    print(f"\nput 1 MiB {put_seconds:.2f} s ({1 / put_seconds:.1f} MiB/s), fetch 1 MiB {fetch_seconds:.2f} s "
          f"({1 / fetch_seconds:.1f} MiB/s), exec output 4 MiB {output_seconds:.2f} s "
          f"({4 / output_seconds:.1f} MiB/s)")
    with pytest.raises(TransferFailed, match="No such file"):
        channel.fetch("/tmp/does-not-exist")


WORKER = textwrap.dedent("""
    import json, sys
    from ansible_collections.alicloud.ecs.plugins.module_utils.api.client import CloudClient, resolve_settings
    from ansible_collections.alicloud.ecs.plugins.plugin_utils.session.channel import SessionChannel
    channel = SessionChannel(lambda: CloudClient(resolve_settings()), sys.argv[1], sys.argv[2], "root",
                             idle_seconds=float(sys.argv[4]))
    rc, out, err = channel.exec("echo " + sys.argv[3])
    print(json.dumps({"out": out.decode(), "holder": channel.stats()["pid"]}), flush=True)
    if len(sys.argv) > 5:
        sys.stdin.read()  # stays until told
""")


def _worker(env: dict[str, str], instance: str, word: str, idle: float = 60, wait: bool = False) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WORKER, instance, env["ALIBABA_CLOUD_REGION_ID"], word, str(idle),
                             *(["wait"] if wait else [])], env=dict(env, PYTHONPATH=str(COLLECTIONS)),
                            stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True)


def test_two_worker_processes_share_one_holder_and_one_session(emulator, session_env, channels, instance) -> None:
    emulator.reset_counters()
    workers = [_worker(session_env, instance, word) for word in ("one", "two")]
    answers = [json.loads(worker.communicate(timeout=120)[0]) for worker in workers]
    assert sorted(answer["out"] for answer in answers) == ["one\n", "two\n"]
    assert answers[0]["holder"] == answers[1]["holder"]
    assert _sessions(emulator) == 1
    third = channels(instance)
    assert third.exec("echo three") == (0, b"three\n", b"")
    assert third.stats()["pid"] == answers[0]["holder"] and _sessions(emulator) == 1
    assert emulator.counters().get("RunCommand", 0) == 0


def _start_sleeper(channel: SessionChannel, outcome: list) -> threading.Thread:
    def run() -> None:
        try:
            outcome.append(channel.exec("sh -c 'echo $$ > /tmp/session-sleeper.pid; exec sleep 300'; echo done"))
        except ChannelLost as error:
            outcome.append(error)
    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _sleeper_pid(emulator, instance: str) -> int:
    def written() -> str:
        return emulator.exec(instance, "cat /tmp/session-sleeper.pid 2>/dev/null")["stdout"].strip()
    return int(wait_for(written, "the sleeper's pid file", timeout=30))


def _gone_on_instance(emulator, instance: str, pid: int) -> bool:
    state = emulator.exec(instance, f"cat /proc/{pid}/stat 2>/dev/null")["stdout"]
    return not state or state.rsplit(")", 1)[1].split()[0] == "Z"


def test_killing_the_holder_mid_command_loses_it_and_kills_it_on_the_instance(emulator, channels, instance) -> None:
    emulator.exec(instance, "rm -f /tmp/session-sleeper.pid")
    channel = channels(instance)
    holder = channel.stats()["pid"]
    outcome: list = []
    thread = _start_sleeper(channel, outcome)
    sleeper = _sleeper_pid(emulator, instance)
    os.kill(holder, signal.SIGKILL)
    thread.join(60)
    assert isinstance(outcome[0], ChannelLost)
    wait_for(lambda: _gone_on_instance(emulator, instance, sleeper), "the command's process to end", timeout=30)
    assert not _alive(holder)
    before = _sessions(emulator)
    assert channel.exec("echo again") == (0, b"again\n", b"")  # a new holder, a new session
    assert _sessions(emulator) == before + 1


SLEEPER_WORKER = textwrap.dedent("""
    import sys
    from ansible_collections.alicloud.ecs.plugins.module_utils.api.client import CloudClient, resolve_settings
    from ansible_collections.alicloud.ecs.plugins.plugin_utils.session.channel import SessionChannel
    channel = SessionChannel(lambda: CloudClient(resolve_settings()), sys.argv[1], sys.argv[2], "root")
    channel.exec("sh -c 'echo $$ > /tmp/session-sleeper.pid; exec sleep 300'")
""")


def test_a_worker_killed_mid_command_has_its_command_killed(emulator, session_env, channels, instance) -> None:
    emulator.exec(instance, "rm -f /tmp/session-sleeper.pid")
    channel = channels(instance)
    holder = channel.stats()["pid"]
    worker = subprocess.Popen([sys.executable, "-c", SLEEPER_WORKER, instance, session_env["ALIBABA_CLOUD_REGION_ID"]],
                              env=dict(session_env, PYTHONPATH=str(COLLECTIONS)))
    sleeper = _sleeper_pid(emulator, instance)
    worker.kill()  # as ansible's worker dies on Ctrl-C: ssh's remote command would end with its connection
    worker.wait()
    wait_for(lambda: _gone_on_instance(emulator, instance, sleeper), "the abandoned command to end", timeout=30)
    assert channel.exec("echo still") == (0, b"still\n", b"")
    stats = channel.stats()
    assert stats["pid"] == holder and stats["counters"]["abandoned"] == 1 and stats["counters"]["reconnects"] == 0


def test_a_dropped_session_loses_the_command_in_flight_then_reconnects(emulator, channels, instance) -> None:
    emulator.exec(instance, "rm -f /tmp/session-sleeper.pid")
    channel = channels(instance)
    first = channel.stats()
    outcome: list = []
    thread = _start_sleeper(channel, outcome)
    sleeper = _sleeper_pid(emulator, instance)
    channel.client.call("EndTerminalSession", SessionId=first["session_id"])  # the service drops the session
    thread.join(60)
    assert isinstance(outcome[0], ChannelLost)
    wait_for(lambda: _gone_on_instance(emulator, instance, sleeper), "the command's process to end", timeout=30)
    assert channel.exec("echo back") == (0, b"back\n", b"")
    after = channel.stats()
    assert after["pid"] == first["pid"] and after["session_id"] != first["session_id"]
    assert after["counters"]["reconnects"] == 1 and after["counters"]["lost"] == 1


def test_the_holder_ends_its_session_after_its_idle_time(emulator, channels, instance) -> None:
    channel = channels(instance, idle_seconds=2)
    assert channel.exec("true")[0] == 0
    stats = channel.stats()
    channel.close()
    wait_for(lambda: not _alive(stats["pid"]), "the idle holder to exit", timeout=20)
    described = channel.client.call("DescribeTerminalSessions", SessionId=stats["session_id"])
    connection = described["Sessions"]["Session"][0]["Connections"]["Connection"][0]
    assert connection["Status"] != "Connected"
    assert channel.exec("echo fresh") == (0, b"fresh\n", b"")  # the next worker starts a new holder


def test_the_holder_exits_when_the_process_that_started_it_is_gone(emulator, session_env, instance) -> None:
    # The worker's parent stands for ansible-playbook: the worker runs, and its parent is killed.
    parent = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import subprocess, sys, time
        worker = subprocess.Popen([sys.executable, "-c", {WORKER!r}, {instance!r},
                                   {session_env["ALIBABA_CLOUD_REGION_ID"]!r}, "child", "600"])
        worker.wait()
        time.sleep(600)
    """)], env=dict(session_env, PYTHONPATH=str(COLLECTIONS)), stdout=subprocess.PIPE, text=True)
    answer = json.loads(parent.stdout.readline())
    assert answer["out"] == "child\n" and _alive(answer["holder"])
    parent.kill()
    parent.wait()
    wait_for(lambda: not _alive(answer["holder"]), "the holder to notice its parent is gone", timeout=20)


def test_session_manager_off_is_unavailable_at_once(emulator, channels, instance) -> None:
    emulator.control("PATCH", "options", {"session_manager": "off"})
    try:
        channel = channels(instance)
        started = time.monotonic()
        with pytest.raises(SessionUnavailable, match="SessionManager|Session Manager") as raised:
            channel.exec("true")
        assert time.monotonic() - started < 10
        assert raised.value.reason
    finally:
        emulator.control("PATCH", "options", {"session_manager": "on"})


def test_bad_parameters_are_named_before_any_call(emulator, session_env, instance) -> None:
    emulator.reset_counters()
    with pytest.raises(ValueError, match="instance_id"):
        SessionChannel(lambda: None, "", "cn-hangzhou", "root")
    with pytest.raises(ValueError, match="idle_seconds"):
        SessionChannel(lambda: None, instance, "cn-hangzhou", "root", idle_seconds=0)
    channel = SessionChannel(lambda: pytest.fail("no client before the parameters are checked"), instance,
                             "cn-hangzhou", "root")
    with pytest.raises(ValueError, match="stdin"):
        channel.exec("true", stdin="text")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mode"):
        channel.put(b"x", "/tmp/x", mode=0o17777)
    assert emulator.counters().get("StartTerminalSession", 0) == 0


def test_the_holder_socket_is_private(emulator, channels, instance, session_env) -> None:
    channel = channels(instance)
    channel.exec("true")
    path = Path(channel.socket_path)
    assert path.is_socket() and path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o077 == 0


@pytest.fixture
def short_limits(emulator):
    """Sets the agent's idle limit and cap for the sessions started in the test (restored after it)."""
    def set_limits(idle: float, cap: float) -> None:
        emulator.control("PATCH", "options", {"session_idle_seconds": idle, "session_max_seconds": cap})
    yield set_limits
    set_limits(180, 10800)


def test_keepalives_hold_the_session_past_the_agents_idle_limit(emulator, channels, instance, short_limits) -> None:
    short_limits(idle=3, cap=60)
    channel = channels(instance, keepalive_seconds=1, max_age_seconds=600)
    assert channel.exec("echo a") == (0, b"a\n", b"")
    first = channel.stats()
    time.sleep(5)  # longer than the idle limit, shorter than the cap
    assert channel.exec("echo b") == (0, b"b\n", b"")
    after = channel.stats()
    assert after["session_id"] == first["session_id"] and after["counters"]["reconnects"] == 0
    assert after["counters"]["keepalives"] >= 2


def test_a_session_near_its_cap_is_replaced_between_commands(emulator, channels, instance, short_limits) -> None:
    short_limits(idle=180, cap=8)
    channel = channels(instance, keepalive_seconds=1, max_age_seconds=3)
    assert channel.exec("echo a") == (0, b"a\n", b"")
    first = channel.stats()
    time.sleep(3.5)
    assert channel.exec("echo b") == (0, b"b\n", b"")
    after = channel.stats()
    assert after["session_id"] != first["session_id"]
    assert after["counters"] == dict(after["counters"], starts=2, reconnects=1, lost=0)


def test_a_terminal_that_cannot_start_the_helper_is_unavailable(emulator, channels, instance) -> None:
    # The agent fails the session when the RunAs user does not exist (shell_unix.go StartPty): the helper never
    # says it is ready, as when python3 or sudo is missing.
    channel = channels(instance, "no-such-user")
    started = time.monotonic()
    with pytest.raises(SessionUnavailable, match="before its helper started") as raised:
        channel.exec("true")
    assert "OpenPtyFailed" in raised.value.reason or "does not exist" in raised.value.reason
    assert time.monotonic() - started < 15
