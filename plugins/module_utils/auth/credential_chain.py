# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one order in which every plugin and module looks for credentials, and the message when none is found.

Explicit options → the inventory source's credentials (for its hosts) → environment variables → a named
profile of the aliyun CLI (profile option, ALIBABA_CLOUD_PROFILE, else the file's ``current``) → the
credentials ini file → OIDC variables (ACK RRSA) → ALIBABA_CLOUD_CREDENTIALS_URI → the ECS instance's RAM
role. A role named by the assume_role_* options is then assumed with whatever was found.
"""

from __future__ import annotations

import os
import typing as t
from dataclasses import dataclass, field

from .cli_profiles import (
    DEFAULT_CLI_CONFIG, DEFAULT_INI_FILES, ProfileContext, cli_profile, cli_profile_names, ini_profile, read_cli_config,
    read_ini,
)
from .credential_cache import CredentialCache
from .credentials import Credential, CredentialProvider, StaticSource
from .errors import ConfigError
from .external_sources import UriSource
from .instance_metadata import ENV_METADATA_DISABLED, MetadataSource
from .role_sources import DEFAULT_SESSION_NAME, AssumeRoleSource, OidcSource, RoleSpec, StsEndpoint

ENV_ACCESS_KEY_ID = ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALICLOUD_ACCESS_KEY")
ENV_ACCESS_KEY_SECRET = ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALICLOUD_SECRET_KEY")
ENV_SECURITY_TOKEN = ("ALIBABA_CLOUD_SECURITY_TOKEN", "ALICLOUD_SECURITY_TOKEN")
ENV_PROFILE = ("ALIBABA_CLOUD_PROFILE", "ALICLOUD_PROFILE")
ENV_CLI_CONFIG = ("ALIBABA_CLOUD_CONFIG_FILE",)  # ours: the aliyun CLI has no variable for its file
ENV_INI_FILE = "ALIBABA_CLOUD_CREDENTIALS_FILE"
ENV_OIDC_ROLE_ARN = "ALIBABA_CLOUD_ROLE_ARN"
ENV_OIDC_PROVIDER_ARN = "ALIBABA_CLOUD_OIDC_PROVIDER_ARN"
ENV_OIDC_TOKEN_FILE = "ALIBABA_CLOUD_OIDC_TOKEN_FILE"
ENV_ROLE_SESSION_NAME = "ALIBABA_CLOUD_ROLE_SESSION_NAME"
ENV_CREDENTIALS_URI = "ALIBABA_CLOUD_CREDENTIALS_URI"
ENV_STS_ENDPOINT = ("ALIBABA_CLOUD_STS_ENDPOINT",)  # ours
ENV_STS_REGION = ("ALIBABA_CLOUD_STS_REGION",)
ENV_VPC_ENDPOINT = ("ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED",)


def first_env(names: t.Iterable[str], env: t.Mapping[str, str]) -> str | None:
    for name in names:
        value = env.get(name)
        if value:
            return value
    return None


@dataclass(frozen=True)
class CredentialOptions:
    """The credential options of a plugin or module, as given (None when unset)."""

    access_key_id: str | None = None
    access_key_secret: str | None = field(default=None, repr=False)
    security_token: str | None = field(default=None, repr=False)
    profile: str | None = None
    profile_file: str | None = None
    assume_role: RoleSpec | None = None
    sts_endpoint: str | None = None
    sts_region: str | None = None
    vpc_endpoint: bool | None = None

    def sts(self, env: t.Mapping[str, str]) -> StsEndpoint:
        vpc = self.vpc_endpoint
        if vpc is None:
            vpc = (first_env(ENV_VPC_ENDPOINT, env) or "").lower() == "true"
        return StsEndpoint(self.sts_endpoint or first_env(ENV_STS_ENDPOINT, env),
                           self.sts_region or first_env(ENV_STS_REGION, env), vpc)


def role_spec(role_arn: str | None, session_name: str | None = None, duration: int | None = None,
              external_id: str | None = None, policy: str | None = None) -> RoleSpec | None:
    """The assume_role_* options as a validated RoleSpec, or None when no role is named."""
    if not role_arn:
        for name, value in (("assume_role_session_name", session_name), ("assume_role_duration", duration),
                            ("assume_role_external_id", external_id), ("assume_role_policy", policy)):
            if value not in (None, ""):
                raise ConfigError(f"{name} needs assume_role_arn")
        return None
    return RoleSpec(role_arn, session_name or DEFAULT_SESSION_NAME, int(duration or 3600), external_id or None,
                    policy or None).validate()


def resolve_credentials(options: CredentialOptions, env: t.Mapping[str, str],
                        inherited: CredentialProvider | None = None) -> CredentialProvider:
    """The provider for these options; ConfigError naming every source tried, in order, when there is none."""
    cache = CredentialCache.from_env(env)
    context = ProfileContext(options.sts(env), env, cache)
    base = _base_provider(options, env, context, inherited)
    if options.assume_role is None:
        return base
    return CredentialProvider(AssumeRoleSource(base, options.assume_role, context.sts), cache, base.region)


def _base_provider(options: CredentialOptions, env: t.Mapping[str, str], context: ProfileContext,
                   inherited: CredentialProvider | None) -> CredentialProvider:
    if options.access_key_id or options.access_key_secret:
        if not (options.access_key_id and options.access_key_secret):
            raise ConfigError("access_key and secret_key must be set together")
        return context.provider(StaticSource(
            Credential(options.access_key_id, options.access_key_secret, options.security_token or None),
            "the access_key/secret_key options"))
    named = options.profile or first_env(ENV_PROFILE, env)
    if inherited is not None and not options.profile:
        return inherited
    tried = ["the access_key and secret_key options: not set"]
    key_id, secret = first_env(ENV_ACCESS_KEY_ID, env), first_env(ENV_ACCESS_KEY_SECRET, env)
    if key_id and secret:
        return context.provider(StaticSource(Credential(key_id, secret, first_env(ENV_SECURITY_TOKEN, env)),
                                             "the ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET environment variables"))
    tried.append("ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET (or ALICLOUD_ACCESS_KEY and "
                 "ALICLOUD_SECRET_KEY): not set")
    cli_path = os.path.expanduser(options.profile_file or first_env(ENV_CLI_CONFIG, env) or DEFAULT_CLI_CONFIG)
    config = read_cli_config(cli_path)
    ini_path = os.path.expanduser(env.get(ENV_INI_FILE) or next(
        (path for path in DEFAULT_INI_FILES if os.path.isfile(os.path.expanduser(path))), DEFAULT_INI_FILES[0]))
    ini = read_ini(ini_path)
    if named:
        if config is not None and named in cli_profile_names(config):
            return cli_profile(config, named, cli_path, context)
        if ini is not None and named in ini:
            return ini_profile(ini[named], named, ini_path, context)
        raise ConfigError(
            f"no profile {named!r}: the profiles in {cli_path} are "
            f"{', '.join(cli_profile_names(config)) if config else 'none (no such file)'}; the sections of "
            f"{ini_path} are {', '.join(ini) if ini else 'none (no such file)'}")
    if config is not None and config.get("current"):
        return cli_profile(config, str(config["current"]), cli_path, context)
    tried.append(f"a profile of the aliyun CLI in {cli_path} (profile option, ALIBABA_CLOUD_PROFILE, or "
                 f"`aliyun configure`): {'no current profile' if config is not None else 'no such file'}")
    if ini is not None and "default" in ini:
        return ini_profile(ini["default"], "default", ini_path, context)
    tried.append(f"the [default] section of {ini_path} (ALIBABA_CLOUD_CREDENTIALS_FILE): "
                 f"{'no such section' if ini is not None else 'no such file'}")
    oidc = (env.get(ENV_OIDC_ROLE_ARN), env.get(ENV_OIDC_PROVIDER_ARN), env.get(ENV_OIDC_TOKEN_FILE))
    if all(oidc):
        role = RoleSpec(str(oidc[0]), env.get(ENV_ROLE_SESSION_NAME) or DEFAULT_SESSION_NAME)
        return context.provider(OidcSource(role, str(oidc[1]), str(oidc[2]), context.sts,
                                           "the OIDC environment variables (RRSA)"))
    tried.append(f"OIDC (RRSA): {ENV_OIDC_ROLE_ARN}, {ENV_OIDC_PROVIDER_ARN} and {ENV_OIDC_TOKEN_FILE}: not all set")
    if env.get(ENV_CREDENTIALS_URI):
        return context.provider(UriSource(env[ENV_CREDENTIALS_URI], ENV_CREDENTIALS_URI))
    tried.append(f"{ENV_CREDENTIALS_URI}: not set")
    metadata = MetadataSource.from_env(env)
    if metadata is None:
        tried.append(f"the ECS instance RAM role: disabled by {ENV_METADATA_DISABLED}")
    else:
        provider = context.provider(metadata)
        try:
            provider.current()
            return provider
        except ConfigError as error:
            tried.append(f"the ECS instance RAM role: {error}")
    listed = "; ".join(f"{number}. {text}" for number, text in enumerate(tried, 1))
    raise ConfigError(f"No Alibaba Cloud credentials. Tried, in order: {listed}")
