"""The envelope script, run by the local /bin/sh, must hand back exact rc, stdout and stderr."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils import transport


def run_locally(script: str, cap: int | None = None) -> bytes:
    """Run a script the way the agent would and return its merged output, optionally tail-capped."""
    merged = subprocess.run(["/bin/sh", "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, check=True).stdout
    return merged[-cap:] if cap else merged


def round_trip(command: bytes, stdin: bytes | None = None) -> transport.Frame:
    parts = [transport.StdinPart(inline=transport.pack_inline(stdin))] if stdin else []
    output = run_locally(transport.build_run_script(command, parts=parts))
    trailer = transport.parse_trailer(output)
    assert not trailer.missing and not trailer.spool
    return transport.decode_frame(trailer.frame_tail, trailer.sha256)


def test_streams_and_rc_stay_apart() -> None:
    frame = round_trip(b"echo out; echo err >&2; exit 3")
    assert (frame.rc, frame.stdout, frame.stderr) == (3, b"out\n", b"err\n")


def test_binary_and_unicode_are_exact() -> None:
    frame = round_trip("printf '\\000\\377\\n'; printf '中文 ü' >&2".encode())
    assert frame.stdout == b"\x00\xff\n"
    assert frame.stderr == "中文 ü".encode()


def test_stdin_is_delivered_exactly() -> None:
    data = os.urandom(3000) + b"\n\x00tail"
    frame = round_trip(b"cat", data)
    assert frame.stdout == data


def test_trailer_carries_the_run_time_measured_on_the_instance() -> None:
    output = run_locally(transport.build_run_script(b"sleep 0.2"))
    trailer = transport.parse_trailer(output)
    assert 0.2 <= trailer.run_seconds < 2


def test_empty_output() -> None:
    frame = round_trip(b"true")
    assert (frame.rc, frame.stdout, frame.stderr) == (0, b"", b"")


def test_staged_chunks_are_assembled_and_verified(tmp_path) -> None:
    data = os.urandom(50_000)
    names = []
    for offset in range(0, len(data), 20_000):
        piece = data[offset:offset + 20_000]
        name = hashlib.sha256(piece).hexdigest()
        (tmp_path / name).write_bytes(piece)
        names.append(name)
    parts = [transport.StdinPart(inline=transport.pack_inline(b"head:"))]
    parts += [transport.StdinPart(chunk=name) for name in names]
    script = transport.build_run_script(b"cat", chunk_dir=str(tmp_path), parts=parts,
                                        stdin_sha256=hashlib.sha256(b"head:" + data).hexdigest())
    trailer = transport.parse_trailer(run_locally(script, cap=transport.OUTPUT_PAGE_BYTES))
    # 50 KB of random data does not fit one page: read the spooled frame back like the executor does.
    head = b""
    for offset, length in transport.missing_ranges(trailer):
        last = offset + length >= trailer.size - len(trailer.frame_tail)
        head += run_locally(transport.build_page_script(trailer.spool, offset, length, remove=last))
    frame = transport.decode_frame(head + trailer.frame_tail, trailer.sha256)
    assert frame.stdout == b"head:" + data
    assert not os.path.exists(trailer.spool)


def test_large_output_is_paged_not_truncated() -> None:
    script = transport.build_run_script(b"head -c 100000 /dev/urandom; echo done >&2")
    output = run_locally(script, cap=transport.OUTPUT_PAGE_BYTES)
    trailer = transport.parse_trailer(output)
    ranges = transport.missing_ranges(trailer)
    assert ranges and trailer.spool
    head = b"".join(run_locally(transport.build_page_script(trailer.spool, offset, length, remove=False))
                    for offset, length in ranges)
    frame = transport.decode_frame(head + trailer.frame_tail, trailer.sha256)
    assert len(frame.stdout) == 100000 and frame.stderr == b"done\n"
    os.unlink(trailer.spool)


def test_missing_chunks_are_reported_without_running(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(transport, "CHUNK_WAIT_SECONDS", 0)
    marker = tmp_path / "ran"
    script = transport.build_run_script(f"touch {marker}".encode(), chunk_dir=str(tmp_path),
                                        parts=[transport.StdinPart(chunk="ab" * 32)], stdin_sha256="cd" * 32)
    trailer = transport.parse_trailer(run_locally(script))
    assert trailer.missing == ["ab" * 32]
    assert not marker.exists()


def test_corrupted_frame_is_rejected() -> None:
    output = run_locally(transport.build_run_script(b"echo hi"))
    trailer = transport.parse_trailer(output)
    tampered = base64.b64encode(b"x" * 10)
    with pytest.raises(transport.TransportError, match="sha256"):
        transport.decode_frame(tampered, trailer.sha256)


def test_garbage_output_names_what_came_back() -> None:
    with pytest.raises(transport.TransportError, match="bash: oops"):
        transport.parse_trailer(b"bash: oops\n")
