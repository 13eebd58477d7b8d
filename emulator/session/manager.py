"""Session records and their websocket: what StartTerminalSession creates, what the endpoint attaches to, what
DescribeTerminalSessions shows. Records live in memory: a restarted emulator has lost every websocket, and its
session history with them ⚠ (the service keeps four weeks)."""
from __future__ import annotations

import hmac
import logging
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from ..clock import iso_seconds
from ..config import Options
from ..faults import Faults
from ..isolation import Sandbox
from . import frames
from .shell import Pump, StartFailed, Terminal, resolve_account
from .websocket import Closed, Connection

LOG = logging.getLogger("emulator.session")
URL_SECONDS = 600  # the documented validity of a WebSocketUrl: a first connection after that is refused
INSTANCE_SESSIONS = 20  # the documented cap of connected sessions per instance


@dataclass
class Session:
    """One session and its one connection (the emulator lets a session be connected once ⚠)."""

    id: str
    token: str
    region: str
    instance_id: str
    username: str
    command_line: str
    connection_type: str
    created: float
    status: str = "Connecting"  # Connecting → Connected → Terminated | Failed
    failed_detail: str = ""
    closed_reason: str = ""
    start_time: float | None = None
    end_time: float | None = None
    terminal: Terminal | None = None
    pump: Pump | None = None
    connection: Connection | None = None
    sequence: int = 0
    pump_thread: threading.Thread | None = None
    ended: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Sessions:
    """All sessions of the emulator; the API handlers and the websocket endpoint both go through here."""

    def __init__(self, sandbox: Sandbox, lookup: Callable[[str], dict[str, Any] | None], options: Options,
                 faults: Faults) -> None:
        self.sandbox = sandbox
        self.lookup = lookup
        self.options = options
        self.faults = faults
        if options.session_manager not in ("on", "off"):
            raise ValueError(f"session_manager must be on or off, not {options.session_manager!r}")
        self.endpoint = "ws://127.0.0.1:0"  # set by the HTTP server once it is bound
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def create(self, region: str, instance_id: str, username: str, command_line: str,
               connection_type: str) -> Session:
        """A new session, waiting for its websocket."""
        session = Session(id=f"s-{uuid.uuid4().hex[:20]}", token=secrets.token_urlsafe(32), region=region,
                          instance_id=instance_id, username=username, command_line=command_line,
                          connection_type=connection_type, created=time.time())
        with self._lock:
            self._sessions[session.id] = session
        return session

    def url(self, session: Session) -> str:
        """The WebSocketUrl ⚠ (the service's shape is not public): ws://<emulator>/session/<SessionId>."""
        return f"{self.endpoint}/session/{session.id}"

    def get(self, session_id: str) -> Session | None:
        """A session by id."""
        with self._lock:
            return self._sessions.get(session_id)

    def all(self) -> list[Session]:
        """Every session, newest first; a session never connected within its URL's validity is Failed."""
        with self._lock:
            found = sorted(self._sessions.values(), key=lambda s: s.created, reverse=True)
        for session in found:
            self._expire(session)
        return found

    def live(self, instance_id: str) -> int:
        """Sessions of an instance waiting for or holding a connection (the documented cap is 20 ⚠)."""
        return sum(1 for s in self.all() if s.instance_id == instance_id and s.status in ("Connecting", "Connected"))

    @staticmethod
    def _expire(session: Session) -> None:
        with session.lock:
            if session.status == "Connecting" and time.time() - session.created > URL_SECONDS:
                session.status = "Failed"
                session.failed_detail = f"the WebSocketUrl was not used within {URL_SECONDS} s"
                session.end_time = session.created + URL_SECONDS
                session.ended.set()

    def end(self, session: Session, reason: str = "Exit") -> None:
        """End a session: the terminal and all it started are killed, the client gets the closing status and a
        close frame; a session that never connected is Terminated too (its URL stops working)."""
        with session.lock:
            if session.status in ("Terminated", "Failed"):
                return
            session.status = "Terminated"
            session.closed_reason = reason
            session.end_time = time.time()
            pump, terminal, connection = session.pump, session.terminal, session.connection
        session.ended.set()
        if pump is not None:
            pump.stopped.set()
        if terminal is not None:
            terminal.end()
        thread = session.pump_thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)  # its last output goes before the closing status
        if connection is not None:
            self._send(session, frames.STATUS, frames.status_closed(reason))
            connection.close(1000, reason)

    def fail(self, session: Session, detail: str, code: str) -> None:
        """The terminal could not start: the client gets the status with the agent's error ⚠, the session is
        Failed with the detail DescribeTerminalSessions shows."""
        with session.lock:
            session.status = "Failed"
            session.failed_detail = detail
            session.closed_reason = code
            session.end_time = time.time()
            connection = session.connection
        session.ended.set()
        if connection is not None:
            self._send(session, frames.STATUS, frames.status_closed(code))
            connection.close(1000, code)

    def end_all(self) -> None:
        """Emulator stop or reset: every live session ends."""
        for session in self.all():
            self.end(session, "Exit")

    def clear(self) -> None:
        """Reset: every session ends and is forgotten."""
        self.end_all()
        with self._lock:
            self._sessions.clear()

    def stats(self) -> list[dict[str, Any]]:
        """GET /_emulator/sessions: each session's record with its instance, state and frames so far."""
        return [{**self.describe(s), "InstanceId": s.instance_id, "Status": s.status, "FramesSent": s.sequence,
                 "TerminalPid": s.terminal.proc.pid if s.terminal is not None else None} for s in self.all()]

    def end_instance(self, instance_id: str) -> None:
        """The instance stopped: its sessions end with it."""
        for session in self.all():
            if session.instance_id == instance_id:
                self.end(session, "Exit")

    def claim(self, session_id: str, token: str) -> tuple[int, str] | None:
        """Why a websocket handshake is refused before the upgrade ((HTTP status, text)), or None: then the
        session is Connected to this handshake, and no other can take it."""
        session = self.get(session_id)
        if session is None or not hmac.compare_digest(token.encode(), session.token.encode()):
            return 401, "missing or wrong x-acs-session-token for this session"
        self._expire(session)
        with session.lock:
            if session.status != "Connecting":
                return 410, f"session {session_id} is {session.status} (one connection per session, {URL_SECONDS} s)"
            session.status = "Connected"
            session.start_time = time.time()
        return None

    def serve(self, session_id: str, rfile: BinaryIO, wfile: BinaryIO, shutdown: Callable[[], None]) -> None:
        """Run a claimed websocket to its end, in the HTTP handler's thread: the terminal starts in a thread of
        its own after ``session_pty_delay`` (the agent sleeps 1 s after opening its channel, taskengine/session.go
        ``runTask``), its output is pumped by another, the client's messages are read here; those that come
        before the terminal exists are dropped, as the agent drops them (shell_unix.go
        ``InputStreamMessageHandler``: "Pty unavailable. Reject incoming message packet")."""
        session = self.get(session_id)
        if session is None:
            return
        connection = Connection(rfile, wfile, self._latency, shutdown)
        with session.lock:
            session.connection = connection
            ended = session.status != "Connected"
        if ended:  # EndTerminalSession between the handshake and now
            connection.close(1000, session.closed_reason or "Exit")
            return
        starter = threading.Thread(target=self._start_later, args=(session,), name=f"session-start-{session.id}",
                                   daemon=True)
        starter.start()
        try:
            self._read_loop(session, connection)
        finally:
            self.end(session, session.closed_reason or "Exit")

    def _start_later(self, session: Session) -> None:
        """Start the terminal after the agent's pause, unless the session ended meanwhile."""
        session.ended.wait(self.options.session_pty_delay)
        if not session.ended.is_set():
            self._start_terminal(session)

    def _latency(self) -> float:
        """The latency model: seconds each frame to the client is late (the faults' latency_ms, read per frame)."""
        return self.faults.latency_ms / 1000

    def _start_terminal(self, session: Session) -> bool:
        instance = self.lookup(session.instance_id)
        if instance is None or instance["status"] != "Running":
            self.fail(session, "the instance is not running", "OpenChannelFailed")
            return False
        try:
            account = resolve_account(self.sandbox, instance, session.username)
            terminal = Terminal(self.sandbox, instance, account, session.command_line)
        except (StartFailed, RuntimeError, OSError) as exc:
            self.fail(session, str(exc), "OpenPtyFailed")
            return False
        pump = Pump(terminal, lambda data: self._send(session, frames.OUTPUT, data),
                    lambda reason: self.end(session, reason), self.options.session_rate_bps,
                    self.options.session_idle_seconds, self.options.session_max_seconds,
                    self.options.session_start_delay)
        with session.lock:
            session.terminal, session.pump = terminal, pump
            ended = session.status != "Connected"
        if ended:  # EndTerminalSession came while the terminal started
            pump.stopped.set()
            terminal.end()
            return False
        session.pump_thread = threading.Thread(target=pump.run, name=f"session-{session.id}", daemon=True)
        session.pump_thread.start()
        return True

    def _read_loop(self, session: Session, connection: Connection) -> None:
        """The client's messages until it closes: input to the terminal, set_size, status (code 7), close."""
        while True:
            try:
                message = frames.decode(connection.receive())
            except Closed:
                session.closed_reason = session.closed_reason or "Exit"
                return
            except frames.FrameError as exc:
                LOG.info("session %s: %s", session.id, exc)
                continue
            if message.kind == frames.CLOSE:  # ⚠ the agent ignores type 3: the service ends the session
                return
            pump, terminal = session.pump, session.terminal
            if pump is None or terminal is None:
                LOG.debug("session %s: message type %d before the terminal, dropped", session.id, message.kind)
                continue
            pump.touch()
            if not self._handle(message, pump, terminal):
                return

    @staticmethod
    def _handle(message: frames.Frame, pump: Pump, terminal: Terminal) -> bool:
        """One client message; False when the terminal is gone for input."""
        if message.kind == frames.INPUT:
            try:
                terminal.write(message.payload)
            except OSError:
                return False
        elif message.kind == frames.SET_SIZE:
            size = frames.terminal_size(message.payload)
            if size is not None:
                terminal.resize(*size)
        elif message.kind == frames.STATUS:
            rate = frames.flow_limit(message.payload)
            if rate is not None:
                pump.set_rate(rate)
        return True

    def _send(self, session: Session, kind: int, payload: bytes) -> bool:
        """One message to the client, numbered in order of sending (one sequence per session ⚠)."""
        connection = session.connection
        if connection is None:
            return False
        with session.lock:
            sequence = session.sequence
            session.sequence += 1
        return connection.send(frames.encode(kind, payload, sequence, session.id, session.instance_id))

    def describe(self, session: Session) -> dict[str, Any]:
        """DescribeTerminalSessions' shape of one session ⚠ (fields beyond the documented example chosen here)."""
        connection = {"InstanceId": session.instance_id, "Status": session.status,
                      "StartTime": iso_seconds(session.start_time) if session.start_time else "",
                      "EndTime": iso_seconds(session.end_time) if session.end_time else "",
                      "ClosedReason": session.closed_reason}
        if session.status == "Failed":
            connection["FailedDetail"] = session.failed_detail
        return {"SessionId": session.id, "CreationTime": iso_seconds(session.created), "Username":
                session.username or "ecs-assist-user", "CommandLine": session.command_line, "PortNumber": "",
                "TargetServer": "", "Connections": {"Connection": [connection]}}
