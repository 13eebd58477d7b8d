"""A general-purpose websocket client (the websocket-client package, as another implementation of RFC 6455 than
ours; installed with the Tea SDK, darabonba-core, of requirements-dev.txt) talks to a session: handshake, masked
binary frames, ping/pong, the closing handshake."""
from __future__ import annotations

import struct
import time
from collections.abc import Callable
from typing import Any

import websocket
from ws_client import INPUT, OUTPUT, STATUS, client_message, parse_message, terminal_started

from emulator.testing import EmulatorProcess, wait_for


def test_websocket_client_library(emu: EmulatorProcess, start: Callable[..., dict[str, Any]]) -> None:
    body = start()
    conn = websocket.create_connection(body["WebSocketUrl"], header=[f"x-acs-session-token: {body['SecurityToken']}"],
                                       timeout=30)
    try:
        wait_for(lambda: terminal_started(emu, body["SessionId"]), "the terminal", step=0.02)
        conn.ping(b"keepalive")
        conn.send_binary(client_message(INPUT, b"echo li''b; exit\n"))
        out, statuses, pong = b"", [], False
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            opcode, data = conn.recv_data(control_frame=True)
            if opcode == websocket.ABNF.OPCODE_PONG:
                pong = data == b"keepalive"
            elif opcode == websocket.ABNF.OPCODE_BINARY:
                message = parse_message(data)
                if message["kind"] == OUTPUT:
                    out += message["payload"]
                elif message["kind"] == STATUS:
                    statuses.append(message["payload"])
            elif opcode == websocket.ABNF.OPCODE_CLOSE:
                assert struct.unpack(">H", data[:2])[0] == 1000
                break
        assert pong and b"lib\r\n" in out and statuses == [b"\x05Exit"]
    finally:
        conn.close()


def test_websocket_client_library_refused_without_token(start: Callable[..., dict[str, Any]]) -> None:
    body = start()
    try:
        websocket.create_connection(body["WebSocketUrl"], timeout=30)
    except websocket.WebSocketBadStatusException as exc:
        assert exc.status_code == 401
    else:
        raise AssertionError("connected without a token")
