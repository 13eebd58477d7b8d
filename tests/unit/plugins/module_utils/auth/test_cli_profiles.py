"""The aliyun CLI's config.json and the SDKs' credentials ini file read directly: every mode and type builds the
right source with the profile's own settings, and every mistake in a file is named with the file and profile."""

from __future__ import annotations

import json
import typing as t

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.auth.cli_profiles import (
    CLI_MODES, ProfileContext, cli_profile, cli_profile_names, ini_profile, read_cli_config, read_ini,
)
from ansible_collections.alicloud.ecs.plugins.module_utils.auth.credential_cache import CredentialCache
from ansible_collections.alicloud.ecs.plugins.module_utils.auth.credentials import StaticSource
from ansible_collections.alicloud.ecs.plugins.module_utils.auth.errors import ConfigError
from ansible_collections.alicloud.ecs.plugins.module_utils.auth.external_sources import ExternalSource, UriSource
from ansible_collections.alicloud.ecs.plugins.module_utils.auth.instance_metadata import MetadataSource
from ansible_collections.alicloud.ecs.plugins.module_utils.auth.role_sources import (
    DEFAULT_SESSION_NAME, AssumeRoleSource, OidcSource, StsEndpoint,
)

ROLE = "acs:ram::1234567890123456:role/deployer"
PATH = "/home/ops/.aliyun/config.json"


def context(sts: StsEndpoint | None = None, **env: str) -> ProfileContext:
    return ProfileContext(sts or StsEndpoint(), env, None)


def config(**profiles: dict[str, t.Any]) -> dict[str, t.Any]:
    return {"current": "", "profiles": [{"name": name, **profile} for name, profile in profiles.items()]}


def test_a_missing_cli_file_is_none_and_a_broken_one_names_the_file(tmp_path) -> None:
    assert read_cli_config(str(tmp_path / "absent.json")) is None
    broken = tmp_path / "config.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match=f"cannot read the aliyun CLI configuration {broken}: JSONDecodeError"):
        read_cli_config(str(broken))
    broken.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="is not a JSON object"):
        read_cli_config(str(broken))


def test_the_cli_file_is_read_as_written(tmp_path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config(dev={"mode": "AK"}, prod={"mode": "AK"})))
    assert cli_profile_names(read_cli_config(str(path))) == ["dev", "prod"]


def test_an_ak_profile_gives_its_keys_and_region() -> None:
    provider = cli_profile(config(dev={"mode": "AK", "access_key_id": "id", "access_key_secret": "s",
                                       "region_id": "cn-beijing"}), "dev", PATH, context())
    assert isinstance(provider.source, StaticSource) and not provider.renewable
    held = provider.current()
    assert (held.access_key_id, held.access_key_secret, held.security_token) == ("id", "s", None)
    assert provider.region == "cn-beijing"
    assert provider.description == f"profile 'dev' (AK) in {PATH}"


def test_a_field_left_empty_is_named_with_the_profile_and_file() -> None:
    with pytest.raises(ConfigError, match=rf"profile 'dev' \(StsToken\) in {PATH} has no sts_token"):
        cli_profile(config(dev={"mode": "StsToken", "access_key_id": "id", "access_key_secret": "s", "sts_token": ""}),
                    "dev", PATH, context())


def test_an_unknown_profile_lists_the_ones_there_are() -> None:
    with pytest.raises(ConfigError, match=r"no profile 'stage' in .*; its profiles are: dev, prod"):
        cli_profile(config(dev={}, prod={}), "stage", PATH, context())


def test_an_unsupported_mode_lists_every_supported_one() -> None:
    with pytest.raises(ConfigError) as raised:
        cli_profile(config(sso={"mode": "CloudSSO"}), "sso", PATH, context())
    assert "mode 'CloudSSO' is not supported" in str(raised.value)
    assert all(mode in str(raised.value) for mode in CLI_MODES)


def test_a_ram_role_arn_profile_assumes_its_role_with_its_keys_at_its_sts_region() -> None:
    provider = cli_profile(config(arn={"mode": "RamRoleArn", "access_key_id": "id", "access_key_secret": "s",
                                       "ram_role_arn": ROLE, "ram_session_name": "ops", "expired_seconds": 900,
                                       "external_id": "ext-1", "sts_region": "cn-shanghai",
                                       "region_id": "cn-hangzhou"}),
                           "arn", PATH, context())
    source = provider.source
    assert isinstance(source, AssumeRoleSource) and provider.renewable
    assert (source.role.role_arn, source.role.session_name, source.role.duration, source.role.external_id) == (
        ROLE, "ops", 900, "ext-1")
    assert source.sts.host() == "sts.cn-shanghai.aliyuncs.com"
    assert source.base.current().access_key_id == "id"
    assert provider.region == "cn-hangzhou"


def test_the_plays_sts_settings_win_over_a_profiles_sts_region() -> None:
    profiles = config(arn={"mode": "RamRoleArn", "access_key_id": "id", "access_key_secret": "s",
                           "ram_role_arn": ROLE, "sts_region": "cn-shanghai"})
    by_region = cli_profile(profiles, "arn", PATH, context(StsEndpoint(region="eu-central-1")))
    assert by_region.source.sts.host() == "sts.eu-central-1.aliyuncs.com"
    by_endpoint = cli_profile(profiles, "arn", PATH, context(StsEndpoint(endpoint="http://127.0.0.1:9000")))
    assert by_endpoint.source.sts.host() == "http://127.0.0.1:9000"
    vpc = cli_profile(profiles, "arn", PATH, context(StsEndpoint(vpc=True)))
    assert vpc.source.sts.host() == "sts-vpc.cn-shanghai.aliyuncs.com"


def test_a_chainable_profile_assumes_on_top_of_its_source_profile_and_a_loop_is_refused() -> None:
    profiles = config(
        keys={"mode": "AK", "access_key_id": "id", "access_key_secret": "s"},
        hop={"mode": "ChainableRamRoleArn", "source_profile": "keys", "ram_role_arn": ROLE},
        loop_a={"mode": "ChainableRamRoleArn", "source_profile": "loop_b", "ram_role_arn": ROLE},
        loop_b={"mode": "ChainableRamRoleArn", "source_profile": "loop_a", "ram_role_arn": ROLE},
    )
    hop = cli_profile(profiles, "hop", PATH, context()).source
    assert isinstance(hop, AssumeRoleSource) and hop.base.current().access_key_id == "id"
    assert hop.role.session_name == DEFAULT_SESSION_NAME and hop.role.duration == 3600
    with pytest.raises(ConfigError, match="source_profile 'loop_a' loops back to itself"):
        cli_profile(profiles, "loop_a", PATH, context())


def test_an_ecs_ram_role_profile_asks_the_configured_metadata_service_and_obeys_imdsv1_disabled() -> None:
    profiles = config(ecs={"mode": "EcsRamRole", "ram_role_name": "worker"})
    source = cli_profile(profiles, "ecs", PATH, context(ALIBABA_CLOUD_ECS_METADATA_ENDPOINT="http://127.0.0.1:8100",
                                                        ALIBABA_CLOUD_IMDSV1_DISABLED="true")).source
    assert isinstance(source, MetadataSource)
    assert (source.base, source.role_name, source.token_required) == ("http://127.0.0.1:8100", "worker", True)
    default = cli_profile(profiles, "ecs", PATH, context()).source
    assert default.base == "http://100.100.100.200" and not default.token_required


def test_oidc_external_and_uri_profiles_carry_their_settings() -> None:
    profiles = config(
        oidc={"mode": "OIDC", "ram_role_arn": ROLE, "oidc_provider_arn": "acs:ram::1:oidc-provider/p",
              "oidc_token_file": "/var/run/token", "role_session_name": "pod"},
        ext={"mode": "External", "process_command": "fetch-keys --json"},
        uri={"mode": "CredentialsURI", "credentials_uri": "http://127.0.0.1:7000/creds"},
    )
    oidc = cli_profile(profiles, "oidc", PATH, context()).source
    assert isinstance(oidc, OidcSource)
    assert (oidc.provider_arn, oidc.token_file, oidc.role.session_name) == (
        "acs:ram::1:oidc-provider/p", "/var/run/token", "pod")
    ext = cli_profile(profiles, "ext", PATH, context()).source
    assert isinstance(ext, ExternalSource) and ext.command == "fetch-keys --json"
    uri = cli_profile(profiles, "uri", PATH, context()).source
    assert isinstance(uri, UriSource) and uri.uri == "http://127.0.0.1:7000/creds"


def test_the_ini_file_strips_comments_and_a_missing_file_is_none(tmp_path) -> None:
    assert read_ini(str(tmp_path / "absent.ini")) is None
    path = tmp_path / "credentials.ini"
    path.write_text("[default]\ntype = access_key  # keys\naccess_key_id = id\n\n[ops]\ntype = sts\n")
    assert read_ini(str(path)) == {"default": {"type": "access_key", "access_key_id": "id"}, "ops": {"type": "sts"}}


def test_a_broken_ini_file_names_the_file(tmp_path) -> None:
    path = tmp_path / "credentials.ini"
    path.write_text("type = access_key\n")  # no section header
    with pytest.raises(ConfigError, match=f"cannot read the credentials file {path}: MissingSectionHeaderError"):
        read_ini(str(path))


def test_every_ini_type_builds_its_source() -> None:
    where = "/home/ops/.alibabacloud/credentials.ini"
    sts = ini_profile({"type": "sts", "access_key_id": "STS.id", "access_key_secret": "s", "security_token": "tok"},
                      "default", where, context())
    assert sts.current().security_token == "tok"
    arn = ini_profile({"type": "ram_role_arn", "access_key_id": "id", "access_key_secret": "s", "role_arn": ROLE,
                       "role_session_expiration": "1800", "policy": '{"Version": "1"}'}, "arn", where, context())
    assert isinstance(arn.source, AssumeRoleSource)
    assert (arn.source.role.duration, arn.source.role.policy) == (1800, '{"Version": "1"}')
    ecs = ini_profile({"type": "ecs_ram_role", "role_name": "worker"}, "ecs", where, context())
    assert isinstance(ecs.source, MetadataSource) and ecs.source.role_name == "worker"
    oidc = ini_profile({"type": "oidc_role_arn", "role_arn": ROLE, "oidc_provider_arn": "acs:ram::1:oidc-provider/p",
                        "oidc_token_file_path": "/t"}, "oidc", where, context())
    assert isinstance(oidc.source, OidcSource) and oidc.source.token_file == "/t"


def test_ini_mistakes_are_named_with_the_section_and_file() -> None:
    with pytest.raises(ConfigError, match=r"section \[default\] \(type sts\) of /f has no security_token"):
        ini_profile({"type": "sts", "access_key_id": "id", "access_key_secret": "s"}, "default", "/f", context())
    with pytest.raises(ConfigError, match=r"type 'bearer' is not supported \(access_key, sts, ram_role_arn"):
        ini_profile({"type": "bearer"}, "default", "/f", context())


def test_a_profile_provider_shares_through_the_contexts_cache(tmp_path) -> None:
    cache = CredentialCache(str(tmp_path / "cache"))
    provider = cli_profile(config(ext={"mode": "External", "process_command": "x"}), "ext", PATH,
                           ProfileContext(StsEndpoint(), {}, cache))
    assert provider.cache is cache
