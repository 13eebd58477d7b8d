# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Named profiles: the aliyun CLI's ~/.aliyun/config.json and the SDKs' ~/.alibabacloud/credentials.ini.

Read here rather than through the alibabacloud-credentials library's profile providers because those drop the
expiry of what they return (so nothing could refresh on time), know no CredentialsURI mode, write External
results back into config.json, and answer an unknown profile without naming the ones that exist.
Every mode ``aliyun configure`` writes is supported: AK, StsToken, RamRoleArn, EcsRamRole,
ChainableRamRoleArn (through its source profile), OIDC, External and CredentialsURI.
"""

from __future__ import annotations

import configparser
import json
import os
import typing as t

from .credential_cache import CredentialCache
from .credentials import Credential, CredentialProvider, Source, StaticSource
from .errors import ConfigError
from .external_sources import ExternalSource, UriSource
from .instance_metadata import DEFAULT_METADATA_ENDPOINT, ENV_METADATA_ENDPOINT, MetadataSource, imdsv1_disabled
from .role_sources import DEFAULT_SESSION_NAME, AssumeRoleSource, OidcSource, RoleSpec, StsEndpoint

DEFAULT_CLI_CONFIG = "~/.aliyun/config.json"
DEFAULT_INI_FILES = ("~/.alibabacloud/credentials.ini", "~/.alibabacloud/credentials")
CLI_MODES = ("AK", "StsToken", "RamRoleArn", "EcsRamRole", "ChainableRamRoleArn", "OIDC", "External",
             "CredentialsURI")


class ProfileContext:
    """What building a profile's source needs besides the profile: STS endpoint, metadata, shared cache."""

    def __init__(self, sts: StsEndpoint, env: t.Mapping[str, str], cache: CredentialCache | None) -> None:
        self.sts = sts
        self.env = env
        self.cache = cache

    def sts_for(self, region: str | None) -> StsEndpoint:
        """A profile's own sts_region counts only when no STS endpoint or region is configured for the play."""
        if self.sts.endpoint or self.sts.region or not region:
            return self.sts
        return StsEndpoint(region=region, vpc=self.sts.vpc)

    def provider(self, source: Source, region: str | None = None) -> CredentialProvider:
        return CredentialProvider(source, self.cache, region)

    def metadata(self, role_name: str | None) -> MetadataSource:
        """An EcsRamRole / ecs_ram_role profile's source: as in the chain, ALIBABA_CLOUD_IMDSV1_DISABLED forbids
        the fallback without a session token."""
        return MetadataSource(self.env.get(ENV_METADATA_ENDPOINT) or DEFAULT_METADATA_ENDPOINT, role_name,
                              imdsv1_disabled(self.env))


def read_cli_config(path: str) -> dict[str, t.Any] | None:
    """The parsed file, or None when it does not exist."""
    full = os.path.expanduser(path)
    if not os.path.isfile(full):
        return None
    try:
        with open(full, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError) as error:
        raise ConfigError(f"cannot read the aliyun CLI configuration {full}: {type(error).__name__}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"the aliyun CLI configuration {full} is not a JSON object")
    return data


def cli_profile_names(config: dict[str, t.Any]) -> list[str]:
    return [str(item.get("name")) for item in config.get("profiles") or [] if isinstance(item, dict)]


def cli_profile(config: dict[str, t.Any], name: str, path: str, context: ProfileContext,
                chain: tuple[str, ...] = ()) -> CredentialProvider:
    """The provider for profile ``name`` of the CLI configuration at ``path``."""
    profile = next((item for item in config.get("profiles") or []
                    if isinstance(item, dict) and item.get("name") == name), None)
    if profile is None:
        raise ConfigError(f"no profile {name!r} in {path}; its profiles are: "
                          f"{', '.join(cli_profile_names(config)) or 'none'}")
    mode = str(profile.get("mode") or "")
    where = f"profile {name!r} ({mode}) in {path}"
    region = profile.get("region_id") or None

    def field(key: str) -> str:
        value = profile.get(key)
        if value in (None, ""):
            raise ConfigError(f"{where} has no {key}")
        return str(value)

    def role() -> RoleSpec:
        return RoleSpec(field("ram_role_arn"), str(profile.get("ram_session_name") or DEFAULT_SESSION_NAME),
                        int(profile.get("expired_seconds") or 3600), profile.get("external_id") or None,
                        profile.get("policy") or None)

    if mode == "AK":
        return context.provider(StaticSource(Credential(field("access_key_id"), field("access_key_secret")), where),
                                region)
    if mode == "StsToken":
        return context.provider(StaticSource(Credential(field("access_key_id"), field("access_key_secret"),
                                                        field("sts_token")), where), region)
    if mode == "RamRoleArn":
        keys = Credential(field("access_key_id"), field("access_key_secret"), profile.get("sts_token") or None)
        base = context.provider(StaticSource(keys, f"the keys of {where}"))
        return context.provider(AssumeRoleSource(base, role(), context.sts_for(profile.get("sts_region")), where),
                                region)
    if mode == "EcsRamRole":
        return context.provider(context.metadata(profile.get("ram_role_name") or None), region)
    if mode == "ChainableRamRoleArn":
        source_name = field("source_profile")
        if source_name in chain + (name,):
            raise ConfigError(f"{where}: source_profile {source_name!r} loops back to itself")
        base = cli_profile(config, source_name, path, context, chain + (name,))
        return context.provider(AssumeRoleSource(base, role(), context.sts_for(profile.get("sts_region")), where),
                                region)
    if mode == "OIDC":
        session = profile.get("ram_session_name") or profile.get("role_session_name") or DEFAULT_SESSION_NAME
        spec = RoleSpec(field("ram_role_arn"), str(session), int(profile.get("expired_seconds") or 3600))
        return context.provider(OidcSource(spec, field("oidc_provider_arn"), field("oidc_token_file"),
                                           context.sts_for(profile.get("sts_region")), where), region)
    if mode == "External":
        return context.provider(ExternalSource(field("process_command"), where), region)
    if mode == "CredentialsURI":
        return context.provider(UriSource(field("credentials_uri"), where), region)
    raise ConfigError(f"{where}: mode {mode!r} is not supported; supported modes: {', '.join(CLI_MODES)}")


def read_ini(path: str) -> dict[str, dict[str, str]] | None:
    """Sections of the credentials ini file, or None when it does not exist."""
    full = os.path.expanduser(path)
    if not os.path.isfile(full):
        return None
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(full, encoding="utf-8")
    except (OSError, configparser.Error) as error:
        raise ConfigError(f"cannot read the credentials file {full}: {type(error).__name__}") from None
    return {section: {key: value.split("#")[0].strip() for key, value in parser.items(section)}
            for section in parser.sections()}


def ini_profile(section: dict[str, str], name: str, path: str, context: ProfileContext) -> CredentialProvider:
    """A section of the credentials ini file (types access_key, sts, ram_role_arn, ecs_ram_role, oidc_role_arn)."""
    kind = section.get("type", "")
    where = f"section [{name}] (type {kind}) of {path}"

    def field(key: str) -> str:
        if not section.get(key):
            raise ConfigError(f"{where} has no {key}")
        return section[key]

    if kind in ("access_key", "sts"):
        token = field("security_token") if kind == "sts" else None
        return context.provider(StaticSource(Credential(field("access_key_id"), field("access_key_secret"), token),
                                             where))
    if kind == "ram_role_arn":
        base = context.provider(StaticSource(Credential(field("access_key_id"), field("access_key_secret")),
                                             f"the keys of {where}"))
        spec = RoleSpec(field("role_arn"), section.get("role_session_name") or DEFAULT_SESSION_NAME,
                        int(section.get("role_session_expiration") or 3600), section.get("external_id") or None,
                        section.get("policy") or None)
        return context.provider(AssumeRoleSource(base, spec, context.sts, where))
    if kind == "ecs_ram_role":
        return context.provider(context.metadata(section.get("role_name") or None))
    if kind == "oidc_role_arn":
        spec = RoleSpec(field("role_arn"), section.get("role_session_name") or DEFAULT_SESSION_NAME,
                        int(section.get("role_session_expiration") or 3600), policy=section.get("policy") or None)
        return context.provider(OidcSource(spec, field("oidc_provider_arn"), field("oidc_token_file_path"),
                                           context.sts, where))
    raise ConfigError(f"{where}: type {kind!r} is not supported (access_key, sts, ram_role_arn, ecs_ram_role, "
                      "oidc_role_arn)")
