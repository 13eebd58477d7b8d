"""The controller's per-instance memory: chunks held and typical run times."""

from __future__ import annotations

from ansible_collections.alicloud.ecs.plugins.module_utils.instance_cache import InstanceCache


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
