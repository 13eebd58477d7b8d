"""The in-terminal helper (remote_helper.py) and the Link that drives it, over a real pseudo-terminal on this
machine: the same bootstrap command line the agent would run, the same raw mode, the same framing."""

from __future__ import annotations

import ast
import os
import pty
import select
import shlex
import signal
import socket
import subprocess
import threading
import time

import pytest

from ansible_collections.alicloud.ecs.plugins.plugin_utils.session import link as session_link
from ansible_collections.alicloud.ecs.plugins.plugin_utils.session import remote_helper as rh


class PtyTransport:
    """The terminal the agent would give: the bootstrap command on a pty, its master as the byte stream.

    The master is closed under the reader's lock: a descriptor closed while a reader still selects on it may be
    reused by the next test's terminal, whose output that reader would then swallow."""

    def __init__(self) -> None:
        master, slave = pty.openpty()
        self.process = subprocess.Popen(shlex.split(rh.bootstrap_command()), stdin=slave, stdout=slave,
                                        stderr=slave, start_new_session=True)
        os.close(slave)
        self.master = master
        self.closed = False
        self.lock = threading.Lock()

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def receive(self) -> bytes:
        with self.lock:
            if self.closed:
                raise session_link.LinkLost("closed")
            if not select.select([self.master], [], [], 0.2)[0]:
                raise socket.timeout()
            try:
                data = os.read(self.master, 1024)
            except OSError:
                data = b""
        if not data:
            raise session_link.LinkLost("the terminal ended")
        return data

    def close(self) -> None:
        with self.lock:
            if not self.closed:
                self.closed = True
                os.close(self.master)


@pytest.fixture
def link():
    transport = PtyTransport()
    started = session_link.Link(transport)
    started.start(time.monotonic() + 20)
    yield started
    started.close()
    transport.process.kill()
    transport.process.wait(10)


def test_frames_round_trip_and_damage_is_told_from_noise() -> None:
    line = rh.armour(rh.REPLY, rh.STDOUT, 7, b"\x00\xff\r\n")
    assert line.endswith(b"\n") and line.isascii()
    assert rh.unarmour(rh.REPLY, b"junk before " + line) == (rh.STDOUT, 7, b"\x00\xff\r\n")
    assert rh.unarmour(rh.REPLY, b"a line of terminal text") is None
    assert rh.unarmour(rh.REPLY, rh.armour(rh.REQUEST, rh.PING, 1)) is None  # an echoed request is no reply
    damaged = line[:10] + (b"A" if line[10:11] != b"A" else b"B") + line[11:]
    with pytest.raises(rh.FramingError):
        rh.unarmour(rh.REPLY, damaged)
    with pytest.raises(rh.FramingError):
        rh.unarmour(rh.REPLY, rh.REPLY + b"!!!")
    longest = rh.armour(rh.REQUEST, rh.STDIN, 2 ** 32 - 1, b"\xff" * rh.REQUEST_CHUNK)
    assert len(longest) <= rh.MAX_LINE


def test_the_bootstrap_fits_commandline_and_splits_as_the_agent_splits_it() -> None:
    for sudo in (False, True):
        command = rh.bootstrap_command(sudo)
        assert len(command) <= 512  # StartTerminalSession's CommandLine limit
        assert "\\" not in command and rh.READY_TEXT not in command
        argv = shlex.split(command)  # the agent splits CommandLine with shlex, then runs it without a shell
        assert argv[:5] == (["setsid", "-w", "sudo", "-n", "python3"] if sudo else ["python3", "-c", argv[2]])


def test_exec_is_byte_exact_with_stdout_stderr_and_rc_apart(link) -> None:
    every_byte = bytes(range(256)) * 40 + b"\r\n\x03\x04\x1a\x11\x13"  # ^C ^D ^Z XON XOFF: no tty processing
    rc, stdout, stderr = link.run("cat; printf 'to stderr\\n' >&2; exit 7", every_byte, 20)
    assert (rc, stdout, stderr) == (7, every_byte, b"to stderr\n")
    assert link.run("printf 'no newline'", None, 20) == (0, b"no newline", b"")
    assert link.run("kill -9 $$", None, 20)[0] == 128 + 9


def test_a_command_longer_than_one_line_arrives_whole(link) -> None:
    command = "echo " + "x" * 5000
    assert link.run(command, None, 20) == (0, b"x" * 5000 + b"\n", b"")


def test_commands_in_flight_at_once_are_told_apart(link) -> None:
    results: dict[int, tuple[int, bytes, bytes]] = {}

    def one(number: int) -> None:
        results[number] = link.run(f"sleep 1; echo {number}; echo e{number} >&2; exit {number}", None, 20)
    started = time.monotonic()
    threads = [threading.Thread(target=one, args=(number,)) for number in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert time.monotonic() - started < 3.5  # side by side, not one after the other
    assert results == {n: (n, f"{n}\n".encode(), f"e{n}\n".encode()) for n in range(4)}


def test_a_timeout_kills_the_command_and_the_link_goes_on(link, tmp_path) -> None:
    marker = tmp_path / "late"
    with pytest.raises(session_link.CommandTimedOut, match="longer than 1 s"):
        link.run(f"sleep 3; touch {marker}", None, 1)
    time.sleep(3)
    assert not marker.exists()
    assert link.ping(5)
    assert link.run("echo still", None, 10) == (0, b"still\n", b"")


def test_a_command_nobody_waits_for_any_more_is_killed(link, tmp_path) -> None:
    marker = tmp_path / "late"
    asked = []

    def abandoned() -> bool:
        asked.append(time.monotonic())
        return len(asked) > 2
    with pytest.raises(session_link.CommandAbandoned):
        link.run(f"sleep 3; touch {marker}", None, 60, abandoned)
    time.sleep(3)
    assert not marker.exists()
    assert link.run("echo next", None, 10) == (0, b"next\n", b"")


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _start_sleeper(link, tmp_path) -> tuple[threading.Thread, list, int]:
    pid_file = tmp_path / "pid"
    outcome: list = []

    def run() -> None:
        try:
            outcome.append(link.run(f"sh -c 'echo $$ > {pid_file}; exec sleep 300'; echo done", None, 60))
        except session_link.LinkLost as error:
            outcome.append(error)
    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 10
    while not (pid_file.exists() and pid_file.read_text().strip()):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return thread, outcome, int(pid_file.read_text())


@pytest.mark.parametrize("how", ["hangup", "helper killed"])
def test_when_the_terminal_ends_the_command_in_flight_is_lost_and_killed(tmp_path, how) -> None:
    transport = PtyTransport()
    started = session_link.Link(transport)
    started.start(time.monotonic() + 20)
    thread, outcome, sleeper = _start_sleeper(started, tmp_path)
    if how == "hangup":
        transport.close()  # the agent closes the terminal: the helper's SIGHUP
    else:
        transport.process.send_signal(signal.SIGKILL)  # the agent kills the terminal's process: the reaper
    thread.join(20)
    assert isinstance(outcome[0], session_link.LinkLost)
    deadline = time.monotonic() + 10
    while not _gone(sleeper):
        assert time.monotonic() < deadline, f"pid {sleeper} outlived the channel ({how})"
        time.sleep(0.05)
    transport.close()
    transport.process.wait(10)


def test_a_terminal_that_never_shows_the_marker_is_refused_with_its_words() -> None:
    class Talker:
        def __init__(self) -> None:
            self.said = [b"sudo: a password is required\r\n"]

        def send(self, data: bytes) -> None:
            pass

        def receive(self) -> bytes:
            if self.said:
                return self.said.pop()
            raise session_link.LinkLost("the agent closed the session: Exit")

        def close(self) -> None:
            pass
    with pytest.raises(session_link.LinkRefused, match="a password is required"):
        session_link.Link(Talker()).start(time.monotonic() + 5)


def test_the_rate_is_asked_once_the_terminal_answered_and_before_the_helper_is_sent() -> None:
    """The agent drops client messages that come before its terminal exists (shell_unix.go
    InputStreamMessageHandler), so a rate asked at connect time would be lost."""
    class Recorder:
        def __init__(self) -> None:
            self.events: list[str] = []
            self.output = [rh.armour(rh.REPLY, rh.READY, 0, b'{"version": 1}'), b"motd\r\n" + b"@AC" + b"READY\n"]

        def ask_rate(self, rate: int) -> None:
            self.events.append(f"rate {rate}")

        def send(self, data: bytes) -> None:
            self.events.append("program" if data.endswith(b".\n") else "input")

        def receive(self) -> bytes:
            self.events.append("output")
            if self.output:
                return self.output.pop()
            raise socket.timeout()

        def close(self) -> None:
            pass
    transport = Recorder()
    started = session_link.Link(transport)
    started.start(time.monotonic() + 5)
    assert started.helper == {"version": 1}
    first_rate = transport.events.index(f"rate {session_link.ASKED_RATE}")
    assert transport.events[:first_rate] == ["output"]
    assert transport.events[first_rate + 1:].count("rate 4294967295") == 0
    assert "program" in transport.events[first_rate + 1:]
    started.close()


def test_the_helper_parses_as_python_3_6() -> None:
    """It runs on the instance's python3, which may be as old as 3.6 (the oldest python3 of supported images)."""
    source = session_link.helper_source()
    ast.parse(source, feature_version=(3, 6))
    assert "from __future__ import annotations" not in source


def test_input_keeps_to_a_rate_the_agent_asks_and_goes_at_once_without_one() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds
    pacer = session_link.Pacer(lambda: now[0], sleep)
    for _chunk in range(3):
        pacer.wait_for(4096)
    assert slept == []
    pacer.rate = 204800  # 200 kbit/s, the CLI's default: a 2,048-byte packet every 80 ms
    for _chunk in range(3):
        pacer.wait_for(2048)
    assert slept == pytest.approx([0.08, 0.08])
