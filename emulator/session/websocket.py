"""The server side of RFC 6455, on the emulator's own HTTP handler: handshake, masked client frames, binary
frames, fragments, ping/pong and the closing handshake. Small on purpose: one connection per session, no
extensions, no text frames expected (the client sends binary, client.go ``write``)."""
from __future__ import annotations

import base64
import hashlib
import queue
import struct
import threading
import time
from collections.abc import Callable
from typing import BinaryIO

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
MAX_MESSAGE = 16 * 1024 * 1024  # a client message above this closes the connection (1009)
CLOSE_GRACE = 2.0  # seconds the peer has to answer our close frame


class Closed(Exception):
    """The connection ended: a close frame, EOF, or a protocol error (``code`` is what we answer)."""

    def __init__(self, code: int = 1000, reason: str = "") -> None:
        super().__init__(f"{code} {reason}".strip())
        self.code = code
        self.reason = reason


def accept_key(key: str) -> str:
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 §4.2.2)."""
    return base64.b64encode(hashlib.sha1((key.strip() + GUID).encode()).digest()).decode()


def is_upgrade(headers: dict[str, str]) -> bool:
    """A websocket handshake request (lower-case header names)."""
    return all(("websocket" in headers.get("upgrade", "").lower(), "upgrade" in headers.get("connection", "").lower(),
                bool(headers.get("sec-websocket-key"))))


def encode_frame(opcode: int, payload: bytes) -> bytes:
    """A final, unmasked server frame."""
    head = bytes([0x80 | opcode])
    size = len(payload)
    if size < 126:
        head += bytes([size])
    elif size < 1 << 16:
        head += bytes([126]) + struct.pack(">H", size)
    else:
        head += bytes([127]) + struct.pack(">Q", size)
    return head + payload


def read_exact(stream: BinaryIO, size: int) -> bytes:
    """``size`` bytes or Closed(1006) at EOF."""
    data = stream.read(size) if size else b""
    if len(data) != size:
        raise Closed(1006, "connection lost")
    return data


def read_frame(stream: BinaryIO) -> tuple[bool, int, bytes]:
    """(fin, opcode, unmasked payload) of one client frame; an unmasked client frame is a protocol error."""
    first, second = read_exact(stream, 2)
    size = second & 0x7F
    if size == 126:
        size = struct.unpack(">H", read_exact(stream, 2))[0]
    elif size == 127:
        size = struct.unpack(">Q", read_exact(stream, 8))[0]
    if not second & 0x80:
        raise Closed(1002, "client frames must be masked")
    if first & 0x70:
        raise Closed(1002, "no extension was negotiated")
    if size > MAX_MESSAGE:
        raise Closed(1009, "message too big")
    mask = read_exact(stream, 4)
    data = read_exact(stream, size)
    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(data)) if size < 64 else unmask(data, mask)
    return bool(first & 0x80), first & 0x0F, payload


def unmask(data: bytes, mask: bytes) -> bytes:
    """XOR with the 4-byte mask, fast for large payloads (whole-integer XOR)."""
    size = len(data)
    key = int.from_bytes((mask * (size // 4 + 1))[:size], "little")
    return (int.from_bytes(data, "little") ^ key).to_bytes(size, "little")


class Connection:
    """One accepted websocket: ``send`` is thread-safe (the output pump and the reader both write), ``receive``
    belongs to the reader thread and answers pings and the close handshake itself.

    ``delay`` is the latency model: while it gives more than 0 s, each frame to the client leaves that long after
    it was sent, without waiting for the frames before it (a delivery thread keeps their order), as on a network
    with that latency: a 50-frame output arrives N ms late, not 50 × N ms."""

    def __init__(self, rfile: BinaryIO, wfile: BinaryIO, delay: Callable[[], float] | None = None,
                 shutdown: Callable[[], None] | None = None) -> None:
        self.rfile = rfile
        self.wfile = wfile
        self.shutdown = shutdown  # cuts the socket when the peer does not answer our close frame
        self.delay = delay
        self._lock = threading.Lock()  # one writer on the socket at a time
        self._state = threading.Lock()  # closed flag and the delivery queue
        self._queue: queue.Queue[tuple[float, bytes, Callable[[], None] | None]] | None = None
        self.broken = False
        self.closed = False

    def send(self, payload: bytes, opcode: int = OP_BINARY) -> bool:
        """Send one message; False once the connection is closed or broken."""
        with self._state:
            if self.closed:
                return False
        return self._emit(encode_frame(opcode, payload))

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Send our close frame (once, after every frame sent before it); the reader reads the peer's answer, and
        the socket is cut CLOSE_GRACE seconds after our close frame left if none comes (a reader must never wait
        forever on a silent peer)."""
        with self._state:
            if self.closed:
                return
            self.closed = True
        self._emit(encode_frame(OP_CLOSE, struct.pack(">H", code) + reason.encode()[:120]), self._arm_cut)

    def _arm_cut(self) -> None:
        if self.shutdown is not None:
            timer = threading.Timer(CLOSE_GRACE, self.shutdown)
            timer.daemon = True
            timer.start()

    def _emit(self, frame: bytes, after: Callable[[], None] | None = None) -> bool:
        """Write now, or queue for the delivery thread when there is a latency (or frames already queued)."""
        seconds = self.delay() if self.delay is not None else 0.0
        with self._state:
            if seconds > 0 and self._queue is None:
                self._queue = queue.Queue()
                threading.Thread(target=self._deliver, args=(self._queue,), name="ws-latency", daemon=True).start()
            waiting = self._queue
        if waiting is None:
            written = self._write(frame)
            if after is not None:
                after()
            return written
        waiting.put((time.monotonic() + seconds, frame, after))
        return not self.broken

    def _deliver(self, waiting: queue.Queue[tuple[float, bytes, Callable[[], None] | None]]) -> None:
        """The delivery thread: each frame at its time, in order, until the close frame left."""
        while True:
            due, frame, after = waiting.get()
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            self._write(frame)
            if after is not None:
                after()
                return

    def _write(self, frame: bytes) -> bool:
        with self._lock:
            if self.broken:
                return False
            try:
                self.wfile.write(frame)
                self.wfile.flush()
                return True
            except OSError:
                self.broken = True
                return False

    def receive(self) -> bytes:
        """The next complete data message (fragments joined); pings are answered; Closed when the peer closes or
        the stream breaks (our close frame is sent back first)."""
        parts: list[bytes] = []
        while True:
            try:
                fin, opcode, payload = read_frame(self.rfile)
            except Closed as closed:
                self.close(closed.code if closed.code != 1006 else 1000, closed.reason)
                raise
            except OSError:
                self.broken = self.closed = True
                raise Closed(1006, "connection lost") from None
            if opcode == OP_PING:
                self._control(OP_PONG, payload)
            elif opcode == OP_PONG:
                continue
            elif opcode == OP_CLOSE:
                code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 1000
                self.close(code if code in (1000, 1001) else 1000)
                raise Closed(code, payload[2:].decode(errors="replace"))
            elif opcode in (OP_TEXT, OP_BINARY, OP_CONT):
                parts.append(payload)
                if sum(len(p) for p in parts) > MAX_MESSAGE:
                    self.close(1009, "message too big")
                    raise Closed(1009, "message too big")
                if fin:
                    return b"".join(parts)
            else:
                self.close(1002, "unknown opcode")
                raise Closed(1002, "unknown opcode")

    def _control(self, opcode: int, payload: bytes) -> None:
        self.send(payload[:125], opcode)
