"""The POSIX envelope, run by the local /bin/sh, must hand back exact rc, stdout and stderr (paged when large)."""

from __future__ import annotations

import os
import subprocess

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.execution import frame as codec, shell_scripts, stdin_plan


def run_locally(script: str, cap: int = 0) -> bytes:
    """Run a script the way the agent would and return its merged output, tail-capped to ``cap`` bytes if given."""
    merged = subprocess.run(["/bin/sh", "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, check=True).stdout
    return merged[-cap:] if cap else merged


def round_trip(command: bytes, stdin: bytes | None = None) -> codec.Frame:
    plan = stdin_plan.StdinPlan(parts=[stdin_plan.StdinPart(inline=stdin_plan.pack_inline(stdin))]) if stdin else None
    output = run_locally(shell_scripts.build_run_script(command, plan))
    trailer = codec.parse_trailer(output)
    assert not trailer.missing and not trailer.spool
    return codec.decode_frame(trailer.frame_tail, trailer.sha256)


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
    output = run_locally(shell_scripts.build_run_script(b"sleep 0.2"))
    trailer = codec.parse_trailer(output)
    assert 0.2 <= trailer.run_seconds < 2


def test_empty_output() -> None:
    frame = round_trip(b"true")
    assert (frame.rc, frame.stdout, frame.stderr) == (0, b"", b"")


def read_back(trailer: codec.Trailer) -> bytes:
    """The frame text: spooled pages read like the executor does, then the tail."""
    pages = b"".join(run_locally(shell_scripts.build_page_script(trailer.spool, index)) for index, _length in trailer.pages)
    return pages + trailer.frame_tail


def round_trip_script(script: str) -> codec.Frame:
    trailer = codec.parse_trailer(run_locally(script, cap=codec.OUTPUT_PAGE_BYTES))
    return codec.decode_frame(read_back(trailer), trailer.sha256, compressed=trailer.compressed)


@pytest.mark.parametrize("kind", ["random", "text"])
def test_a_large_output_that_does_not_compress_travels_without_gzip(tmp_path, kind) -> None:
    data = os.urandom(shell_scripts.RAW_AFTER + 5000) if kind == "random" else b"line of text\n" * 100_000
    source = tmp_path / "data"
    source.write_bytes(data)
    output = run_locally(shell_scripts.build_run_script(f"cat {source}; echo err >&2".encode()),
                         cap=codec.OUTPUT_PAGE_BYTES)
    trailer = codec.parse_trailer(output)
    assert trailer.compressed == (kind == "text")
    frame = codec.decode_frame(read_back(trailer), trailer.sha256, compressed=trailer.compressed)
    assert (frame.stdout, frame.stderr) == (data, b"err\n")
    if kind == "text":  # a gzipped frame taken for a plain one fails its header check, never decodes wrong
        with pytest.raises(codec.TransportError):
            codec.decode_frame(trailer.frame_tail, trailer.sha256, compressed=False)


def test_large_output_is_paged_not_truncated(tmp_path) -> None:
    out = tmp_path / "out"
    frame_text = run_locally(shell_scripts.build_run_script(b"head -c 100000 /dev/urandom; echo done >&2"),
                             cap=codec.OUTPUT_PAGE_BYTES)
    trailer = codec.parse_trailer(frame_text)
    assert len(trailer.pages) == 5 and trailer.spool
    with open(out, "wb") as sink:
        frame = codec.decode_frame(read_back(trailer), trailer.sha256, sink)
    assert out.stat().st_size == 100000 and frame.stdout == b"" and frame.stderr == b"done\n"


def test_page_names_follow_split() -> None:
    assert [shell_scripts.page_name(index) for index in (0, 1, 26, 27)] == ["paaaa", "paaab", "paaba", "paabb"]
