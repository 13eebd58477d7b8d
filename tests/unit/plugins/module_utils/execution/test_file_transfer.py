"""Content-addressed, end-aligned, gzip-packed chunks of transfers."""

from __future__ import annotations

import base64
import gzip
import hashlib
import os

from ansible_collections.alicloud.ecs.plugins.module_utils.execution.file_transfer import GRAIN_BYTES, SENDFILE_BYTES, STORED_GRAINS, split_chunks

TEXT = b"".join(b"2026-11-23 10:%02d host app[%d]: GET /api/items/%d status=200\n" % (i % 60, i % 97, i)
                for i in range(40_000))


def restore(chunks) -> bytes:
    return b"".join(gzip.decompress(chunk.blob) for chunk in chunks)


def test_chunks_cover_the_data_in_order_and_fit_sendfile() -> None:
    data = os.urandom(100_000)
    chunks = split_chunks(data)
    assert restore(chunks) == data
    assert all(len(chunk.blob) <= SENDFILE_BYTES for chunk in chunks)
    assert all(chunk.name == hashlib.sha256(chunk.raw).hexdigest() + ".gz" for chunk in chunks)
    assert len(split_chunks(b"")) == 0


def test_compressible_data_packs_several_grains_per_call() -> None:
    chunks = split_chunks(TEXT)
    assert restore(chunks) == TEXT
    assert len(chunks) * SENDFILE_BYTES * 2 < len(TEXT), "text must need far fewer calls than its size"
    assert all(len(chunk.blob) <= SENDFILE_BYTES for chunk in chunks)


def test_a_different_head_leaves_the_tail_chunks_identical() -> None:
    for tail in (os.urandom(150_000), TEXT):
        first = {chunk.name for chunk in split_chunks(b"short args" + tail)}
        second = {chunk.name for chunk in split_chunks(b"much longer arguments here" + tail)}
        assert len(first - second) <= 2
        assert len(second & first) >= len(second) - 2


def test_base64_text_fills_a_call_to_within_a_grain_and_random_bytes_fill_it_exactly() -> None:
    zipped = base64.b64encode(os.urandom(300_000))  # what a module payload mostly is: a zip in Base64
    full = split_chunks(zipped)[2:]  # past the small head pieces
    assert all(SENDFILE_BYTES - GRAIN_BYTES < len(chunk.blob) <= SENDFILE_BYTES for chunk in full[:-1])
    assert len(split_chunks(zipped)) <= len(zipped) * 0.77 // SENDFILE_BYTES + 3
    noise = split_chunks(os.urandom(300_000))[2:]
    assert {len(chunk.raw) for chunk in noise} == {STORED_GRAINS * GRAIN_BYTES}


class SayingClient:
    """Collects what a transfer reports through the client's log hook."""

    def __init__(self) -> None:
        self.lines: list[tuple[int, str]] = []

    def say(self, verbosity: int, message: str) -> None:
        self.lines.append((verbosity, message))


def test_a_transfer_reports_progress_every_few_megabytes_from_any_thread() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from ansible_collections.alicloud.ecs.plugins.module_utils.execution.file_transfer import PROGRESS_BYTES, TransferProgress

    client = SayingClient()
    progress = TransferProgress(client, "read from i-1", total=10 * PROGRESS_BYTES // 4)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(progress.add, [24576] * (10 * PROGRESS_BYTES // 4 // 24576)))
    assert [level for level, _line in client.lines] == [1, 1]
    assert client.lines[0][1] == "4.2 MB of 10.5 MB read from i-1 so far"
    small = SayingClient()
    TransferProgress(small, "sent to i-1").add(PROGRESS_BYTES - 1)
    assert small.lines == []
