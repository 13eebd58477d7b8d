"""The modern Tea SDK (``alibabacloud-ecs20140526``) against the emulator: signature V3 (its default), the V1
fallback, request models with maps and lists, error surfacing."""
from __future__ import annotations

import base64
from typing import Any

import pytest
from emulator_helpers import KEY_ID, SECRET

from emulator.testing import EmulatorProcess, wait_for

ecs_client = pytest.importorskip("alibabacloud_ecs20140526.client")
ecs_models = pytest.importorskip("alibabacloud_ecs20140526.models")
openapi = pytest.importorskip("alibabacloud_tea_openapi.models")
tea_exceptions = pytest.importorskip("alibabacloud_tea_openapi.exceptions")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK's own datetime.utcnow()


def tea(emu: EmulatorProcess, secret: str = SECRET, **config: Any) -> Any:
    """A Tea client aimed at the emulator over plain HTTP."""
    return ecs_client.Client(openapi.Config(access_key_id=KEY_ID, access_key_secret=secret, protocol="http",
                                            endpoint=emu.endpoint.removeprefix("http://"), region_id="cn-hangzhou",
                                            **config))


def wait(client: Any, invoke_id: str) -> list[Any]:
    """Poll DescribeInvocationResults (Tea) until every record is final."""
    def ended() -> list[Any] | None:
        body = client.describe_invocation_results(ecs_models.DescribeInvocationResultsRequest(
            region_id="cn-hangzhou", invoke_id=invoke_id)).body
        records = body.invocation.invocation_results.invocation_result
        final = all(r.invoke_record_status not in ("Running", "Stopping") for r in records)
        return records if records and final else None
    return wait_for(ended, f"invocation {invoke_id} to finish")


@pytest.mark.parametrize("algorithm", ["v3", "v2"])
def test_run_command_with_parameters(emu: EmulatorProcess, ids: dict[str, str], algorithm: str) -> None:
    client = tea(emu) if algorithm == "v3" else tea(emu, signature_algorithm="v2")
    regions = client.describe_regions(ecs_models.DescribeRegionsRequest()).body.regions.region
    assert [r.region_id for r in regions] == ["cn-hangzhou", "cn-shanghai"]
    body = client.run_command(ecs_models.RunCommandRequest(
        region_id="cn-hangzhou", type="RunShellScript", command_content="echo '{{greeting}} & more'",
        instance_id=[ids["web-1"], ids["web-2"]], enable_parameter=True, parameters={"greeting": "hi there"})).body
    records = wait(client, body.invoke_id)
    assert [r.invocation_status for r in records] == ["Success", "Success"]
    assert {base64.b64decode(r.output).decode() for r in records} == {"hi there & more\n"}
    instances = client.describe_instances(ecs_models.DescribeInstancesRequest(
        region_id="cn-hangzhou", max_results=10)).body
    assert instances.total_count == 4 and instances.instances.instance[0].instance_id


def test_errors_and_wrong_secret(emu: EmulatorProcess) -> None:
    with pytest.raises(tea_exceptions.ClientException) as exc:
        tea(emu).describe_instances(ecs_models.DescribeInstancesRequest(region_id="cn-nowhere"))
    assert (exc.value.code, exc.value.status_code) == ("InvalidRegionId.NotFound", 404)
    with pytest.raises(tea_exceptions.ClientException) as exc:
        tea(emu, secret="wrong").describe_regions(ecs_models.DescribeRegionsRequest())
    assert exc.value.code == "SignatureDoesNotMatch" and "ACS3-HMAC-SHA256" in exc.value.message
    emu.faults(emu.error("DescribeRegions", times=1, code="ServiceUnavailable"))
    try:
        with pytest.raises(tea_exceptions.ServerException) as server_exc:
            tea(emu).describe_regions(ecs_models.DescribeRegionsRequest())
        assert (server_exc.value.code, server_exc.value.status_code) == ("ServiceUnavailable", 503)
    finally:
        emu.clear_faults()
