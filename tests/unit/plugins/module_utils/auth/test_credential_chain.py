"""The order in which credentials are looked for, profiles of every mode, and what the errors say."""

from __future__ import annotations

import json
import typing as t

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.auth.credential_chain import (
    CredentialOptions, resolve_credentials, role_spec,
)
from ansible_collections.alicloud.ecs.plugins.module_utils.auth.external_sources import ExternalSource, UriSource
from ansible_collections.alicloud.ecs.plugins.module_utils.auth.role_sources import AssumeRoleSource, OidcSource
from ansible_collections.alicloud.ecs.plugins.module_utils.api.errors import ConfigError
from ansible_collections.alicloud.ecs.plugins.module_utils.auth.instance_metadata import MetadataSource

ROLE = "acs:ram::1234567890123456:role/deployer"


def base_env(tmp_path, **extra: str) -> dict[str, str]:
    """No file, no metadata service: nothing is found unless the test adds it."""
    return {"ALIBABA_CLOUD_CONFIG_FILE": str(tmp_path / "none.json"),
            "ALIBABA_CLOUD_CREDENTIALS_FILE": str(tmp_path / "none.ini"),
            "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true", "ANSIBLE_ALICLOUD_CREDENTIAL_CACHE": "off", **extra}


def cli_config(tmp_path, current: str = "", **profiles: dict[str, t.Any]) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"current": current, "profiles": [
        {"name": name, **profile} for name, profile in profiles.items()]}))
    return str(path)


def test_options_then_environment_then_profile(tmp_path) -> None:
    config = cli_config(tmp_path, "dev", dev={"mode": "AK", "access_key_id": "profile-id", "access_key_secret": "s",
                                              "region_id": "cn-beijing"})
    env = base_env(tmp_path, ALIBABA_CLOUD_CONFIG_FILE=config)
    assert resolve_credentials(CredentialOptions("opt-id", "opt-s"), env).current().access_key_id == "opt-id"
    with_env = {**env, "ALICLOUD_ACCESS_KEY": "env-id", "ALICLOUD_SECRET_KEY": "env-s"}
    assert resolve_credentials(CredentialOptions(), with_env).current().access_key_id == "env-id"
    found = resolve_credentials(CredentialOptions(), env)
    assert found.current().access_key_id == "profile-id" and found.region == "cn-beijing"
    assert "profile 'dev' (AK)" in found.description


def test_an_inventory_source_beats_the_environment_but_not_explicit_keys(tmp_path) -> None:
    env = base_env(tmp_path, ALIBABA_CLOUD_ACCESS_KEY_ID="env-id", ALIBABA_CLOUD_ACCESS_KEY_SECRET="env-s")
    inherited = resolve_credentials(CredentialOptions("inv-id", "inv-s"), env)
    assert resolve_credentials(CredentialOptions(), env, inherited) is inherited
    assert resolve_credentials(CredentialOptions("host-id", "s"), env, inherited).current().access_key_id == "host-id"


def test_every_cli_mode_builds_its_source(tmp_path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("t")
    config = cli_config(
        tmp_path,
        ak={"mode": "AK", "access_key_id": "a", "access_key_secret": "s"},
        sts={"mode": "StsToken", "access_key_id": "STS.a", "access_key_secret": "s", "sts_token": "tok"},
        arn={"mode": "RamRoleArn", "access_key_id": "a", "access_key_secret": "s", "ram_role_arn": ROLE,
             "ram_session_name": "me", "sts_region": "cn-shanghai"},
        ecs={"mode": "EcsRamRole", "ram_role_name": "r"},
        chain={"mode": "ChainableRamRoleArn", "source_profile": "arn", "ram_role_arn": ROLE, "ram_session_name": "xy"},
        oidc={"mode": "OIDC", "ram_role_arn": ROLE, "oidc_provider_arn": "acs:ram::1:oidc-provider/p",
              "oidc_token_file": str(token_file)},
        ext={"mode": "External", "process_command": "/bin/echo {}"},
        uri={"mode": "CredentialsURI", "credentials_uri": "http://127.0.0.1:1/creds"},
    )
    env = base_env(tmp_path, ALIBABA_CLOUD_CONFIG_FILE=config)

    def source(name: str) -> t.Any:
        return resolve_credentials(CredentialOptions(profile=name), env).source
    assert source("sts").fetch().security_token == "tok"
    assert isinstance(source("arn"), AssumeRoleSource) and source("arn").sts.host() == "sts.cn-shanghai.aliyuncs.com"
    assert isinstance(source("ecs"), MetadataSource) and source("ecs").role_name == "r"
    chained = source("chain")
    assert isinstance(chained, AssumeRoleSource) and isinstance(chained.base.source, AssumeRoleSource)
    assert isinstance(source("oidc"), OidcSource)
    assert isinstance(source("ext"), ExternalSource)
    assert isinstance(source("uri"), UriSource)


def test_unknown_profile_names_the_profiles_that_exist(tmp_path) -> None:
    config = cli_config(tmp_path, dev={"mode": "AK", "access_key_id": "a", "access_key_secret": "s"},
                        prod={"mode": "AK", "access_key_id": "b", "access_key_secret": "s"})
    with pytest.raises(ConfigError, match=r"no profile 'stage'.* are dev, prod"):
        resolve_credentials(CredentialOptions(profile="stage"), base_env(tmp_path, ALIBABA_CLOUD_CONFIG_FILE=config))


def test_ini_file_default_section(tmp_path) -> None:
    ini = tmp_path / "credentials.ini"
    ini.write_text("[default]\ntype = access_key\naccess_key_id = ini-id\naccess_key_secret = s # comment\n")
    found = resolve_credentials(CredentialOptions(), base_env(tmp_path, ALIBABA_CLOUD_CREDENTIALS_FILE=str(ini)))
    assert found.current().access_key_id == "ini-id" and found.current().access_key_secret == "s"


def test_oidc_environment_and_assume_role_on_top(tmp_path) -> None:
    env = base_env(tmp_path, ALIBABA_CLOUD_ROLE_ARN=ROLE, ALIBABA_CLOUD_OIDC_PROVIDER_ARN="acs:ram::1:oidc-provider/p",
                   ALIBABA_CLOUD_OIDC_TOKEN_FILE=str(tmp_path / "token"))
    assert isinstance(resolve_credentials(CredentialOptions(), env).source, OidcSource)
    stacked = resolve_credentials(CredentialOptions("a", "s", assume_role=role_spec(ROLE, "ops")), env)
    assert isinstance(stacked.source, AssumeRoleSource) and stacked.source.base.current().access_key_id == "a"


def test_no_credentials_lists_every_source_tried_in_order(tmp_path) -> None:
    with pytest.raises(ConfigError) as raised:
        resolve_credentials(CredentialOptions(), base_env(tmp_path))
    text = str(raised.value)
    order = ["access_key and secret_key options", "ALIBABA_CLOUD_ACCESS_KEY_ID", "aliyun CLI", "[default] section",
             "OIDC", "ALIBABA_CLOUD_CREDENTIALS_URI", "ECS instance RAM role"]
    assert [text.index(item) for item in order] == sorted(text.index(item) for item in order)


def test_assume_role_options_are_checked_before_any_call() -> None:
    with pytest.raises(ConfigError, match="assume_role_duration must be between 900 and 43200"):
        role_spec(ROLE, duration=600)
    with pytest.raises(ConfigError, match="assume_role_arn must look like"):
        role_spec("deployer")
    with pytest.raises(ConfigError, match="assume_role_session_name needs assume_role_arn"):
        role_spec(None, "ops")
    with pytest.raises(ConfigError, match="at most 2048"):
        role_spec(ROLE, policy="x" * 2049)


def test_half_given_keys_are_an_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match="access_key and secret_key must be set together"):
        resolve_credentials(CredentialOptions("a"), base_env(tmp_path))


def test_an_empty_variable_counts_as_unset(tmp_path) -> None:
    """AWX sets a credential type's variable to "" when its field is empty; every one must read as unset."""
    empty = {name: "" for name in (
        "ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_SECURITY_TOKEN",
        "ALICLOUD_ACCESS_KEY", "ALICLOUD_SECRET_KEY", "ALIBABA_CLOUD_PROFILE", "ALICLOUD_PROFILE",
        "ALIBABA_CLOUD_ROLE_ARN", "ALIBABA_CLOUD_OIDC_PROVIDER_ARN", "ALIBABA_CLOUD_OIDC_TOKEN_FILE",
        "ALIBABA_CLOUD_CREDENTIALS_URI", "ALIBABA_CLOUD_STS_REGION", "ALIBABA_CLOUD_STS_ENDPOINT",
        "ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED", "ALIBABA_CLOUD_ROLE_SESSION_NAME")}
    config = cli_config(tmp_path, "dev", dev={"mode": "AK", "access_key_id": "profile-id", "access_key_secret": "s"})
    found = resolve_credentials(CredentialOptions(), {**base_env(tmp_path, ALIBABA_CLOUD_CONFIG_FILE=config), **empty})
    assert found.current().access_key_id == "profile-id"  # the empty keys and profile name were skipped
    with pytest.raises(ConfigError) as raised:
        resolve_credentials(CredentialOptions(), {**base_env(tmp_path), **empty})
    assert "No Alibaba Cloud credentials" in str(raised.value) and "not set" in str(raised.value)
