# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sources that assume a RAM role through STS: with other credentials (AssumeRole) or an OIDC token file.

``RoleSpec`` checks STS's own limits on the role before any call; ``StsEndpoint`` decides which STS endpoint
is called. The calls and their signing are the library's (``credentials_library``).
"""

from __future__ import annotations

import hashlib
import os
import re
import typing as t
from dataclasses import dataclass
from urllib.parse import urlsplit

from .credentials import Credential, CredentialProvider
from .credentials_library import LibraryBase, from_library
from .errors import ConfigError

DEFAULT_SESSION_NAME = "ansible-alicloud-ecs"


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
            raise ConfigError("assume_role_arn must look like acs:ram::<account id>:role/<name>, "
                              f"got {self.role_arn!r}")
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
                credentials_provider=LibraryBase(self.base), role_arn=self.role.role_arn,
                role_session_name=self.role.session_name, duration_seconds=self.role.duration,
                policy=self.role.policy, external_id=self.role.external_id, sts_endpoint=self.sts.host())
        return from_library(f"assuming role {self.role.role_arn} (with {self.base.description})",
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
        return from_library(f"assuming role {self.role.role_arn} with OIDC ({self.description})",
                            self.sts.shown(), make, action="AssumeRoleWithOIDC")
