# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small websocket client (RFC 6455) on the socket and ssl modules, so the session needs no new dependency.

What the session needs and no more: one connection to ``ws://`` or ``wss://`` with extra request headers (the
session token), binary messages out (masked, as a client must), messages in (fragments joined), pings
answered, close answered. Every read and write has a deadline (the socket's timeout); a peer that stops
answering ends in WebSocketError, never in a wait without end.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import ssl
import struct
import threading
import typing as t
from urllib.parse import urlsplit

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_MESSAGE = 64 * 1024 * 1024  # a peer announcing more is not a session agent
MAX_HEADER = 64 * 1024


class WebSocketError(Exception):
    """The connection could not be made, or broke, or the peer spoke something else."""


class WebSocketClosed(WebSocketError):
    """The peer closed the connection (a close frame or the end of the stream)."""


def accept_key(key: str) -> str:
    """The Sec-WebSocket-Accept a server must answer to ``key``."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode("ascii")).digest()).decode("ascii")


def mask(data: bytes, key: bytes) -> bytes:
    """``data`` XORed with the 4-byte ``key`` repeated (masking and unmasking are the same)."""
    if not data:
        return b""
    repeated = (key * (len(data) // 4 + 1))[:len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(repeated, "big")).to_bytes(len(data), "big")


def encode_frame(opcode: int, payload: bytes, fin: bool = True, key: bytes | None = None) -> bytes:
    """One frame; masked with ``key`` (4 random bytes when None), as every client frame must be."""
    key = os.urandom(4) if key is None else key
    first = (0x80 if fin else 0) | opcode
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", first, 0x80 | length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", first, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, length)
    return header + key + mask(payload, key)


class Frame(t.NamedTuple):
    fin: bool
    opcode: int
    payload: bytes


def read_frame(read: t.Callable[[int], bytes]) -> Frame:
    """One frame from ``read(n)`` (which returns exactly n bytes or raises); masked ones are unmasked."""
    first, second = struct.unpack("!BB", read(2))
    if first & 0x70:
        raise WebSocketError("the server set reserved bits (an extension this client did not ask for)")
    length = second & 0x7F
    if length == 126:
        length = struct.unpack("!H", read(2))[0]
    elif length == 127:
        length = struct.unpack("!Q", read(8))[0]
    if length > MAX_MESSAGE:
        raise WebSocketError(f"the server announced a frame of {length} bytes")
    key = read(4) if second & 0x80 else None
    payload = read(length) if length else b""
    return Frame(bool(first & 0x80), first & 0x0F, mask(payload, key) if key else payload)


class WebSocket:
    """One client connection. ``send`` may be called from any thread; ``receive`` from one reader thread."""

    def __init__(self, url: str, headers: t.Mapping[str, str] | None = None, timeout: float = 30.0,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.url = url
        self._send_lock = threading.Lock()
        self._buffer = b""
        self.closed = False
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise WebSocketError(f"not a websocket URL: {_shown(url)}")
        port = parts.port or (443 if parts.scheme == "wss" else 80)
        try:
            raw = socket.create_connection((parts.hostname, port), timeout=timeout)
        except OSError as error:
            raise WebSocketError(f"cannot reach {parts.hostname}:{port}: {error}") from None
        if parts.scheme == "wss":
            context = ssl_context or ssl.create_default_context()
            try:
                raw = context.wrap_socket(raw, server_hostname=parts.hostname)
            except (OSError, ssl.SSLError) as error:
                raw.close()
                raise WebSocketError(f"TLS with {parts.hostname}:{port} failed: {error}") from None
        self._sock = raw
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            self._handshake(parts.netloc, path, dict(headers or {}))
        except socket.timeout:
            raw.close()
            raise WebSocketError(f"{parts.hostname}:{port} did not answer the websocket handshake in "
                                 f"{timeout:g} s") from None
        except BaseException:
            raw.close()
            raise

    def _handshake(self, host: str, path: str, headers: dict[str, str]) -> None:
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "Upgrade: websocket", "Connection: Upgrade",
                 f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self._sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        head = self._read_head()
        status_line, _sep, rest = head.partition("\r\n")
        fields = {}
        for line in rest.split("\r\n"):
            name, _sep, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or parts[1] != "101":
            raise WebSocketError(f"the server refused the websocket: {status_line.strip() or 'no answer'}")
        if fields.get("sec-websocket-accept") != accept_key(key):
            raise WebSocketError("the server's Sec-WebSocket-Accept does not match the key sent")

    def _read_head(self) -> str:
        while b"\r\n\r\n" not in self._buffer:
            if len(self._buffer) > MAX_HEADER:
                raise WebSocketError("the server's handshake answer is too long")
            self._buffer += self._recv()
        head, _sep, self._buffer = self._buffer.partition(b"\r\n\r\n")
        return head.decode("latin-1")

    def _recv(self) -> bytes:
        try:
            chunk = self._sock.recv(65536)
        except socket.timeout:
            raise
        except OSError as error:
            raise WebSocketClosed(f"the connection broke: {error}") from None
        if not chunk:
            raise WebSocketClosed("the server closed the connection")
        return chunk

    def _read_exactly(self, count: int) -> bytes:
        while len(self._buffer) < count:
            self._buffer += self._recv()
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data

    def _sendall(self, data: bytes) -> None:
        try:
            self._sock.sendall(data)
        except OSError as error:
            raise WebSocketClosed(f"the connection broke: {error}") from None

    def settimeout(self, seconds: float | None) -> None:
        """The deadline of each socket read and write from now on."""
        self._sock.settimeout(seconds)

    def send(self, payload: bytes, opcode: int = OP_BINARY) -> None:
        """One whole message (a single frame)."""
        with self._send_lock:
            if self.closed:
                raise WebSocketClosed("the websocket is closed")
            self._sendall(encode_frame(opcode, payload))

    def receive(self) -> bytes:
        """The next data message (fragments joined); pings are answered on the way. socket.timeout when none
        arrives within the timeout; WebSocketClosed when the peer closes."""
        parts: list[bytes] = []
        while True:
            frame = read_frame(self._read_exactly)
            if frame.opcode == OP_PING:
                self._control(OP_PONG, frame.payload)
            elif frame.opcode == OP_CLOSE:
                self._answer_close(frame.payload)
            elif frame.opcode in (OP_TEXT, OP_BINARY, OP_CONTINUATION):
                parts.append(frame.payload)
                if sum(map(len, parts)) > MAX_MESSAGE:
                    raise WebSocketError("the server sent a message larger than this client accepts")
                if frame.fin:
                    return b"".join(parts)

    def _control(self, opcode: int, payload: bytes) -> None:
        try:
            self.send(payload[:125], opcode)
        except WebSocketClosed:
            pass

    def _answer_close(self, payload: bytes) -> t.NoReturn:
        code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
        self._control(OP_CLOSE, payload[:2])
        self.closed = True
        raise WebSocketClosed(f"the server closed the websocket (code {code}"
                              f"{': ' + payload[2:].decode('utf-8', 'replace') if payload[2:] else ''})")

    def ping(self, payload: bytes = b"keepalive") -> None:
        self.send(payload, OP_PING)

    def close(self, code: int = 1000) -> None:
        """Say goodbye (best effort) and drop the connection."""
        if not self.closed:
            try:
                self.send(struct.pack("!H", code), OP_CLOSE)
            except WebSocketError:
                pass
            self.closed = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes a reader blocked in recv
        except OSError:
            pass
        try:
            self._sock.close()
        except OSError:
            pass


def _shown(url: str) -> str:
    """``url`` without its query (which may carry a token)."""
    return url.split("?", 1)[0]
