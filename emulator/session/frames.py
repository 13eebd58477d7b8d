"""The client's message layout (agent/session/plugin/message/message.go): every field little-endian.

uint32 type, 4-byte schema version "1.01", uint8 session-id length + bytes, uint8 instance-id length + bytes,
uint64 created (ms), int64 sequence number, uint32 payload length, payload. The client itself writes both id
lengths as 0; the emulator sends the ids (the client's parser skips them by their lengths)."""
from __future__ import annotations

import json
import struct
import time
from dataclasses import dataclass

INPUT, OUTPUT, SET_SIZE, CLOSE, STATUS = 0, 1, 2, 3, 5
SCHEMA_VERSION = b"1.01"
STATUS_CLOSED = 5     # status payload: code 5 then the reason, e.g. b"\x05Exit"
STATUS_FLOW_LIMIT = 7  # status payload: code 7 then the new rate in bits per second, big-endian (1 to 4 bytes)


class FrameError(ValueError):
    """A message too short for its own header or lengths."""


@dataclass
class Frame:
    """One decoded message."""

    kind: int
    payload: bytes
    sequence: int = 0
    created_ms: int = 0
    session_id: str = ""
    instance_id: str = ""


def encode(kind: int, payload: bytes, sequence: int, session_id: str = "", instance_id: str = "") -> bytes:
    """One message as the client reads it; ``created`` is now (the client refuses 0, message.go ``Validate``)."""
    sid, iid = session_id.encode(), instance_id.encode()
    return b"".join((struct.pack("<I", kind), SCHEMA_VERSION, bytes([len(sid)]), sid, bytes([len(iid)]), iid,
                     struct.pack("<Qq", int(time.time() * 1000), sequence), struct.pack("<I", len(payload)),
                     payload))


def decode(data: bytes) -> Frame:
    """One message from the client; the payload runs to the end of the websocket message, as the client's
    ``Deserialize`` takes it (its length field is not trusted)."""
    try:
        kind = struct.unpack_from("<I", data, 0)[0]
        offset = 8
        sid_len = data[offset]
        sid = data[offset + 1:offset + 1 + sid_len]
        offset += 1 + sid_len
        iid_len = data[offset]
        iid = data[offset + 1:offset + 1 + iid_len]
        offset += 1 + iid_len
        created, sequence = struct.unpack_from("<Qq", data, offset)
        offset += 16 + 4
    except (struct.error, IndexError):
        raise FrameError(f"message of {len(data)} bytes is shorter than its header") from None
    if offset > len(data):
        raise FrameError(f"message of {len(data)} bytes is shorter than its header")
    return Frame(kind, bytes(data[offset:]), sequence, created, sid.decode(errors="replace"),
                 iid.decode(errors="replace"))


def status_closed(reason: str) -> bytes:
    """Payload of the status message that ends a session (the client prints "<reason>: session closed...")."""
    return bytes([STATUS_CLOSED]) + reason.encode()


def flow_limit(payload: bytes) -> int | None:
    """The rate (bits per second) of a code-7 status payload, or None for any other status or a 0 rate: the agent
    reads the bytes after the code as a big-endian unsigned integer of 1, 2, 3 or 4 bytes (shell_unix.go
    ``InputStreamMessageHandler``, message.go ``BytesToIntU``) and ignores 0."""
    if len(payload) < 2 or payload[0] != STATUS_FLOW_LIMIT or len(payload) > 5:
        return None
    speed = int.from_bytes(payload[1:], "big")
    return speed or None


def terminal_size(payload: bytes) -> tuple[int, int] | None:
    """(rows, cols) of a set_size payload. ali-instance-cli sends int16 rows then int16 cols, little-endian
    (client.go ``termsizeLoop``); the agent parses JSON {"cols", "rows"} (shell_unix.go): the service translates
    between them ⚠, so both are accepted."""
    if payload[:1] == b"{":
        try:
            size = json.loads(payload)
            return int(size["rows"]), int(size["cols"])
        except (ValueError, KeyError, TypeError):
            return None
    if len(payload) == 4:
        rows, cols = struct.unpack("<hh", payload)
        return rows, cols
    return None
