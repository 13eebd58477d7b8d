"""STS temporary credentials: a key that signs only with its own, unexpired security token."""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.auth.credentials import AccessKeyCredential, StsTokenCredential
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import CommonRequest
from emulator_helpers import FLEET

from emulator.testing import EmulatorProcess

STS_FLEET: dict[str, Any] = {
    **FLEET,
    "access_keys": [
        {"id": "STS.valid", "secret": "sts-secret", "security_token": "token-1", "expires": "2099-01-01T00:00:00Z"},
        {"id": "STS.expired", "secret": "old-secret", "security_token": "token-0", "expires": "2020-01-01T00:00:00Z"},
        {"id": "LTAIpermanent", "secret": "permanent-secret"},
    ],
}


@pytest.fixture(scope="module")
def sts_emu() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(fleet=STS_FLEET) as proc:
        yield proc


def describe_regions(emu: EmulatorProcess, credential: Any) -> dict[str, Any]:
    client = AcsClient(region_id="cn-hangzhou", credential=credential, proxy={"http": "", "https": ""})
    request = CommonRequest(domain=emu.endpoint.removeprefix("http://"), version="2014-05-26",
                            action_name="DescribeRegions")
    request.set_method("POST")
    return json.loads(client.do_action_with_exception(request))


def code_of(emu: EmulatorProcess, credential: Any) -> str:
    with pytest.raises(ServerException) as raised:
        describe_regions(emu, credential)
    return raised.value.get_error_code()


def test_sts_key_with_its_token_is_accepted(sts_emu: EmulatorProcess) -> None:
    assert describe_regions(sts_emu, StsTokenCredential("STS.valid", "sts-secret", "token-1"))["Regions"]


def test_sts_key_without_or_with_another_token_is_refused(sts_emu: EmulatorProcess) -> None:
    assert code_of(sts_emu, AccessKeyCredential("STS.valid", "sts-secret")) == "InvalidSecurityToken.MismatchWithAccessKey"
    assert code_of(sts_emu, StsTokenCredential("STS.valid", "sts-secret", "token-x")) == \
        "InvalidSecurityToken.MismatchWithAccessKey"


def test_expired_token_is_refused(sts_emu: EmulatorProcess) -> None:
    assert code_of(sts_emu, StsTokenCredential("STS.expired", "old-secret", "token-0")) == "InvalidSecurityToken.Expired"


def test_permanent_key_takes_no_token(sts_emu: EmulatorProcess) -> None:
    assert describe_regions(sts_emu, AccessKeyCredential("LTAIpermanent", "permanent-secret"))["Regions"]
    assert code_of(sts_emu, StsTokenCredential("LTAIpermanent", "permanent-secret", "token-1")) == \
        "InvalidSecurityToken.MismatchWithAccessKey"


def test_tea_sdk_sends_the_token_in_its_v3_header(sts_emu: EmulatorProcess) -> None:
    ecs_client = pytest.importorskip("alibabacloud_ecs20140526.client")
    ecs_models = pytest.importorskip("alibabacloud_ecs20140526.models")
    openapi = pytest.importorskip("alibabacloud_tea_openapi.models")
    client = ecs_client.Client(openapi.Config(
        access_key_id="STS.valid", access_key_secret="sts-secret", security_token="token-1", protocol="http",
        endpoint=sts_emu.endpoint.removeprefix("http://"), region_id="cn-hangzhou"))
    assert client.describe_regions(ecs_models.DescribeRegionsRequest()).body.regions.region


def test_env_carries_the_token_of_an_sts_first_key(sts_emu: EmulatorProcess) -> None:
    assert sts_emu.env()["ALIBABA_CLOUD_SECURITY_TOKEN"] == "token-1"
