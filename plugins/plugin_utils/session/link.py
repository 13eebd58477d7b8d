# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One live session: the terminal's byte stream (a Transport), the helper started in it, and the commands
running through it, told apart by request id.

A Link is used by the session holder only. It starts the helper (remote_helper.py) in the terminal, then runs
any number of commands at once over it. When the stream breaks, every command in flight ends in LinkLost: its
outcome is unknown (it may have run), so it is never sent again; the holder opens a new Link for later ones.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import struct
import threading
import time
import typing as t

from . import frames
from . import remote_helper as rh
from .websocket import WebSocket, WebSocketClosed, WebSocketError

READY_SEARCH_LIMIT = 64 * 1024  # terminal text kept while waiting for the helper's ready marker
INPUT_BATCH = 4096  # bytes of request lines per websocket message
# The output rate asked of the agent (status code 7): as high as the message can say; the agent then sends
# without pausing between its 1,024-byte chunks.
ASKED_RATE = frames.MAX_RATE
SOCKET_TIMEOUT = 30.0  # one websocket read or write making no progress this long breaks the link


class LinkLost(Exception):
    """The terminal stream broke (or never worked): commands in flight have an unknown outcome."""


class LinkRefused(LinkLost):
    """The helper never became ready: no python3, sudo refused, the terminal closed at once."""


class CommandTimedOut(Exception):
    """A command ran past its timeout; it was killed on the instance."""


class CommandAbandoned(Exception):
    """The one waiting for a command went away (its worker died); the command was killed on the instance, as
    ssh's remote command ends when its connection drops."""


ABANDON_CHECK = 0.5  # seconds between looks at whether the waiting worker is still there


class Transport(t.Protocol):
    """The terminal as a byte stream."""

    def send(self, data: bytes) -> None:
        """Terminal input."""

    def receive(self) -> bytes:
        """Terminal output (some bytes); socket.timeout when none came in a while; LinkLost when it ended."""

    def close(self) -> None:
        """Drop the stream."""


class Pacer:
    """Holds input to a rate the other side asked for (status code 7 to the client, ``client.go``: the CLI then
    waits between its packets), so a service that enforces it (the client knows a FlowExceedLimit closing reason)
    never sees more. No rate asked: no pause."""

    def __init__(self, clock: t.Callable[[], float] = time.monotonic,
                 sleep: t.Callable[[float], None] = time.sleep) -> None:
        self.rate = 0  # bits per second; 0: as fast as the connection goes
        self.clock = clock
        self.sleep = sleep
        self._free_at = 0.0

    def wait_for(self, size: int) -> None:
        """Pause until ``size`` more bytes may go."""
        if not self.rate:
            return
        now = self.clock()
        start = max(now, self._free_at)
        if start > now:
            self.sleep(start - now)
        self._free_at = start + size * 8 / self.rate


class WebSocketTransport:
    """The terminal over a Session Manager websocket and the agent's frames (frames.py)."""

    def __init__(self, url: str, token: str, timeout: float) -> None:
        try:
            self.socket = WebSocket(url, {"x-acs-session-token": token}, timeout=timeout)
        except WebSocketError as error:
            raise LinkRefused(f"the session's websocket cannot be reached: {error}") from None
        self.socket.settimeout(SOCKET_TIMEOUT)
        self._sequence = 0
        self._lock = threading.Lock()
        self.pacer = Pacer()  # input held to the rate the agent asks of the client (code 7), none until it asks

    def _message(self, kind: int, payload: bytes) -> None:
        with self._lock:
            self.pacer.wait_for(len(payload))
            data = frames.encode(frames.Message(kind, payload, self._sequence))
            self._sequence += 1
            try:
                self.socket.send(data)
            except (WebSocketError, OSError) as error:
                raise LinkLost(f"the session's websocket broke: {error}") from None

    def send(self, data: bytes) -> None:
        self._message(frames.INPUT, data)

    def ask_rate(self, bits_per_second: int) -> None:
        self._message(frames.STATUS, frames.rate_status(bits_per_second))

    def receive(self) -> bytes:
        while True:
            try:
                data = self.socket.receive()
            except WebSocketClosed as error:
                raise LinkLost(str(error)) from None
            except socket.timeout:
                raise
            except (WebSocketError, OSError) as error:
                raise LinkLost(f"the session's websocket broke: {error}") from None
            try:
                message = frames.decode(data)
            except frames.FrameError:
                continue
            if message.kind == frames.OUTPUT:
                return message.payload
            if message.kind == frames.STATUS:
                self._status(message.payload)

    def _status(self, payload: bytes) -> None:
        status = frames.read_status(payload)
        if status.code == frames.STATUS_CLOSED:
            raise LinkLost(f"the agent closed the session: {status.text}")
        if status.code == frames.STATUS_CONNECT_FAILED:
            raise LinkLost(f"the agent could not connect the session: {status.text}")
        if status.code == frames.STATUS_RATE and status.rate >= 8192:
            self.pacer.rate = status.rate

    def close(self) -> None:
        try:
            self._message(frames.CLOSE, b"1")
        except LinkLost:
            pass
        self.socket.close()


class Pending:
    """What came back so far for one command."""

    def __init__(self) -> None:
        self.stdout: list[bytes] = []
        self.stderr: list[bytes] = []
        self.done = threading.Event()
        self.rc: int | None = None
        self.error: Exception | None = None


class Link:
    """The helper in one terminal, and the commands running through it."""

    def __init__(self, transport: Transport, clock: t.Callable[[], float] = time.monotonic) -> None:
        self.transport = transport
        self.clock = clock
        self.opened = clock()
        self.last_input = clock()
        self.lost: str | None = None
        self._pending: dict[int, Pending] = {}
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._next_id = 1
        self._buffer = b""
        self._pongs: queue.Queue[int] = queue.Queue()
        self.corrupt_lines = 0
        self.helper: dict[str, t.Any] = {}

    # --- start ---------------------------------------------------------------------------------------------

    def start(self, deadline: float) -> None:
        """Wait for the bootstrap's marker, ask the agent for its highest output rate, send the helper, wait for
        its framed ready; LinkRefused with the terminal's own words (sudo's or the shell's refusal) when that does
        not happen by ``deadline``."""
        seen = self._until_marker(deadline)
        self._buffer = seen
        ask_rate = getattr(self.transport, "ask_rate", None)
        if ask_rate is not None:  # only now: the agent drops what comes before its terminal exists
            ask_rate(ASKED_RATE)
        self._send_raw(rh.program_lines(helper_source()))
        while True:
            frame = self._next_frame(deadline)
            if frame is not None and frame[0] == rh.READY:
                self.helper = json.loads(frame[2].decode("utf-8"))
                break
        threading.Thread(target=self._read_loop, name="session-link-reader", daemon=True).start()

    def _until_marker(self, deadline: float) -> bytes:
        seen = b""
        marker = rh.READY_TEXT.encode("ascii")
        while marker not in seen:
            seen += self._receive_until(deadline, seen)
            if len(seen) > READY_SEARCH_LIMIT:
                seen = seen[-len(marker):]
        return seen.split(marker, 1)[1].split(b"\n", 1)[1] if b"\n" in seen.split(marker, 1)[1] else b""

    def _receive_until(self, deadline: float, seen: bytes) -> bytes:
        while True:
            if self.clock() >= deadline:
                raise LinkRefused(f"the session's helper did not start in time{_said(seen)}")
            try:
                return self.transport.receive()
            except socket.timeout:
                continue
            except LinkLost as error:
                raise LinkRefused(f"the session ended before its helper started ({error}){_said(seen)}") from None

    def _next_frame(self, deadline: float) -> tuple[bytes, int, bytes] | None:
        while b"\n" not in self._buffer:
            self._buffer += self._receive_until(deadline, self._buffer)
        line, _sep, self._buffer = self._buffer.partition(b"\n")
        return self._parse(line)

    def _parse(self, line: bytes) -> tuple[bytes, int, bytes] | None:
        try:
            return rh.unarmour(rh.REPLY, line)
        except rh.FramingError:
            self.corrupt_lines += 1
            return None

    # --- reading ---------------------------------------------------------------------------------------------

    def _read_loop(self) -> None:
        try:
            while self.lost is None:
                try:
                    chunk = self.transport.receive()
                except socket.timeout:
                    continue
                self._buffer += chunk
                *lines, self._buffer = self._buffer.split(b"\n")
                for line in lines:
                    frame = self._parse(line)
                    if frame is not None:
                        self._dispatch(*frame)
        except LinkLost as error:
            self._lose(str(error))
        except Exception as error:  # pylint: disable=broad-except
            self._lose(f"the session's reader failed: {error!r}")

    def _dispatch(self, kind: bytes, request_id: int, payload: bytes) -> None:
        if kind == rh.PONG:
            self._pongs.put(request_id)
            return
        with self._lock:
            pending = self._pending.get(request_id)
        if pending is None:
            return
        if kind == rh.STDOUT:
            pending.stdout.append(payload)
        elif kind == rh.STDERR:
            pending.stderr.append(payload)
        elif kind == rh.EXIT:
            pending.rc = struct.unpack(">i", payload)[0]
            pending.done.set()
        elif kind == rh.FAILED:
            pending.error = RuntimeError(payload.decode("utf-8", "replace"))
            pending.done.set()

    def _lose(self, why: str) -> None:
        with self._lock:
            if self.lost is None:
                self.lost = why
            pending = list(self._pending.values())
        for item in pending:
            if not item.done.is_set():
                item.error = LinkLost(why)
                item.done.set()

    # --- writing ---------------------------------------------------------------------------------------------

    def _send_raw(self, data: bytes) -> None:
        with self._send_lock:
            for at in range(0, len(data), INPUT_BATCH):
                self.transport.send(data[at:at + INPUT_BATCH])
            self.last_input = self.clock()

    def _send_frames(self, lines: t.Iterable[bytes]) -> None:
        batch = b""
        with self._send_lock:
            for line in lines:
                if batch and len(batch) + len(line) > INPUT_BATCH:
                    self.transport.send(batch)
                    batch = b""
                batch += line
            if batch:
                self.transport.send(batch)
            self.last_input = self.clock()

    @property
    def in_flight(self) -> int:
        with self._lock:
            return sum(1 for item in self._pending.values() if not item.done.is_set())

    def _register(self) -> tuple[int, Pending]:
        with self._lock:
            if self.lost is not None:
                raise LinkLost(self.lost)
            request_id = self._next_id
            self._next_id += 1
            pending = self._pending[request_id] = Pending()
        return request_id, pending

    def run(self, command: str, stdin: bytes | None, timeout: float,
            abandoned: t.Callable[[], bool] | None = None) -> tuple[int, bytes, bytes]:
        """Run ``command`` on the instance; LinkLost when the link breaks before its exit status came back,
        CommandTimedOut (after killing it) when it runs longer than ``timeout``, CommandAbandoned (after killing
        it) once ``abandoned()`` says nobody waits for it any more."""
        request_id, pending = self._register()
        try:
            self._send_frames(_request_lines(request_id, command, stdin or b""))
        except LinkLost as error:
            self._lose(str(error))
        try:
            return self._wait(request_id, pending, timeout, abandoned)
        finally:
            with self._lock:
                self._pending.pop(request_id, None)

    def _wait(self, request_id: int, pending: Pending, timeout: float,
              abandoned: t.Callable[[], bool] | None) -> tuple[int, bytes, bytes]:
        deadline = self.clock() + timeout
        while not pending.done.wait(max(0.0, min(ABANDON_CHECK, deadline - self.clock()))):
            if abandoned is not None and abandoned():
                self.kill(request_id)
                raise CommandAbandoned("the worker waiting for the command is gone; the command was killed")
            if self.clock() >= deadline:
                self.kill(request_id)
                raise CommandTimedOut(f"the command ran longer than {timeout:g} s and was killed")
        if pending.error is not None:
            raise pending.error
        return t.cast(int, pending.rc), b"".join(pending.stdout), b"".join(pending.stderr)

    def kill(self, request_id: int) -> None:
        try:
            self._send_frames([rh.armour(rh.REQUEST, rh.KILL, request_id)])
        except LinkLost as error:
            self._lose(str(error))

    def ping(self, timeout: float) -> bool:
        """A no-op round trip through the helper (input for the agent's idle clock); False when it failed."""
        try:
            request_id, _pending = self._register()
        except LinkLost:
            return False
        with self._lock:
            self._pending.pop(request_id, None)
        try:
            self._send_frames([rh.armour(rh.REQUEST, rh.PING, request_id)])
        except LinkLost as error:
            self._lose(str(error))
            return False
        deadline = self.clock() + timeout
        while self.clock() < deadline:
            try:
                if self._pongs.get(timeout=max(0.01, deadline - self.clock())) == request_id:
                    return True
            except queue.Empty:
                break
        return False

    def close(self) -> None:
        self._lose("the session was closed")
        self.transport.close()


def _request_lines(request_id: int, command: str, stdin: bytes) -> t.Iterator[bytes]:
    spec = json.dumps({"cmd": command}).encode("utf-8")
    pieces = [spec[at:at + rh.REQUEST_CHUNK] for at in range(0, len(spec), rh.REQUEST_CHUNK)]
    for piece in pieces[:-1]:
        yield rh.armour(rh.REQUEST, rh.START_PART, request_id, piece)
    yield rh.armour(rh.REQUEST, rh.START, request_id, pieces[-1])
    for at in range(0, len(stdin), rh.REQUEST_CHUNK):
        yield rh.armour(rh.REQUEST, rh.STDIN, request_id, stdin[at:at + rh.REQUEST_CHUNK])
    yield rh.armour(rh.REQUEST, rh.STDIN_END, request_id)


def _said(seen: bytes) -> str:
    text = seen.decode("utf-8", "replace").strip()
    return f"; the terminal said: {text[-300:]}" if text else ""


_SOURCE: list[str] = []


def helper_source() -> str:
    """remote_helper.py as it is on disk (it runs as the program on the instance)."""
    if not _SOURCE:
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "remote_helper.py")
        with open(path, encoding="utf-8") as handle:
            _SOURCE.append(handle.read())
    return _SOURCE[0]
