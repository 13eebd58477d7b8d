"""The session holder's decisions with a fake session (no terminal, no API): one session for many commands,
a new one only between commands, a command in flight on a dropped channel answered "lost" and never sent
again, the age cap, keepalives, idle and parent exit; and the worker-holder wire over Unix sockets."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.api.contact import start_time
from ansible_collections.alicloud.ecs.plugins.plugin_utils.session import holder as session_holder
from ansible_collections.alicloud.ecs.plugins.plugin_utils.session import wire
from ansible_collections.alicloud.ecs.plugins.plugin_utils.session.link import LinkLost


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeLink:
    def __init__(self, clock: Clock, number: int) -> None:
        self.clock = clock
        self.number = number
        self.opened = clock()
        self.last_input = clock()
        self.lost: str | None = None
        self.in_flight = 0
        self.ran: list[str] = []
        self.helper = {"version": 1}
        self.gate = threading.Event()
        self.gate.set()
        self.pings = 0
        self.closed = False

    def run(self, command: str, stdin: bytes, timeout: float, abandoned=None) -> tuple[int, bytes, bytes]:
        self.ran.append(command)
        self.in_flight += 1
        self.last_input = self.clock()
        try:
            self.gate.wait(10)
            if self.lost is not None:
                raise LinkLost(self.lost)
            return 0, f"{self.number}:{command}".encode(), stdin
        finally:
            self.in_flight -= 1

    def ping(self, timeout: float) -> bool:
        self.pings += 1
        self.last_input = self.clock()
        return True

    def close(self) -> None:
        self.closed = True


class FakeStarter:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.links: list[FakeLink] = []
        self.ended: list[str] = []
        self.refuse: str | None = None

    def open(self) -> tuple[FakeLink, str]:
        if self.refuse:
            raise session_holder.Unavailable(self.refuse)
        link = FakeLink(self.clock, len(self.links))
        self.links.append(link)
        return link, f"s-{link.number}"

    def end(self, session_id: str) -> None:
        self.ended.append(session_id)


def _holder(**options) -> tuple[session_holder.Holder, FakeStarter, Clock]:
    clock = Clock()
    starter = FakeStarter(clock)
    return session_holder.Holder(starter, options.pop("idle_seconds", 60), clock=clock, **options), starter, clock


def _exec(holder, command: str, stdin: bytes = b"") -> tuple[dict, bytes]:
    return holder.execute({"cmd": command, "timeout": 10}, stdin)


def test_one_session_serves_every_command() -> None:
    holder, starter, _clock = _holder()
    assert _exec(holder, "a", b"in") == ({"ok": True, "rc": 0, "stdout": 3}, b"0:ain")
    assert _exec(holder, "b")[1] == b"0:b"
    assert len(starter.links) == 1 and holder.counters == {
        "starts": 1, "reconnects": 0, "lost": 0, "commands": 2, "keepalives": 0, "abandoned": 0}


def test_a_dropped_channel_loses_the_command_in_flight_and_the_next_command_reconnects() -> None:
    holder, starter, _clock = _holder()
    _exec(holder, "first")
    link = starter.links[0]
    link.gate.clear()
    answers: list = []
    worker = threading.Thread(target=lambda: answers.append(_exec(holder, "in flight")))
    worker.start()
    while not link.in_flight:
        time.sleep(0.01)
    link.lost = "the websocket broke"
    link.gate.set()
    worker.join(10)
    assert answers[0][0] == {"ok": False, "error": "lost", "reason": "the websocket broke"}
    assert _exec(holder, "next")[1] == b"1:next"
    assert link.ran == ["first", "in flight"] and starter.links[1].ran == ["next"]  # nothing sent twice
    assert starter.ended == ["s-0"] and link.closed
    assert holder.counters["reconnects"] == 1 and holder.counters["lost"] == 1 and holder.counters["starts"] == 2


def test_an_old_session_is_replaced_only_between_commands() -> None:
    holder, starter, clock = _holder(max_age=100)
    _exec(holder, "a")
    old = starter.links[0]
    clock.now += 150
    old.in_flight = 1  # a command still running on it: a new command shares the old session
    assert _exec(holder, "b")[1] == b"0:b"
    old.in_flight = 0
    assert _exec(holder, "c")[1] == b"1:c"
    assert holder.counters["reconnects"] == 1 and starter.ended == ["s-0"]


def test_a_session_that_cannot_start_is_unavailable() -> None:
    holder, starter, _clock = _holder()
    starter.refuse = "StartTerminalSession failed: Session Manager is off"
    assert _exec(holder, "a") == ({"ok": False, "error": "unavailable",
                                   "reason": "StartTerminalSession failed: Session Manager is off"}, b"")


def test_keepalive_after_quiet_time_only() -> None:
    holder, starter, clock = _holder(keepalive=60)
    _exec(holder, "a")
    link = starter.links[0]
    clock.now += 30
    holder.keep_alive()
    clock.now += 31
    holder.keep_alive()
    deadline = time.monotonic() + 5
    while holder.counters["keepalives"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert link.pings == 1


def test_idle_and_parent_exit() -> None:
    holder, _starter, clock = _holder(idle_seconds=60)
    assert holder.why_stop() is None
    clock.now += 61
    assert holder.why_stop() == "idle for 60 s"
    holder.last_activity = clock.now
    first, second = (subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) for _n in range(2))
    holder.runs = {first.pid: start_time(first.pid)}
    holder.join_run([second.pid, start_time(second.pid)])  # a worker of another run sent a command
    assert holder.why_stop() is None
    first.kill()
    first.wait()
    assert holder.why_stop() is None  # the other run still uses it
    second.kill()
    second.wait()
    holder.active = 1  # a command in flight finishes first
    assert holder.why_stop() is None
    holder.active = 0
    pids = ", ".join(map(str, sorted((first.pid, second.pid))))
    assert holder.why_stop() == f"the ansible run(s) that used it ended (process {pids})"
    holder.runs = {}
    holder.stopping = True
    assert holder.why_stop() == "asked to close"


def test_wire_messages_keep_binary_bodies_and_have_deadlines() -> None:
    one, other = socket.socketpair()
    with other:
        wire.send(one, {"op": "exec", "cmd": "x"}, bytes(range(256)))
        assert wire.receive(other, time.monotonic() + 5) == ({"op": "exec", "cmd": "x"}, bytes(range(256)))
        with pytest.raises(wire.WireTimeout):
            wire.receive(other, time.monotonic() + 0.2)
        one.close()
        with pytest.raises(wire.WireClosed):
            wire.receive(other, time.monotonic() + 1)


def test_a_long_socket_path_is_reached_through_its_directory(tmp_path) -> None:
    directory = tmp_path / ("d" * 60) / ("e" * 60)
    directory.mkdir(parents=True)
    path = str(directory / "holder.sock")
    assert len(path) > 108
    listener = wire.listen(path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    client = wire.connect(path, 5)
    server, _address = listener.accept()
    assert wire.peer_uid(server) == os.getuid()
    for sock in (client, server, listener):
        sock.close()
    (directory / "plain").write_text("not a socket")
    with pytest.raises(wire.WireClosed, match="not a socket"):
        wire.connect(str(directory / "plain"), 5)
    with pytest.raises(wire.WireClosed, match="no session holder"):
        wire.connect(str(directory / "missing.sock"), 5)
