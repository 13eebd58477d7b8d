"""End-aligned chunking of transfers."""

from __future__ import annotations

import os

from ansible_collections.alicloud.ecs.plugins.module_utils.file_transfer import split_chunks


def test_chunks_cover_the_data_in_order_and_fit_sendfile() -> None:
    data = os.urandom(100_000)
    chunks = split_chunks(data)
    assert b"".join(chunk[1] for chunk in chunks) == data
    assert all(len(chunk[1]) <= 24576 for chunk in chunks)
    assert len(split_chunks(b"")) == 0
    assert split_chunks(b"x" * 24576)[0][1] == b"x" * 24576


def test_a_different_head_leaves_the_tail_chunks_identical() -> None:
    tail = os.urandom(150_000)
    first = {chunk[0] for chunk in split_chunks(b"short args" + tail)}
    second = {chunk[0] for chunk in split_chunks(b"much longer arguments here" + tail)}
    assert len(first - second) == 1
