"""The controller's per-instance memory: chunks held, typical run times and module payloads kept."""

from __future__ import annotations

from pathlib import Path

from ansible_collections.alicloud.ecs.plugins.module_utils.execution.file_transfer import split_pieces
from ansible_collections.alicloud.ecs.plugins.module_utils.execution.instance_cache import PIECE_BYTES, InstanceCache


def test_cache_remembers_chunks_per_instance_and_scope(tmp_path) -> None:
    cache = InstanceCache(str(tmp_path), "http://127.0.0.1:1|AK", "i-1")
    cache.update_chunks(add=["a", "b"])
    assert cache.known_chunks() == {"a", "b"}
    cache.update_chunks(remove=["a"])
    assert InstanceCache(str(tmp_path), "http://127.0.0.1:1|AK", "i-1").known_chunks() == {"b"}
    assert InstanceCache(str(tmp_path), "http://127.0.0.1:1|AK", "i-2").known_chunks() == set()
    assert InstanceCache(str(tmp_path), "other|AK", "i-1").known_chunks() == set()


def test_cache_keeps_timings_per_kind(tmp_path) -> None:
    cache = InstanceCache(str(tmp_path), "scope", "i-1")
    assert cache.timing("command:x") is None
    cache.set_timing("command:x", {"run": 0.4, "spread": 0.01, "lag": 0.05})
    cache.update_chunks(add=["a"])
    again = InstanceCache(str(tmp_path), "scope", "i-1")
    assert again.timing("command:x") == {"run": 0.4, "spread": 0.01, "lag": 0.05}
    assert again.timing("module:y") is None
    assert again.known_chunks() == {"a"}


def test_cache_keeps_the_base_payload_of_each_module_once_per_scope(tmp_path) -> None:
    payload = b"#!/usr/bin/python3\n" + bytes(range(256)) * 400
    one, two = InstanceCache(str(tmp_path), "scope", "i-1"), InstanceCache(str(tmp_path), "scope", "i-2")
    one.set_base("ansible.modules.ping", payload)
    two.set_base("ansible.modules.ping", payload)
    digest, data = InstanceCache(str(tmp_path), "scope", "i-1").base("ansible.modules.ping")
    assert data == payload and len(digest) == 64
    assert len(list(Path(one.pieces).glob("[0-9a-f]*"))) == len({bytes(piece) for piece in split_pieces(payload, PIECE_BYTES)}), \
        "the pieces are stored once for both instances"
    assert one.base("ansible.modules.setup") is None
    one.forget_holdings()
    assert one.base("ansible.modules.ping") is None and two.base("ansible.modules.ping") is not None


def test_a_base_with_a_lost_piece_is_no_base(tmp_path) -> None:
    cache = InstanceCache(str(tmp_path), "scope", "i-1")
    cache.set_base("m", bytes(range(256)) * 400)
    next(Path(cache.pieces).glob("[0-9a-f]*")).unlink()
    assert cache.base("m") is None


def test_pieces_unused_for_a_week_are_pruned_at_most_hourly(tmp_path) -> None:
    import os
    import time
    from ansible_collections.alicloud.ecs.plugins.module_utils.execution import instance_cache as module

    cache = module.InstanceCache(str(tmp_path), "scope", "i-1")
    os.makedirs(cache.pieces)
    stale, recent = os.path.join(cache.pieces, "stale"), os.path.join(cache.pieces, "recent")
    for path, age_days in ((stale, module.PIECE_DAYS + 1), (recent, module.PIECE_DAYS - 1)):
        with open(path, "wb") as handle:
            handle.write(b"x")
        then = time.time() - age_days * 86400
        os.utime(path, (then, then))
    cache.set_base("command", b"payload")
    assert not os.path.exists(stale) and os.path.exists(recent)
    with open(stale, "wb") as handle:
        handle.write(b"x")
    then = time.time() - (module.PIECE_DAYS + 1) * 86400
    os.utime(stale, (then, then))
    cache.set_base("command", b"payload 2")
    assert os.path.exists(stale), "swept at most once per PRUNE_EVERY"


def test_a_payload_that_still_holds_arguments_is_never_stored(tmp_path) -> None:
    """The executor keeps payloads without their arguments (stdin_delta.split_arguments); the cache refuses any
    other, so a module's no_log option can never reach the controller's disk through it."""
    cache = InstanceCache(str(tmp_path), "scope", "i-1")
    cache.set_base("ansible.modules.get_url", b"#!/usr/bin/python3\nparams='{\"ANSIBLE_MODULE_ARGS\": {}}',\n")
    assert cache.base("ansible.modules.get_url") is None
    assert not [path for path in Path(tmp_path).rglob("*") if path.is_file()]
