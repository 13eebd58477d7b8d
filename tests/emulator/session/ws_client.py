"""A test-side websocket client speaking ali-instance-cli's frames (agent/session/plugin/client.go and
plugin/message/message.go): the client sends masked binary frames with both id lengths 0, and reads the
server's messages. Independent of the emulator's own codec, so a mistake there cannot hide here."""
from __future__ import annotations

import base64
import os
import socket
import struct
import time
from typing import Any
from urllib.parse import urlsplit

INPUT, OUTPUT, SET_SIZE, CLOSE, STATUS = 0, 1, 2, 3, 5


class HandshakeRefused(Exception):
    """The server answered the upgrade with another status."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"{status} {body!r}")
        self.status = status


def client_message(kind: int, payload: bytes, sequence: int = 0) -> bytes:
    """A message as the client serializes it: type, "1.01", id lengths 0, created, sequence, length, payload."""
    header = struct.pack("<I", kind) + b"1.01" + b"\x00\x00"
    stamps = struct.pack("<Qq", int(time.time() * 1000), sequence)
    return b"".join((header, stamps, struct.pack("<I", len(payload)), payload))


def parse_message(data: bytes) -> dict:
    """A server message: the ids are skipped by their lengths, the payload runs to the end."""
    kind = struct.unpack_from("<I", data)[0]
    assert data[4:8] == b"1.01"
    offset = 8
    sid = data[offset + 1:offset + 1 + data[offset]]
    offset += 1 + data[offset]
    iid = data[offset + 1:offset + 1 + data[offset]]
    offset += 1 + data[offset]
    created, sequence = struct.unpack_from("<Qq", data, offset)
    length = struct.unpack_from("<I", data, offset + 16)[0]
    payload = data[offset + 20:]
    assert length == len(payload) and created > 0
    return {"kind": kind, "payload": payload, "sequence": sequence, "session_id": sid.decode(),
            "instance_id": iid.decode()}


class Client:
    """One websocket connection to a session."""

    def __init__(self, url: str, token: str | None, timeout: float = 30) -> None:
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {parts.path} HTTP/1.1", f"Host: {parts.hostname}:{parts.port}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        if token is not None:
            lines.append(f"x-acs-session-token: {token}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buffer = b""
        head = self._until(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        if status != 101:
            raise HandshakeRefused(status, self.buffer)
        self.sequence = 0
        self.close_code: int | None = None

    def _until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            self.buffer += chunk
        head, _sep, self.buffer = self.buffer.partition(marker)
        return head

    def _exact(self, size: int) -> bytes:
        while len(self.buffer) < size:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buffer += chunk
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def send_frame(self, opcode: int, payload: bytes, fin: bool = True) -> None:
        """A masked frame (clients must mask, RFC 6455 §5.3); ``fin=False`` starts or continues a fragmented one."""
        mask = os.urandom(4)
        size = len(payload)
        head = bytes([(0x80 if fin else 0) | opcode])
        if size < 126:
            head += bytes([0x80 | size])
        elif size < 65536:
            head += bytes([0x80 | 126]) + struct.pack(">H", size)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", size)
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def send(self, kind: int, payload: bytes = b"") -> None:
        """One client message."""
        self.send_frame(0x2, client_message(kind, payload, self.sequence))
        self.sequence += 1

    def frame(self) -> tuple[int, bytes]:
        """The next server frame (opcode, payload); server frames are never masked."""
        first, second = self._exact(2)
        assert not second & 0x80, "server frames are not masked"
        size = second & 0x7F
        if size == 126:
            size = struct.unpack(">H", self._exact(2))[0]
        elif size == 127:
            size = struct.unpack(">Q", self._exact(8))[0]
        return first & 0x0F, self._exact(size)

    def message(self) -> dict | None:
        """The next session message; None once the server sent its close frame (answered here)."""
        while True:
            opcode, payload = self.frame()
            if opcode == 0x2:
                return parse_message(payload)
            if opcode == 0x8:
                self.close_code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 1005
                try:
                    self.send_frame(0x8, payload[:2])
                except OSError:
                    pass
                return None
            if opcode == 0xA:
                continue

    def read_until(self, needle: bytes, timeout: float = 30) -> bytes:
        """Output until ``needle`` appears (or AssertionError at the deadline)."""
        deadline = time.monotonic() + timeout
        out = b""
        while needle not in out:
            assert time.monotonic() < deadline, f"no {needle!r} in {out[-500:]!r}"
            msg = self.message()
            assert msg is not None, f"closed before {needle!r}: {out[-500:]!r}"
            if msg["kind"] == OUTPUT:
                out += msg["payload"]
        return out

    def drain(self, timeout: float = 30) -> list[dict]:
        """Every message until the server closes."""
        self.sock.settimeout(timeout)
        found = []
        while (msg := self.message()) is not None:
            found.append(msg)
        return found

    def close(self) -> None:
        """Drop the socket."""
        try:
            self.sock.close()
        except OSError:
            pass


def terminal_started(emu: Any, session_id: str) -> bool:
    """Whether the session's terminal exists (or the session is over), by the control API's GET sessions: before
    it, the agent drops client messages."""
    found = [s for s in emu.control("GET", "sessions")["sessions"] if s["SessionId"] == session_id]
    return bool(found) and (found[0]["TerminalPid"] is not None or found[0]["Status"] != "Connected")
