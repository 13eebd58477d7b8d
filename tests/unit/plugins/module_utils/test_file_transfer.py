"""End-aligned chunking and the controller-side ledger."""

from __future__ import annotations

import os

from ansible_collections.alicloud.ecs.plugins.module_utils.file_transfer import ChunkLedger, split_chunks


def test_chunks_cover_the_data_in_order_and_fit_sendfile() -> None:
    data = os.urandom(100_000)
    chunks = split_chunks(data)
    assert b"".join(piece for _, piece in chunks) == data
    assert all(len(piece) <= 24576 for _, piece in chunks)
    assert len(split_chunks(b"")) == 0
    assert split_chunks(b"x" * 24576)[0][1] == b"x" * 24576


def test_a_different_head_leaves_the_tail_chunks_identical() -> None:
    tail = os.urandom(150_000)
    first = {name for name, _ in split_chunks(b"short args" + tail)}
    second = {name for name, _ in split_chunks(b"much longer arguments here" + tail)}
    assert len(first - second) == 1


def test_ledger_remembers_per_instance_and_forgets_on_request(tmp_path) -> None:
    ledger = ChunkLedger(str(tmp_path), "http://127.0.0.1:1|AK", "i-1")
    ledger.update(add=["a", "b"])
    assert ledger.known() == {"a", "b"}
    ledger.update(remove=["a"])
    assert ChunkLedger(str(tmp_path), "http://127.0.0.1:1|AK", "i-1").known() == {"b"}
    assert ChunkLedger(str(tmp_path), "http://127.0.0.1:1|AK", "i-2").known() == set()
    assert ChunkLedger(str(tmp_path), "other|AK", "i-1").known() == set()
