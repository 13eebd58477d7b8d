# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The binary messages a Session Manager client and the Cloud Assistant agent exchange over the websocket.

The layout is the one the agent's client (``ali-instance-cli``, ``agent/session/plugin/message/message.go`` in
aliyun/aliyun_assist_client) writes and reads, all little-endian:

====== ======================================================================
bytes  field
====== ======================================================================
4      message type (0 input, 1 output, 2 set size, 3 close, 5 status)
4      schema version, ASCII ("1.01"), padded with spaces
1      length of the session id that follows (the client writes 0)
n      session id
1      length of the instance id that follows (the client writes 0)
m      instance id
8      creation time, milliseconds since the epoch (a message without it is invalid)
8      sequence number (signed), counted up by the sender
4      payload length
...    payload
====== ======================================================================

A status message's payload is a one-byte code and its argument (``ProcessStatusDataChannel`` in the client's
``client.go``): code 5 closes the session and names why in ASCII, code 2 says the connection failed, code 7
sets a send rate in bits per second as a big-endian unsigned integer. The agent honours code 7 from the client
too (``shell_unix.go``: it sets the agent's own output rate), which is how this client asks for more than the
default 200 kbps.
"""

from __future__ import annotations

import struct
import time
import typing as t

INPUT = 0
OUTPUT = 1
SET_SIZE = 2
CLOSE = 3
STATUS = 5
SCHEMA_VERSION = "1.01"

STATUS_CONNECT_FAILED = 2
STATUS_CLOSED = 5
STATUS_RATE = 7
# The largest rate a status message can carry (a 4-byte unsigned integer, bits per second).
MAX_RATE = 0xFFFFFFFF


class FrameError(ValueError):
    """Bytes that are not a message of this layout."""


class Message(t.NamedTuple):
    kind: int
    payload: bytes
    sequence: int = 0
    created_ms: int = 0
    session_id: str = ""
    instance_id: str = ""
    version: str = SCHEMA_VERSION


def _short_text(value: str, what: str) -> bytes:
    data = value.encode("ascii")
    if len(data) > 255:
        raise FrameError(f"{what} is longer than 255 bytes")
    return bytes([len(data)]) + data


def encode(message: Message) -> bytes:
    """The bytes of ``message`` (creation time now when it has none)."""
    version = message.version.encode("ascii")
    if len(version) > 4:
        raise FrameError(f"schema version {message.version!r} is longer than 4 bytes")
    created = message.created_ms or int(time.time() * 1000)
    return b"".join((
        struct.pack("<I", message.kind), version.ljust(4, b" "),
        _short_text(message.session_id, "session id"), _short_text(message.instance_id, "instance id"),
        struct.pack("<Qq", created, message.sequence), struct.pack("<I", len(message.payload)), message.payload))


def decode(data: bytes) -> Message:
    """The message in ``data``; FrameError when it is cut short or has no creation time."""
    try:
        kind, version = struct.unpack_from("<I4s", data, 0)
        offset = 8
        session_id, offset = _read_short_text(data, offset)
        instance_id, offset = _read_short_text(data, offset)
        created, sequence, length = struct.unpack_from("<QqI", data, offset)
    except struct.error:
        raise FrameError(f"a message of {len(data)} bytes is shorter than its header") from None
    payload = data[offset + 20:]
    if len(payload) != length:
        raise FrameError(f"the header says {length} payload bytes, the message has {len(payload)}")
    if not created:
        raise FrameError("the message has no creation time")
    return Message(kind, payload, sequence, created, session_id, instance_id,
                   version.strip(b"\0 ").decode("ascii", "replace"))


def _read_short_text(data: bytes, offset: int) -> tuple[str, int]:
    if offset >= len(data):
        raise struct.error("cut short")
    length = data[offset]
    end = offset + 1 + length
    if end > len(data):
        raise struct.error("cut short")
    return data[offset + 1:end].decode("ascii", "replace"), end


def rate_status(bits_per_second: int) -> bytes:
    """The payload of a status message asking the other side to send at ``bits_per_second``."""
    if not 8192 <= bits_per_second <= MAX_RATE:
        # The agent divides by (rate / 8 / 1024): below 8192 bit/s that is a division by zero on its side.
        raise FrameError(f"a send rate must be 8192 to {MAX_RATE} bit/s, got {bits_per_second}")
    return bytes([STATUS_RATE]) + struct.pack(">I", bits_per_second)


class Status(t.NamedTuple):
    code: int
    text: str  # code 5: why the session closed; code 2: what the agent said
    rate: int  # code 7: bits per second (0 otherwise)


def read_status(payload: bytes) -> Status:
    """A status payload as the client reads it (see the module's docstring)."""
    if not payload:
        raise FrameError("an empty status message")
    code, rest = payload[0], payload[1:]
    rate = 0
    if code == STATUS_RATE and rest:
        rate = int.from_bytes(rest[:4], "big")
    return Status(code, rest.decode("utf-8", "replace") if code != STATUS_RATE else "", rate)
