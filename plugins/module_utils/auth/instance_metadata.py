# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The RAM role credentials of the ECS instance the controller runs on, from its metadata service.

Ours rather than the alibabacloud-credentials library's provider: that one has the address 100.100.100.200
built in (no way to point it at a test service), and starts a background scheduler thread per provider,
which ansible's forked workers would each inherit half-done. The protocol is small: a session token first
(PUT /latest/api/token, the token-hardened mode), then the attached role's name, then its credentials; a
service that refuses tokens is asked without one unless ALIBABA_CLOUD_IMDSV1_DISABLED is true.
"""

from __future__ import annotations

import json
import typing as t
import urllib.error
import urllib.request
from urllib.parse import quote, urlsplit

from .credentials import Credential, parse_expiration
from .errors import ConfigError

DEFAULT_METADATA_ENDPOINT = "http://100.100.100.200"
ENV_METADATA_ENDPOINT = "ALIBABA_CLOUD_ECS_METADATA_ENDPOINT"  # ours: where the metadata service answers
ENV_METADATA_ROLE = "ALIBABA_CLOUD_ECS_METADATA"  # the library's name: which role to ask for
ENV_METADATA_DISABLED = "ALIBABA_CLOUD_ECS_METADATA_DISABLED"
ENV_IMDSV1_DISABLED = "ALIBABA_CLOUD_IMDSV1_DISABLED"
TOKEN_TTL_SECONDS = 21600
TIMEOUT_SECONDS = 2.0
CREDENTIALS_PATH = "/latest/meta-data/ram/security-credentials/"
NOT_ON_ECS = "the controller is not on ECS, or its instance has no RAM role attached"


def imdsv1_disabled(env: t.Mapping[str, str]) -> bool:
    """Whether ALIBABA_CLOUD_IMDSV1_DISABLED forbids asking the service without a session token; read in one
    place, so every way of reaching the instance's role (the chain, an EcsRamRole profile) obeys it alike."""
    return env.get(ENV_IMDSV1_DISABLED, "").strip().lower() == "true"


class MetadataSource:
    """The instance's RAM role credentials; rotated by the service, re-read by our provider before expiry."""

    def __init__(self, endpoint: str, role_name: str | None = None, token_required: bool = False) -> None:
        parts = urlsplit(endpoint if "://" in endpoint else "http://" + endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"{ENV_METADATA_ENDPOINT} must look like http://host[:port], got {endpoint!r}")
        self.base = f"{parts.scheme}://{parts.netloc}"
        self.role_name = role_name or None
        self.token_required = token_required
        self.description = f"the ECS instance RAM role from the metadata service at {self.base}"
        self.identity = f"metadata:{self.base}|{self.role_name or ''}"

    @classmethod
    def from_env(cls, env: t.Mapping[str, str]) -> MetadataSource | None:
        """None when ALIBABA_CLOUD_ECS_METADATA_DISABLED is true."""
        if env.get(ENV_METADATA_DISABLED, "").lower() == "true":
            return None
        return cls(env.get(ENV_METADATA_ENDPOINT) or DEFAULT_METADATA_ENDPOINT, env.get(ENV_METADATA_ROLE),
                   imdsv1_disabled(env))

    def _open(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, str]:
        request = urllib.request.Request(self.base + path, method=method, headers=headers)
        # The metadata service is link-local: never through a proxy.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=TIMEOUT_SECONDS) as response:
                return response.status, response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            return error.code, ""
        except (OSError, ValueError) as error:
            raise ConfigError(f"no answer from the metadata service at {self.base} "
                              f"({type(error).__name__}): {NOT_ON_ECS}") from None

    def _token(self) -> str | None:
        status, body = self._open("PUT", "/latest/api/token",
                                  {"X-aliyun-ecs-metadata-token-ttl-seconds": str(TOKEN_TTL_SECONDS)})
        if status == 200 and body:
            return body.strip()
        if self.token_required:
            raise ConfigError(f"the metadata service at {self.base} gave no session token (HTTP {status}) and "
                              f"{ENV_IMDSV1_DISABLED} forbids asking without one")
        return None

    def _get(self, path: str, token: str | None) -> str:
        status, body = self._open("GET", path, {"X-aliyun-ecs-metadata-token": token} if token else {})
        if status == 404:
            raise ConfigError(f"the metadata service at {self.base} knows no RAM role: {NOT_ON_ECS}")
        if status != 200:
            raise ConfigError(f"the metadata service at {self.base} answered HTTP {status} for the RAM role")
        return body

    def fetch(self) -> Credential:
        token = self._token()
        name = self.role_name or next(iter(self._get(CREDENTIALS_PATH, token).split()), "")
        if not name:
            raise ConfigError(f"the metadata service at {self.base} lists no RAM role: {NOT_ON_ECS}")
        try:
            data = json.loads(self._get(CREDENTIALS_PATH + quote(name, safe=""), token))
            if data.get("Code") != "Success":
                raise ValueError(data.get("Code"))
            return Credential(str(data["AccessKeyId"]), str(data["AccessKeySecret"]), str(data["SecurityToken"]),
                              parse_expiration(str(data["Expiration"])))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ConfigError(f"the metadata service at {self.base} gave no usable credentials for RAM role "
                              f"{name}") from None
