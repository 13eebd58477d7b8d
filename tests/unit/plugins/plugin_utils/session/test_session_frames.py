"""The agent's client frames (aliyun/aliyun_assist_client agent/session/plugin/message/message.go) and status
payloads (agent/session/plugin/client.go ProcessStatusDataChannel; agent/session/shell/shell_unix.go for
code 7 from the client)."""

from __future__ import annotations

import struct

import pytest

from ansible_collections.alicloud.ecs.plugins.plugin_utils.session import frames


def test_an_input_message_has_the_clients_field_layout() -> None:
    data = frames.encode(frames.Message(frames.INPUT, b"ls\n", sequence=7, created_ms=1700000000123))
    # uint32 LE type, "1.01", u8 0 + no session id, u8 0 + no instance id, u64 LE ms, i64 LE seq, u32 LE length.
    assert data == b"".join((struct.pack("<I", 0), b"1.01", b"\x00", b"\x00", struct.pack("<Q", 1700000000123),
                             struct.pack("<q", 7), struct.pack("<I", 3), b"ls\n"))


def test_an_agent_message_with_session_and_instance_ids_decodes() -> None:
    raw = b"".join((struct.pack("<I", 1), b"1.01", b"\x05s-abc", b"\x04i-xy", struct.pack("<Qq", 1234, -2),
                    struct.pack("<I", 4), b"\xff\x00ok"))
    message = frames.decode(raw)
    assert message == frames.Message(frames.OUTPUT, b"\xff\x00ok", -2, 1234, "s-abc", "i-xy", "1.01")


@pytest.mark.parametrize("payload", [b"", b"x", bytes(range(256)) * 9])
def test_round_trip(payload: bytes) -> None:
    message = frames.Message(frames.OUTPUT, payload, 2 ** 40, 99, "s-1", "i-2")
    assert frames.decode(frames.encode(message)) == message


def test_a_message_without_creation_time_or_cut_short_is_refused() -> None:
    good = frames.encode(frames.Message(frames.INPUT, b"abc", created_ms=5))
    with pytest.raises(frames.FrameError, match="shorter"):
        frames.decode(good[:12])
    with pytest.raises(frames.FrameError, match="payload"):
        frames.decode(good[:-1])
    no_time = good[:10] + struct.pack("<Q", 0) + good[18:]
    with pytest.raises(frames.FrameError, match="creation time"):
        frames.decode(no_time)


def test_status_payloads_as_the_client_reads_them() -> None:
    assert frames.read_status(b"\x05Exit") == frames.Status(5, "Exit", 0)
    assert frames.read_status(b"\x05AgentTimeout").text == "AgentTimeout"
    assert frames.read_status(b"\x07" + struct.pack(">I", 204800)) == frames.Status(7, "", 204800)
    with pytest.raises(frames.FrameError):
        frames.read_status(b"")


def test_a_rate_request_is_code_7_and_a_big_endian_rate_the_agent_can_divide() -> None:
    assert frames.rate_status(1_000_000) == b"\x07" + (1_000_000).to_bytes(4, "big")
    assert frames.rate_status(frames.MAX_RATE) == b"\x07\xff\xff\xff\xff"
    with pytest.raises(frames.FrameError, match="8192"):
        frames.rate_status(8191)  # the agent would divide by zero (rate / 8 / 1024 == 0)
