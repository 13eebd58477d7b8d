"""Renewal at a share of the lifetime, and temporary credentials shared through the 0600 cache."""

from __future__ import annotations

import os
import stat
import time

from ansible_collections.alicloud.ecs.plugins.module_utils.auth.credential_cache import CredentialCache
from ansible_collections.alicloud.ecs.plugins.module_utils.auth.credentials import Credential, CredentialProvider
from ansible_collections.alicloud.ecs.plugins.module_utils.auth.credentials_library import refusal
from ansible_collections.alicloud.ecs.plugins.module_utils.api.errors import CloudError


class CountingSource:
    """Hands out a new temporary set per fetch, valid for ``lifetime`` seconds."""

    description = "a test source"
    identity = "test:counting"

    def __init__(self, lifetime: float) -> None:
        self.lifetime = lifetime
        self.fetches = 0

    def fetch(self) -> Credential:
        self.fetches += 1
        now = time.time()
        return Credential(f"STS.{self.fetches}", "secret", "token", now + self.lifetime, now)


def test_renewal_margin_is_a_third_of_the_lifetime_at_most_five_minutes() -> None:
    short = Credential("id", "s", "t", expiration=1000 + 900, obtained=1000)
    assert not short.needs_refresh(now=1000 + 599) and short.needs_refresh(now=1000 + 601)
    long = Credential("id", "s", "t", expiration=1000 + 3600, obtained=1000)
    assert not long.needs_refresh(now=1000 + 3299) and long.needs_refresh(now=1000 + 3301)
    assert not Credential("id", "s").needs_refresh(now=10**12)


def test_a_fresh_set_is_reused_and_a_stale_one_renewed() -> None:
    source = CountingSource(lifetime=3600)
    provider = CredentialProvider(source)
    assert provider.current() is provider.current() and source.fetches == 1
    source.lifetime = 0
    provider._held = source.fetch()
    assert provider.current().access_key_id == "STS.3" and source.fetches == 3


def test_workers_share_what_one_of_them_fetched(tmp_path) -> None:
    cache = CredentialCache(str(tmp_path / "cache"))
    source = CountingSource(lifetime=3600)
    first = CredentialProvider(source, cache).current()
    second = CredentialProvider(source, cache).current()  # another process would build its own provider
    assert source.fetches == 1 and second.access_key_id == first.access_key_id
    files = [name for name in os.listdir(tmp_path / "cache") if name.endswith(".json")]
    assert len(files) == 1 and "test" not in files[0]
    assert stat.S_IMODE(os.stat(tmp_path / "cache" / files[0]).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "cache").st_mode) == 0o700


def test_secrets_stay_out_of_reprs() -> None:
    assert "hidden" not in repr(Credential("id", "hidden", "hidden"))


def test_a_refusal_in_a_library_message_becomes_the_service_code_without_the_body() -> None:
    error = refusal("assuming role r", 'error refreshing credentials from ram_role_arn, http_code: 403, result: '
                    '{"RequestId": "R1", "Code": "NoPermission", "Message": "You are not authorized"}', "AssumeRole")
    assert isinstance(error, CloudError) and error.code == "NoPermission" and error.http_status == 403
    assert "assuming role r refused" in str(error) and "R1" in str(error)


def test_a_refresh_lock_held_for_ever_is_waited_for_a_while_only(tmp_path, monkeypatch) -> None:
    """A worker stuck while holding the refresh lock (here another process that never lets go) delays the
    others by the wait only; then they refresh without it."""
    import subprocess
    import sys
    from ansible_collections.alicloud.ecs.plugins.module_utils.auth import credential_cache

    cache = CredentialCache(str(tmp_path / "cache"))
    with cache.locked("source"):
        pass  # creates the lock file
    lock_file = next(str(path) for path in (tmp_path / "cache").iterdir() if path.name.endswith(".lock"))
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1]); fcntl.flock(f, fcntl.LOCK_EX); "
         "print('held', flush=True); time.sleep(300)", lock_file], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        monkeypatch.setattr(credential_cache, "REFRESH_LOCK_WAIT", 0.3)
        entered = []
        with cache.locked("source"):
            entered.append(True)
        assert entered == [True]
        assert holder.poll() is None  # the holder still holds it: the wait ended, not the lock
    finally:
        holder.kill()
        holder.wait()
