# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where API credentials come from, and keeping temporary ones fresh through long plays.

A *source* knows how to obtain one set of credentials (fixed keys, an assumed role, the instance's RAM role,
an OIDC token, an external process, a credentials URI). A ``CredentialProvider`` wraps a source: it hands out
the current set and fetches a new one shortly before the old one expires, at a margin that scales with the
token's lifetime (a third of it, at most five minutes), so a 15-minute token is renewed every 10 minutes and
a play of any length never signs with an expired one.

Forked ansible workers share what any of them fetched through ``CredentialCache``: a 0600 file per source
under the controller's ~/.ansible, holding temporary credentials only (never a long-lived secret), so a
worker finds the set a sibling fetched instead of calling STS or the metadata service again.

STS calls and their signing are the ``alibabacloud-credentials`` library's (imported only when a role is
assumed, as it takes 0.4 s to load); this module only decides when to call it and turns its failures into
messages that name the role and the service's code, never a key, token or signed URL.
"""

from __future__ import annotations

import calendar
import contextlib
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import time
import typing as t
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ..api.errors import CloudError, ConfigError

try:
    import fcntl
    HAS_FCNTL = True
except ImportError:  # pragma: no cover - Windows controllers are not supported by ansible
    HAS_FCNTL = False

REFRESH_MARGIN_MAX = 300  # seconds: renew at most five minutes before expiry ...
REFRESH_MARGIN_SHARE = 3  # ... and at a third of the token's lifetime for shorter ones
ENV_CREDENTIAL_CACHE = "ANSIBLE_ALICLOUD_CREDENTIAL_CACHE"
DEFAULT_CREDENTIAL_CACHE = "~/.ansible/alicloud_ecs/credentials"
DEFAULT_SESSION_NAME = "ansible-alicloud-ecs"
REFRESH_LOCK_WAIT = 60.0  # seconds one worker waits for another's refresh of the same source (see _lock_for_a_while)


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


class CredentialCache:
    """Temporary credentials shared by the processes of one controller: one 0600 file per source identity.

    The directory is ~/.ansible/alicloud_ecs/credentials unless ANSIBLE_ALICLOUD_CREDENTIAL_CACHE names another
    one (the tests use a temporary directory); the value ``off`` disables sharing. Files are named by a hash of
    the identity, so the file name says nothing about the account or the role.
    """

    def __init__(self, directory: str) -> None:
        self.directory = os.path.expanduser(directory)

    @classmethod
    def from_env(cls, env: t.Mapping[str, str]) -> CredentialCache | None:
        directory = env.get(ENV_CREDENTIAL_CACHE, DEFAULT_CREDENTIAL_CACHE) or DEFAULT_CREDENTIAL_CACHE
        return None if directory.lower() == "off" else cls(directory)

    def _path(self, identity: str) -> str:
        return os.path.join(self.directory, hashlib.sha256(identity.encode()).hexdigest()[:40])

    def load(self, identity: str) -> Credential | None:
        try:
            with open(self._path(identity) + ".json", encoding="utf-8") as handle:
                return Credential.from_json(json.load(handle))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def store(self, identity: str, credential: Credential) -> None:
        """Write atomically with mode 0600 (in a 0700 directory); a failure only costs sharing."""
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            handle, temp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                json.dump(credential.to_json(), stream)
            os.replace(temp, self._path(identity) + ".json")
        except OSError:
            return

    @contextlib.contextmanager
    def locked(self, identity: str) -> t.Iterator[None]:
        """Only one process of the controller refreshes a source at a time; the others then read its result."""
        if not HAS_FCNTL:
            yield
            return
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            handle = os.open(self._path(identity) + ".lock", os.O_CREAT | os.O_RDWR, 0o600)
        except OSError:
            yield
            return
        try:
            _lock_for_a_while(handle, REFRESH_LOCK_WAIT)
            yield
        finally:
            os.close(handle)


def _lock_for_a_while(handle: int, seconds: float) -> bool:
    """Try for ``seconds`` to take the exclusive lock on ``handle``; False when it stayed taken.

    The refresh lock only saves duplicate refreshes, so a holder that never lets go (a stuck process, or one
    stopped with SIGSTOP) must not hold every other worker's API calls: past the wait the refresh goes ahead
    without the lock, which costs one more call to the credential source, nothing else.
    """
    deadline = time.monotonic() + seconds
    pause = 0.01
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            if time.monotonic() >= deadline:
                return False
        time.sleep(pause)
        pause = min(0.2, pause * 1.5)


class CredentialProvider:
    """The current credentials of one source, refreshed before they expire and shared through the cache.

    Built once per process (or once in ansible's parent and inherited by its forked workers); ``current()``
    is cheap while the held set is fresh.
    """

    def __init__(self, source: Source, cache: CredentialCache | None = None,
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


# -- sources served by the alibabacloud-credentials library ------------------------------------------------

@dataclass(frozen=True)
class StsEndpoint:
    """Which STS endpoint to call: an explicit one, else the regional (or VPC) one, else the central one."""

    endpoint: str | None = None
    region: str | None = None
    vpc: bool = False

    def host(self) -> str:
        """What the library wants: ``host`` (https) or ``http://host:port`` for a plain-HTTP endpoint."""
        if self.endpoint:
            parts = urlsplit(self.endpoint if "://" in self.endpoint else "https://" + self.endpoint)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
                raise ConfigError(f"sts_endpoint must look like http(s)://host[:port], got {self.endpoint!r}")
            return f"http://{parts.netloc}" if parts.scheme == "http" else parts.netloc
        prefix = "sts-vpc" if self.vpc else "sts"
        return f"{prefix}.{self.region}.aliyuncs.com" if self.region else f"{prefix}.aliyuncs.com"

    def shown(self) -> str:
        host = self.host()
        return host if "://" in host else f"https://{host}"


@dataclass(frozen=True)
class RoleSpec:
    """A role to assume (the assume_role_* options, or a RamRoleArn/ChainableRamRoleArn profile)."""

    role_arn: str
    session_name: str = DEFAULT_SESSION_NAME
    duration: int = 3600
    external_id: str | None = None
    policy: str | None = None

    def validate(self) -> RoleSpec:
        """STS's own limits, checked before any call (⚠ the 43200 s ceiling is the role's maximum setting)."""
        if not re.match(r"^acs:ram::\d*:role/[\w.@+=,-]+$", self.role_arn, re.IGNORECASE):
            raise ConfigError(f"assume_role_arn must look like acs:ram::<account id>:role/<name>, got {self.role_arn!r}")
        if not re.match(r"^[\w.@-]{2,64}$", self.session_name):
            raise ConfigError("assume_role_session_name must be 2 to 64 letters, digits or . @ - _, "
                              f"got {self.session_name!r}")
        if not 900 <= self.duration <= 43200:
            raise ConfigError(f"assume_role_duration must be between 900 and 43200 seconds, got {self.duration}")
        if self.external_id is not None and not re.match(r"^[\w.@=:/-]{2,1224}$", self.external_id):
            raise ConfigError("assume_role_external_id must be 2 to 1224 letters, digits or . @ = : / - _")
        if self.policy is not None and len(self.policy) > 2048:
            raise ConfigError(f"assume_role_policy must be at most 2048 characters, got {len(self.policy)}")
        return self

    def identity(self) -> str:
        policy = hashlib.sha256((self.policy or "").encode()).hexdigest()[:16]
        return f"{self.role_arn}|{self.session_name}|{self.duration}|{self.external_id or ''}|{policy}"


class _LibraryBase:
    """Our provider as the library's ICredentialsProvider, so a role is assumed on top of any source."""

    def __init__(self, provider: CredentialProvider) -> None:
        self._provider = provider

    def get_credentials(self) -> t.Any:
        from alibabacloud_credentials.provider.refreshable import Credentials
        held = self._provider.current()
        return Credentials(access_key_id=held.access_key_id, access_key_secret=held.access_key_secret,
                           security_token=held.security_token, provider_name="alicloud.ecs")

    def get_provider_name(self) -> str:
        return "alicloud.ecs"


def _from_library(what: str, endpoint: str, make: t.Callable[[], t.Any], action: str = "") -> Credential:
    """Run one library fetch; its failures become our errors, without the signed URL its messages may carry."""
    try:
        from alibabacloud_credentials.exceptions import CredentialException
    except ImportError as error:
        raise ConfigError(f"{what} needs the alibabacloud-credentials Python package: {error}") from None
    # The library logs each failed refresh with its traceback to stderr, through a handler of its own on the
    # logger "credentials"; the failure reaches the operator once, as our error, instead.
    logging.getLogger("credentials").disabled = True
    try:
        got = make().get_credentials()
    except CredentialException as error:
        raise _refusal(what, str(error), action) from None
    except (ConfigError, CloudError):
        raise
    except ValueError as error:
        raise ConfigError(f"{what}: {error}") from None
    except Exception as error:  # the library raises the HTTP stack's own errors, whose text holds the signed URL
        raise ConfigError(f"{what}: cannot reach {endpoint} ({type(error).__name__})") from None
    expiration = got.get_expiration()
    return Credential(got.get_access_key_id(), got.get_access_key_secret(), got.get_security_token() or None,
                      float(expiration) if expiration else None)


def _refusal(what: str, text: str, action: str) -> Exception:
    """The service's answer inside a library message (``... result: {json}``) as a CloudError with its code."""
    match = re.search(r"result: (\{.*\})\s*$", text, re.DOTALL)
    if match:
        try:
            body = json.loads(match.group(1))
        except ValueError:
            body = {}
        if isinstance(body, dict) and body.get("Code"):
            return CloudError(str(body["Code"]), f"{what} refused: {body.get('Message', '')}", action=action,
                              request_id=body.get("RequestId"),
                              http_status=_int(re.search(r"http_code[:=] ?(\d+)", text)))
    return ConfigError(f"{what}: {re.sub(r'result: .*', '', text, flags=re.DOTALL).strip()}")


def _int(match: re.Match[str] | None) -> int | None:
    return int(match.group(1)) if match else None


class AssumeRoleSource:
    """AssumeRole with the credentials of another provider (assume_role_*, RamRoleArn, ChainableRamRoleArn)."""

    def __init__(self, base: CredentialProvider, role: RoleSpec, sts: StsEndpoint, description: str = "") -> None:
        self.base = base
        self.role = role.validate()
        self.sts = sts
        self.description = description or f"role {role.role_arn} assumed with {base.description}"
        self.identity = f"assume:{role.identity()}|{sts.host()}|{base.identity}"

    def fetch(self) -> Credential:
        def make() -> t.Any:
            from alibabacloud_credentials.provider.ram_role_arn import RamRoleArnCredentialsProvider
            return RamRoleArnCredentialsProvider(
                credentials_provider=_LibraryBase(self.base), role_arn=self.role.role_arn,
                role_session_name=self.role.session_name, duration_seconds=self.role.duration,
                policy=self.role.policy, external_id=self.role.external_id, sts_endpoint=self.sts.host())
        return _from_library(f"assuming role {self.role.role_arn} (with {self.base.description})",
                             self.sts.shown(), make, action="AssumeRole")


class OidcSource:
    """AssumeRoleWithOIDC with a token file (ACK RRSA, or an OIDC profile)."""

    def __init__(self, role: RoleSpec, provider_arn: str, token_file: str, sts: StsEndpoint,
                 description: str) -> None:
        self.role = role.validate()
        self.provider_arn = provider_arn
        self.token_file = os.path.expanduser(token_file)
        self.sts = sts
        self.description = description
        self.identity = f"oidc:{role.identity()}|{provider_arn}|{self.token_file}|{sts.host()}"

    def fetch(self) -> Credential:
        if not os.path.isfile(self.token_file):
            raise ConfigError(f"{self.description}: the OIDC token file {self.token_file} does not exist")

        def make() -> t.Any:
            from alibabacloud_credentials.provider.oidc import OIDCRoleArnCredentialsProvider
            return OIDCRoleArnCredentialsProvider(
                role_arn=self.role.role_arn, oidc_provider_arn=self.provider_arn,
                oidc_token_file_path=self.token_file, role_session_name=self.role.session_name,
                duration_seconds=self.role.duration, policy=self.role.policy, sts_endpoint=self.sts.host())
        return _from_library(f"assuming role {self.role.role_arn} with OIDC ({self.description})",
                             self.sts.shown(), make, action="AssumeRoleWithOIDC")


class ExternalSource:
    """An External profile: runs the configured command, which prints the credentials as JSON."""

    def __init__(self, command: str, description: str) -> None:
        self.command = command
        self.description = description
        self.identity = f"external:{command}"

    def fetch(self) -> Credential:
        def make() -> t.Any:
            # No update callback: unlike the aliyun CLI, we never write the result back into config.json.
            from alibabacloud_credentials.provider.external import ExternalCredentialsProvider
            return ExternalCredentialsProvider(process_command=self.command)
        return _from_library(self.description, "the external command", make)


class UriSource:
    """A CredentialsURI profile or ALIBABA_CLOUD_CREDENTIALS_URI: a local service answering with credentials."""

    def __init__(self, uri: str, description: str) -> None:
        self.uri = uri
        self.description = description
        self.identity = f"uri:{uri}"

    def fetch(self) -> Credential:
        def make() -> t.Any:
            from alibabacloud_credentials.provider.uri import URLCredentialsProvider
            return URLCredentialsProvider(uri=self.uri)
        parts = urlsplit(self.uri)
        return _from_library(self.description, f"{parts.scheme}://{parts.netloc}", make)


def parse_expiration(text: str) -> float:
    """``2024-01-01T00:00:00Z`` → epoch seconds."""
    return float(calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")))
