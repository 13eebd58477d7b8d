"""The websocket client (RFC 6455) against a small server in a thread: handshake with the token header,
masked client frames, fragmented and large server messages, pings answered, close, a refused upgrade."""

from __future__ import annotations

import base64
import hashlib
import socket
import struct
import threading
import typing as t

import pytest

from ansible_collections.alicloud.ecs.plugins.plugin_utils.session import websocket as ws


def test_accept_key_is_the_rfc_example() -> None:
    assert ws.accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_masking_is_its_own_inverse_and_frames_read_back() -> None:
    key = b"\x01\x02\x03\x04"
    assert ws.mask(ws.mask(b"hello world", key), key) == b"hello world"
    for size in (0, 125, 126, 65535, 65536, 70000):
        data = bytes(range(256)) * (size // 256) + bytes(size % 256)
        encoded = ws.encode_frame(ws.OP_BINARY, data, key=key)
        buffer = [encoded]

        def read(count: int) -> bytes:
            chunk, buffer[0] = buffer[0][:count], buffer[0][count:]
            return chunk
        frame = ws.read_frame(read)
        assert frame == ws.Frame(True, ws.OP_BINARY, data) and buffer[0] == b""
    assert encoded[1] & 0x80  # client frames are masked


def _server_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    first = (0x80 if fin else 0) | opcode
    if len(payload) < 126:
        return struct.pack("!BB", first, len(payload)) + payload
    return struct.pack("!BBH", first, 126, len(payload)) + payload


class Server:
    """Accepts one connection, checks the handshake, then runs ``script`` with the connection."""

    def __init__(self, script: t.Callable[[socket.socket, t.Callable[[], ws.Frame]], None], status: str = "101"):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.port = self.listener.getsockname()[1]
        self.headers: dict[str, str] = {}
        self.received: list[ws.Frame] = []
        self.status = status
        self.thread = threading.Thread(target=self._run, args=(script,), daemon=True)
        self.thread.start()

    def _run(self, script) -> None:
        connection, _address = self.listener.accept()
        connection.settimeout(10)
        head = b""
        while b"\r\n\r\n" not in head:
            head += connection.recv(4096)
        request, _sep, pending = head.partition(b"\r\n\r\n")
        for line in request.decode().split("\r\n")[1:]:
            name, _sep, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()
        if self.status != "101":
            connection.sendall(f"HTTP/1.1 {self.status} Nope\r\n\r\n".encode())
            connection.close()
            return
        key = self.headers["sec-websocket-key"]
        connection.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                            f"Sec-WebSocket-Accept: {ws.accept_key(key)}\r\n\r\n").encode())
        buffer = [pending]

        def read(count: int) -> bytes:
            while len(buffer[0]) < count:
                buffer[0] += connection.recv(65536)
            chunk, buffer[0] = buffer[0][:count], buffer[0][count:]
            return chunk

        def next_frame() -> ws.Frame:
            frame = ws.read_frame(read)
            self.received.append(frame)
            return frame
        script(connection, next_frame)
        connection.close()


def test_handshake_messages_ping_and_close() -> None:
    def script(connection: socket.socket, next_frame) -> None:
        frame = next_frame()
        assert frame.opcode == ws.OP_BINARY
        # A ping between two fragments of a message, then a large message, then a close.
        connection.sendall(b"".join((_server_frame(ws.OP_BINARY, b"hel", fin=False), _server_frame(ws.OP_PING, b"p?"),
                                     _server_frame(ws.OP_CONTINUATION, b"lo " + frame.payload))))
        pong = next_frame()
        assert (pong.opcode, pong.payload) == (ws.OP_PONG, b"p?")
        connection.sendall(_server_frame(ws.OP_BINARY, b"x" * 1000))
        connection.sendall(_server_frame(ws.OP_CLOSE, struct.pack("!H", 1000) + b"bye"))
        assert next_frame().opcode == ws.OP_CLOSE

    server = Server(script)
    client = ws.WebSocket(f"ws://127.0.0.1:{server.port}/session/s-1?x=1", {"x-acs-session-token": "tok"}, 5)
    client.send(b"\x00\x01binary")
    assert client.receive() == b"hello \x00\x01binary"
    assert client.receive() == b"x" * 1000
    with pytest.raises(ws.WebSocketClosed, match="1000: bye"):
        client.receive()
    client.close()
    server.thread.join(5)
    assert server.headers["x-acs-session-token"] == "tok"
    expected = base64.b64encode(hashlib.sha1((server.headers["sec-websocket-key"] + ws.GUID).encode()).digest())
    assert ws.accept_key(server.headers["sec-websocket-key"]).encode() == expected


def test_a_refused_upgrade_and_an_unreachable_port_are_errors() -> None:
    server = Server(lambda connection, next_frame: None, status="401")
    with pytest.raises(ws.WebSocketError, match="refused the websocket: HTTP/1.1 401"):
        ws.WebSocket(f"ws://127.0.0.1:{server.port}/s", timeout=5)
    with pytest.raises(ws.WebSocketError, match="did not answer the websocket handshake in 1 s"):
        ws.WebSocket(f"ws://127.0.0.1:{server.port}/s", timeout=1)  # queued, never accepted
    server.listener.close()
    with pytest.raises(ws.WebSocketError, match="cannot reach"):
        ws.WebSocket(f"ws://127.0.0.1:{server.port}/s", timeout=2)
    with pytest.raises(ws.WebSocketError, match="not a websocket URL"):
        ws.WebSocket("http://127.0.0.1/x?token=secret")
