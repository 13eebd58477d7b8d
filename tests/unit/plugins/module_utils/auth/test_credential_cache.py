"""The controller's shared store of temporary credentials: where it lives, what it keeps and refuses to keep,
what a damaged file costs, and the refresh lock that gives up after its wait."""

from __future__ import annotations

import fcntl
import os
import time

from ansible_collections.alicloud.ecs.plugins.module_utils.auth.credential_cache import (
    DEFAULT_CREDENTIAL_CACHE, CredentialCache, _lock_for_a_while,
)
from ansible_collections.alicloud.ecs.plugins.module_utils.auth.credentials import (
    Credential, CredentialProvider, StaticSource,
)


class Source:
    """A renewable source handing out numbered sets valid for ``lifetime`` seconds (None: never expiring)."""

    description = "a test source"

    def __init__(self, identity: str = "test:source", lifetime: float | None = 3600) -> None:
        self.identity = identity
        self.lifetime = lifetime
        self.fetches = 0

    def fetch(self) -> Credential:
        self.fetches += 1
        now = time.time()
        expiration = None if self.lifetime is None else now + self.lifetime
        return Credential(f"STS.{self.identity}.{self.fetches}", "secret", f"token{self.fetches}", expiration, now)


def test_the_directory_comes_from_the_environment_and_off_disables_sharing() -> None:
    assert CredentialCache.from_env({}).directory == os.path.expanduser(DEFAULT_CREDENTIAL_CACHE)
    assert CredentialCache.from_env({"ANSIBLE_ALICLOUD_CREDENTIAL_CACHE": ""}).directory == os.path.expanduser(
        DEFAULT_CREDENTIAL_CACHE)
    assert CredentialCache.from_env({"ANSIBLE_ALICLOUD_CREDENTIAL_CACHE": "/srv/c"}).directory == "/srv/c"
    assert CredentialCache.from_env({"ANSIBLE_ALICLOUD_CREDENTIAL_CACHE": "OFF"}) is None


def test_a_stored_set_is_loaded_whole_under_a_name_that_hides_its_identity(tmp_path) -> None:
    cache = CredentialCache(str(tmp_path))
    stored = Credential("STS.k", "secret", "token", 2000.0, 1000.0)
    cache.store("assume:acs:ram::1:role/secret-project", stored)
    assert cache.load("assume:acs:ram::1:role/secret-project") == stored
    assert cache.load("assume:acs:ram::1:role/other") is None
    names = os.listdir(tmp_path)
    assert len(names) == 1 and "secret-project" not in names[0] and names[0].endswith(".json")


def test_a_damaged_file_is_a_miss_not_an_error(tmp_path) -> None:
    cache = CredentialCache(str(tmp_path))
    cache.store("id", Credential("STS.k", "s", "t", 2000.0, 1000.0))
    (path,) = [tmp_path / name for name in os.listdir(tmp_path)]
    for damage in ("{not json", '{"access_key_secret": "s"}', "[]"):
        path.write_text(damage)
        assert cache.load("id") is None


def test_a_cache_that_cannot_be_written_only_costs_sharing(tmp_path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    cache = CredentialCache(str(blocker / "cache"))
    cache.store("id", Credential("STS.k", "s", "t", 2000.0, 1000.0))
    assert cache.load("id") is None
    with cache.locked("id"):  # no lock file possible: the refresh goes ahead unlocked
        pass
    source = Source()
    assert CredentialProvider(source, cache).current().access_key_id == "STS.test:source.1"


def test_fixed_keys_and_sets_without_expiry_are_never_written(tmp_path) -> None:
    cache = CredentialCache(str(tmp_path / "cache"))
    CredentialProvider(StaticSource(Credential("LTAI.long-lived", "secret"), "options"), cache).current()
    CredentialProvider(Source(lifetime=None), cache).current()
    assert not (tmp_path / "cache").exists() or not [
        name for name in os.listdir(tmp_path / "cache") if name.endswith(".json")]


def test_a_shared_set_close_to_expiry_is_not_taken(tmp_path) -> None:
    cache = CredentialCache(str(tmp_path))
    source = Source()
    now = time.time()
    cache.store(source.identity, Credential("STS.stale", "s", "t", now + 10, now - 3590))
    assert CredentialProvider(source, cache).current().access_key_id == "STS.test:source.1"
    assert cache.load(source.identity).access_key_id == "STS.test:source.1"  # the fresh one replaced it


def test_renewal_takes_a_siblings_newer_set_instead_of_fetching(tmp_path) -> None:
    cache = CredentialCache(str(tmp_path))
    source = Source()
    mine = CredentialProvider(source, cache)
    rejected = mine.current()
    sibling = CredentialProvider(source, cache)
    assert sibling.renew(rejected)  # the sibling fetched set 2 and shared it
    assert source.fetches == 2
    assert mine.renew(rejected) and mine.current().access_key_id == "STS.test:source.2"
    assert source.fetches == 2  # taken from the cache, not fetched a third time


def test_the_refresh_lock_is_taken_when_free_and_given_up_after_the_wait(tmp_path) -> None:
    path = str(tmp_path / "lock")
    first = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    second = os.open(path, os.O_RDWR)
    try:
        assert _lock_for_a_while(first, 1.0)
        started = time.monotonic()
        assert not _lock_for_a_while(second, 0.3)  # flock: another open file description is another holder
        assert 0.3 <= time.monotonic() - started < 3
        fcntl.flock(first, fcntl.LOCK_UN)
        assert _lock_for_a_while(second, 0.3)
    finally:
        os.close(first)
        os.close(second)
