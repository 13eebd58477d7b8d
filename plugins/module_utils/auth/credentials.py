# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One set of API credentials, and the provider that keeps a source's set fresh through long plays.

A *source* knows how to obtain one set (fixed keys here; an assumed role or OIDC token in ``role_sources``,
a command or URI in ``external_sources``, the instance's RAM role in ``instance_metadata``). A
``CredentialProvider`` wraps a source: it hands out the current set and fetches a new one shortly before the
old one expires, at a margin that scales with the token's lifetime (a third of it, at most five minutes), so
a 15-minute token is renewed every 10 minutes and a play of any length never signs with an expired one.
Forked ansible workers share what any of them fetched through a ``SharedStore`` (``credential_cache``).
"""

from __future__ import annotations

import calendar
import threading
import time
import typing as t
from dataclasses import dataclass, field

REFRESH_MARGIN_MAX = 300  # seconds: renew at most five minutes before expiry ...
REFRESH_MARGIN_SHARE = 3  # ... and at a third of the token's lifetime for shorter ones


@dataclass(frozen=True)
class Credential:
    """One set of API credentials; the secret and the token never appear in a repr."""

    access_key_id: str
    access_key_secret: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)
    expiration: float | None = None  # epoch seconds; None for keys that do not expire
    obtained: float = field(default_factory=time.time)

    def needs_refresh(self, now: float | None = None) -> bool:
        """True once less than the refresh margin of the token's lifetime is left."""
        if self.expiration is None:
            return False
        lifetime = max(0.0, self.expiration - self.obtained)
        margin = min(REFRESH_MARGIN_MAX, lifetime / REFRESH_MARGIN_SHARE)
        return (time.time() if now is None else now) >= self.expiration - margin

    def to_json(self) -> dict[str, t.Any]:
        """The cache file's form."""
        return {"access_key_id": self.access_key_id, "access_key_secret": self.access_key_secret,
                "security_token": self.security_token, "expiration": self.expiration, "obtained": self.obtained}

    @classmethod
    def from_json(cls, data: dict[str, t.Any]) -> Credential:
        return cls(str(data["access_key_id"]), str(data["access_key_secret"]), data.get("security_token"),
                   data.get("expiration"), float(data.get("obtained") or 0))


class Source(t.Protocol):
    """Something that can fetch one set of credentials."""

    description: str  # for messages: what it is and where it was configured; nothing secret
    identity: str  # stable and non-secret: two sources with the same identity yield the same credentials

    def fetch(self) -> Credential:
        """One fresh set, or CloudError/ConfigError saying why not."""


@dataclass(frozen=True)
class StaticSource:
    """Fixed keys (options, environment, an AK or StsToken profile)."""

    credential: Credential
    description: str

    @property
    def identity(self) -> str:
        return f"static:{self.credential.access_key_id}"

    def fetch(self) -> Credential:
        return self.credential


class SharedStore(t.Protocol):
    """Where the processes of one controller share temporary credentials (``credential_cache.CredentialCache``).

    The provider needs only these three calls, so it depends on them rather than on the file-based cache, and
    a test can hand it any store.
    """

    def load(self, identity: str) -> Credential | None:
        """The set a sibling stored for this source, or None."""

    def store(self, identity: str, credential: Credential) -> None:
        """Share a fresh temporary set; a failure only costs sharing."""

    def locked(self, identity: str) -> t.ContextManager[None]:
        """Held while one process refreshes a source, so the others read its result instead of fetching."""


class CredentialProvider:
    """The current credentials of one source, refreshed before they expire and shared through the cache.

    Built once per process (or once in ansible's parent and inherited by its forked workers); ``current()``
    is cheap while the held set is fresh.
    """

    def __init__(self, source: Source, cache: SharedStore | None = None,
                 region: str | None = None) -> None:
        self.source = source
        self.cache = cache
        self.region = region  # the region a profile names, used when no option or variable sets one
        self._held: Credential | None = None
        self._lock = threading.Lock()

    @property
    def description(self) -> str:
        return self.source.description

    @property
    def identity(self) -> str:
        return self.source.identity

    def current(self) -> Credential:
        held = self._held
        if held is not None and not held.needs_refresh():
            return held
        with self._lock:
            held = self._held
            if held is None or held.needs_refresh():
                self._held = self._refresh()
            return self._held

    @property
    def renewable(self) -> bool:
        """False for fixed keys (options, environment, AK and StsToken profiles): nothing can give another set."""
        return not isinstance(self.source, StaticSource)

    def renew(self, rejected: Credential | None) -> bool:
        """Replace a set the API refused as expired although our clock held it fresh (the controller's clock is
        behind, or the token expired while the request travelled). True when the set held now differs from
        ``rejected``: fetched here, or already renewed by another thread or a sibling worker (the shared cache).
        """
        if not self.renewable:
            return False
        with self._lock:
            held = self._held
            if held is None or _same(held, rejected):
                held = self._held = self._refresh(rejected)
            return not _same(held, rejected)

    def _refresh(self, rejected: Credential | None = None) -> Credential:
        if self.cache is None or isinstance(self.source, StaticSource):
            return self.source.fetch()
        with self.cache.locked(self.identity):
            shared = self.cache.load(self.identity)
            if shared is not None and not shared.needs_refresh() and not _same(shared, rejected):
                return shared
            fresh = self.source.fetch()
            if fresh.expiration is not None:
                self.cache.store(self.identity, fresh)
            return fresh


def _same(one: Credential, other: Credential | None) -> bool:
    """The same key and token (the cache's copy of a set is another object with the same values)."""
    return other is not None and (one.access_key_id, one.security_token) == (other.access_key_id,
                                                                             other.security_token)


def parse_expiration(text: str) -> float:
    """``2024-01-01T00:00:00Z`` → epoch seconds."""
    return float(calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")))
