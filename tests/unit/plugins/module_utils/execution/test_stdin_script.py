"""The envelope rebuilds the command's stdin exactly: inline parts, staged chunks and manifests (waited for,
checked, reported missing), and a module payload rebuilt from its kept predecessor with its arguments spliced in."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.execution import (
    file_transfer, frame as codec, shell_scripts, stdin_delta, stdin_plan, stdin_script,
)
from test_shell_scripts import read_back, round_trip_script, run_locally


def stage(tmp_path, data: bytes) -> list[str]:
    names = []
    for chunk in file_transfer.split_chunks(data):
        (tmp_path / chunk.name).write_bytes(chunk.blob)
        names.append(chunk.name)
    return names


def test_staged_chunks_are_assembled_and_verified(tmp_path) -> None:
    data = os.urandom(50_000)
    parts = [stdin_plan.StdinPart(inline=stdin_plan.pack_inline(b"head:"))]
    parts += [stdin_plan.StdinPart(chunk=name) for name in stage(tmp_path, data)]
    plan = stdin_plan.StdinPlan(parts=parts, chunk_dir=str(tmp_path), sha256=hashlib.sha256(b"head:" + data).hexdigest())
    trailer = codec.parse_trailer(run_locally(shell_scripts.build_run_script(b"cat", plan), cap=codec.OUTPUT_PAGE_BYTES))
    # 50 KB of random data does not fit one page: read the spooled pages back like the executor does.
    frame = codec.decode_frame(read_back(trailer), trailer.sha256)
    assert frame.stdout == b"head:" + data
    assert not os.path.exists(trailer.spool), "the last page read removes the spool directory"


def test_a_staged_manifest_keeps_the_script_small(tmp_path) -> None:
    data = os.urandom(2_000_000)
    names = stage(tmp_path, data)
    manifest = stage(tmp_path, "".join(f"{name}\n" for name in names).encode())
    plan = stdin_plan.StdinPlan(manifest=manifest, chunk_dir=str(tmp_path), sha256=hashlib.sha256(data).hexdigest())
    script = shell_scripts.build_run_script(b"sha256sum | cut -c1-64", plan)
    assert len(script) < 4096 and len(names) > 80
    frame = round_trip_script(script)
    assert frame.stdout.strip().decode() == hashlib.sha256(data).hexdigest()


def test_missing_manifest_entries_are_named_and_capped(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(stdin_script, "MISSING_REPORT_LIMIT", 3)
    data = os.urandom(300_000)
    names = stage(tmp_path, data)
    manifest = stage(tmp_path, "".join(f"{name}\n" for name in names).encode())
    for name in names[2:]:
        (tmp_path / name).unlink()
    plan = stdin_plan.StdinPlan(manifest=manifest, chunk_dir=str(tmp_path), sha256=hashlib.sha256(data).hexdigest(),
                                wait_seconds=0)
    trailer = codec.parse_trailer(run_locally(shell_scripts.build_run_script(b"cat", plan)))
    assert trailer.missing == names[2:5] + ["+"]


def test_a_chunk_that_never_lands_is_reported_once_nothing_arrives(tmp_path, monkeypatch) -> None:
    """The plan waits an hour for its chunk: only the stall rule (nothing landed for STALL_SECONDS) can end the
    wait, so a report at all proves it; the subprocess timeout only keeps a broken rule from hanging the suite."""
    monkeypatch.setattr(stdin_script, "STALL_SECONDS", 1)
    plan = stdin_plan.StdinPlan(parts=[stdin_plan.StdinPart(chunk="ab" * 32 + ".gz")], chunk_dir=str(tmp_path),
                                sha256="cd" * 32, wait_seconds=3600)
    script = shell_scripts.build_run_script(b"true", plan)
    merged = subprocess.run(["/bin/sh", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            check=True, timeout=600).stdout
    assert codec.parse_trailer(merged).missing == ["ab" * 32 + ".gz"]


def test_missing_chunks_are_reported_without_running(tmp_path) -> None:
    marker = tmp_path / "ran"
    plan = stdin_plan.StdinPlan(parts=[stdin_plan.StdinPart(chunk="ab" * 32 + ".gz")], chunk_dir=str(tmp_path),
                                sha256="cd" * 32, wait_seconds=0)
    trailer = codec.parse_trailer(run_locally(shell_scripts.build_run_script(f"touch {marker}".encode(), plan)))
    assert trailer.missing == ["ab" * 32 + ".gz"]
    assert not marker.exists()


def scrubbed_payload(arguments: bytes) -> tuple[bytes, stdin_delta.ArgumentSplit]:
    """A module payload run by this Python (the rebuild runs under the payload's interpreter) and its split."""
    params = repr(json.dumps({"ANSIBLE_MODULE_ARGS": {"content": arguments.decode()}})).encode()
    payload = (f"#!{sys.executable}\n".encode() + b"module_fqn='ansible.modules.fake',\n" + b"params=" + params
               + b",\nzip_data='" + base64.b64encode(os.urandom(40_000)) + b"',\n")
    split = stdin_delta.split_arguments(payload)
    assert split is not None and split.payload() == payload
    return payload, split


def argument_parts(tmp_path, split: stdin_delta.ArgumentSplit, staged: bool) -> list[stdin_plan.StdinPart]:
    """The arguments inline, or staged as several chunks (each one gzip member, as SendFile leaves them)."""
    if not staged:
        return [stdin_plan.StdinPart(inline=stdin_plan.pack_inline(split.arguments))]
    third = len(split.arguments) // 3
    pieces = [split.arguments[:third], split.arguments[third:2 * third], split.arguments[2 * third:]]
    return [stdin_plan.StdinPart(chunk=name) for piece in pieces for name in stage(tmp_path, piece)]


@pytest.mark.parametrize("staged", [False, True])
def test_the_rebuild_splices_the_arguments_into_the_scrubbed_base_and_keeps_only_that(tmp_path, staged) -> None:
    old, old_split = scrubbed_payload(b"old arguments")
    new, split = scrubbed_payload(b"SECRET-new " + base64.b64encode(os.urandom(3000)))
    (tmp_path / "old.base").write_bytes(old_split.scrubbed)
    delta = stdin_delta.make_delta(old_split.scrubbed, split.scrubbed, 100, 100_000)
    assert delta is not None and b"SECRET" not in delta.middle
    edit = stdin_plan.BaseEdit(
        base="old.base", interpreter=[sys.executable], prefix=delta.prefix, resume=delta.resume,
        middle=stdin_plan.pack_inline(delta.middle),
        edits=stdin_plan.pack_inline("".join(f"{offset} {len(data)}\n" for offset, data in delta.edits).encode()),
        patch=stdin_plan.pack_inline(b"".join(data for _offset, data in delta.edits)))
    splice = stdin_plan.ArgsSplice(split.offset, split.skip, argument_parts(tmp_path, split, staged))
    plan = stdin_plan.StdinPlan(chunk_dir=str(tmp_path), sha256=hashlib.sha256(new).hexdigest(), wait_seconds=0,
                                from_base=edit, splice=splice, keep_as="new.base", drop="old.base",
                                release=splice.chunks())
    frame = round_trip_script(shell_scripts.build_run_script(b"cat", plan))
    assert frame.stdout == new, "the module gets its real payload"
    assert (tmp_path / "new.base").read_bytes() == split.scrubbed, "the kept base holds no arguments"
    assert sorted(path.name for path in tmp_path.iterdir() if not path.name.startswith(".")) == ["new.base"], \
        "the old base was dropped and the argument chunks released"


@pytest.mark.parametrize("staged", [False, True])
def test_staged_parts_of_a_scrubbed_payload_get_their_arguments_spliced_back(tmp_path, staged) -> None:
    payload, split = scrubbed_payload(b"SECRET " + base64.b64encode(os.urandom(3000)))
    parts = [stdin_plan.StdinPart(chunk=name) for name in stage(tmp_path, split.scrubbed)]
    splice = stdin_plan.ArgsSplice(split.offset, split.skip, argument_parts(tmp_path, split, staged))
    plan = stdin_plan.StdinPlan(parts=parts, chunk_dir=str(tmp_path), sha256=hashlib.sha256(payload).hexdigest(),
                                wait_seconds=0, splice=splice, keep_as="kept.base", release=splice.chunks())
    frame = round_trip_script(shell_scripts.build_run_script(b"cat", plan))
    assert frame.stdout == payload
    assert (tmp_path / "kept.base").read_bytes() == split.scrubbed
    assert not set(splice.chunks()) & {path.name for path in tmp_path.iterdir()}, "argument chunks released"


def test_arguments_that_do_not_match_the_checked_stdin_run_nothing(tmp_path) -> None:
    payload, split = scrubbed_payload(b"the real arguments")
    _other, wrong = scrubbed_payload(b"something else")
    parts = [stdin_plan.StdinPart(chunk=name) for name in stage(tmp_path, split.scrubbed)]
    splice = stdin_plan.ArgsSplice(split.offset, split.skip, argument_parts(tmp_path, wrong, False))
    plan = stdin_plan.StdinPlan(parts=parts, chunk_dir=str(tmp_path), sha256=hashlib.sha256(payload).hexdigest(),
                                wait_seconds=0, splice=splice, keep_as="kept.base")
    marker = tmp_path / "ran"
    trailer = codec.parse_trailer(run_locally(shell_scripts.build_run_script(f"touch {marker}".encode(), plan)))
    assert trailer.missing == ["unverified"] and not marker.exists() and not (tmp_path / "kept.base").exists()


def test_a_scrubbed_payload_and_its_arguments_all_inline_are_spliced_too() -> None:
    """Parts that all ride inline need no staging directory (the script then never names one)."""
    payload, split = scrubbed_payload(b"small")
    half = len(split.scrubbed) // 2
    parts = [stdin_plan.StdinPart(inline=stdin_plan.pack_inline(piece))
             for piece in (split.scrubbed[:half], split.scrubbed[half:])]
    splice = stdin_plan.ArgsSplice(split.offset, split.skip, [stdin_plan.StdinPart(inline=stdin_plan.pack_inline(split.arguments))])
    plan = stdin_plan.StdinPlan(parts=parts, sha256=hashlib.sha256(payload).hexdigest(), splice=splice)
    script = shell_scripts.build_run_script(b"cat", plan)
    assert 'cd "$_c" && gzip' not in script
    assert round_trip_script(script).stdout == payload
