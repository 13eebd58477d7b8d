"""The emulator's STS and instance metadata service, driven by the official credentials library and SDK."""
from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.auth.credentials import AccessKeyCredential, StsTokenCredential
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import CommonRequest
from alibabacloud_credentials.exceptions import CredentialException
from alibabacloud_credentials.provider.oidc import OIDCRoleArnCredentialsProvider
from alibabacloud_credentials.provider.ram_role_arn import RamRoleArnCredentialsProvider
from emulator_helpers import FLEET, KEY_ID, SECRET

from emulator.testing import EmulatorProcess, wait_for

ROLE = "acs:ram::1234567890123456:role/deployer"
CHAINED = "acs:ram::1234567890123456:role/auditor"
SHORT = "acs:ram::1234567890123456:role/short"
PROVIDER = "acs:ram::1234567890123456:oidc-provider/ack"
ROLE_FLEET: dict[str, Any] = {
    **FLEET,
    "access_keys": [*FLEET["access_keys"], {"id": "LTAIoutsider", "secret": "outsider-secret"}],
    "roles": [{"arn": ROLE, "trusted": [KEY_ID, PROVIDER]},
              {"arn": CHAINED, "trusted": [ROLE], "external_id": "abc-123"},
              {"arn": SHORT, "trusted": [KEY_ID], "token_lifetime": 2}],
    "oidc_providers": [{"arn": PROVIDER, "tokens": ["oidc-token-1"]}],
    "instance_role": {"name": "controller-role", "token_lifetime": 4},
}


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(fleet=ROLE_FLEET) as proc:
        yield proc


def assume(emu: EmulatorProcess, role: str, key: str = KEY_ID, secret: str = SECRET, token: str | None = None,
           **extra: Any) -> Any:
    return RamRoleArnCredentialsProvider(
        access_key_id=key, access_key_secret=secret, security_token=token, role_arn=role,
        role_session_name="tests", sts_endpoint=emu.endpoint, **extra).get_credentials()


def call(emu: EmulatorProcess, credential: Any, action: str = "DescribeRegions",
         version: str = "2014-05-26") -> dict[str, Any]:
    client = AcsClient(region_id="cn-hangzhou", credential=credential, proxy={"http": "", "https": ""})
    request = CommonRequest(domain=emu.endpoint.removeprefix("http://"), version=version, action_name=action)
    request.set_method("POST")
    return json.loads(client.do_action_with_exception(request))


def sts_credential(got: Any) -> StsTokenCredential:
    return StsTokenCredential(got.get_access_key_id(), got.get_access_key_secret(), got.get_security_token())


def test_assumed_role_credentials_call_ecs_and_name_the_session(emu: EmulatorProcess) -> None:
    got = assume(emu, ROLE)
    assert got.get_access_key_id().startswith("STS.") and got.get_expiration() > time.time() + 3000
    assert call(emu, sts_credential(got))["Regions"]
    identity = call(emu, sts_credential(got), "GetCallerIdentity", "2015-04-01")
    assert identity["IdentityType"] == "AssumedRoleUser"
    assert identity["Arn"] == "acs:ram::1234567890123456:assumed-role/deployer/tests"
    assert call(emu, AccessKeyCredential(KEY_ID, SECRET), "GetCallerIdentity", "2015-04-01")["IdentityType"] == "RAMUser"


def test_untrusted_principal_and_unknown_role_are_refused_with_the_service_code(emu: EmulatorProcess) -> None:
    with pytest.raises(CredentialException, match='"Code": "NoPermission"'):
        assume(emu, ROLE, "LTAIoutsider", "outsider-secret")
    with pytest.raises(CredentialException, match='"Code": "EntityNotExist.Role"'):
        assume(emu, "acs:ram::1234567890123456:role/nobody")
    with pytest.raises(CredentialException, match="InvalidParameter.DurationSeconds"):
        assume(emu, ROLE, duration_seconds=7200)


def test_role_chaining_needs_the_trusted_role_and_its_external_id(emu: EmulatorProcess) -> None:
    first = assume(emu, ROLE)
    with pytest.raises(CredentialException, match="NoPermission"):
        assume(emu, CHAINED, first.get_access_key_id(), first.get_access_key_secret(), first.get_security_token())
    second = assume(emu, CHAINED, first.get_access_key_id(), first.get_access_key_secret(),
                    first.get_security_token(), external_id="abc-123")
    assert call(emu, sts_credential(second))["Regions"]


def test_short_lived_credentials_are_refused_once_expired(emu: EmulatorProcess) -> None:
    got = assume(emu, SHORT)
    assert call(emu, sts_credential(got))["Regions"]
    wait_for(lambda: time.time() > got.get_expiration() + 1, "the short-lived credentials to expire")
    with pytest.raises(ServerException) as raised:
        call(emu, sts_credential(got))
    assert raised.value.get_error_code() == "InvalidSecurityToken.Expired"


def test_oidc_token_from_file_assumes_a_role_that_trusts_the_provider(emu: EmulatorProcess, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("oidc-token-1")
    got = OIDCRoleArnCredentialsProvider(role_arn=ROLE, oidc_provider_arn=PROVIDER, oidc_token_file_path=str(token_file),
                                         role_session_name="pod", sts_endpoint=emu.endpoint).get_credentials()
    assert call(emu, sts_credential(got))["Regions"]
    token_file.write_text("forged")
    with pytest.raises(CredentialException, match="AuthenticationFail"):
        OIDCRoleArnCredentialsProvider(role_arn=ROLE, oidc_provider_arn=PROVIDER, oidc_token_file_path=str(token_file),
                                       role_session_name="pod", sts_endpoint=emu.endpoint).get_credentials()


def metadata(emu: EmulatorProcess, path: str, method: str = "GET", **headers: str) -> tuple[int, str]:
    request = urllib.request.Request(emu.endpoint + path, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""


def test_metadata_service_serves_rotating_role_credentials_behind_a_session_token(emu: EmulatorProcess) -> None:
    status, token = metadata(emu, "/latest/api/token", "PUT", **{"X-aliyun-ecs-metadata-token-ttl-seconds": "60"})
    assert status == 200 and token
    base = "/latest/meta-data/ram/security-credentials/"
    assert metadata(emu, base, **{"X-aliyun-ecs-metadata-token": token}) == (200, "controller-role")
    assert metadata(emu, base, **{"X-aliyun-ecs-metadata-token": "forged"})[0] == 401
    assert metadata(emu, base + "other-role")[0] == 404
    first = json.loads(metadata(emu, base + "controller-role", **{"X-aliyun-ecs-metadata-token": token})[1])
    assert first["Code"] == "Success"
    assert call(emu, StsTokenCredential(first["AccessKeyId"], first["AccessKeySecret"], first["SecurityToken"]))
    again = json.loads(metadata(emu, base + "controller-role")[1])
    assert again["AccessKeyId"] == first["AccessKeyId"]  # still fresh: the same set
    wait_for(lambda: json.loads(metadata(emu, base + "controller-role")[1])["AccessKeyId"] != first["AccessKeyId"],
             "the instance role's credentials to rotate")
    assert emu.counters()["Metadata.Credentials"] >= 3
