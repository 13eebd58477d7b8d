"""Shared constants and helpers of the emulator tests (imported by conftest and the test modules)."""
from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import CommonRequest

from emulator.testing import wait_for

KEY_ID, SECRET = "LTAI5tEmulatorTests", "emulator-test-secret"

FLEET: dict[str, Any] = {
    "access_keys": [{"id": KEY_ID, "secret": SECRET}],
    "regions": [{"id": "cn-hangzhou", "name": "China (Hangzhou)", "zones": ["cn-hangzhou-h", "cn-hangzhou-i"]},
                {"id": "cn-shanghai", "name": "China (Shanghai)", "zones": ["cn-shanghai-e"]}],
    "instances": [
        {"name": "web-1", "region": "cn-hangzhou", "tags": {"role": "web", "env": "test"}},
        {"name": "web-2", "region": "cn-hangzhou", "zone": "cn-hangzhou-i", "tags": {"role": "web"}},
        {"name": "db-1", "region": "cn-hangzhou", "tags": {"role": "db"}, "instance_type": "ecs.g7.xlarge"},
        {"name": "stopped-1", "region": "cn-hangzhou", "status": "Stopped"},
        {"name": "sh-1", "region": "cn-shanghai", "public_ip": "47.100.1.1", "tags": {"role": "web"}},
    ],
}


def wait_result(api: Callable[..., dict[str, Any]], invoke_id: str,
                region: str = "cn-hangzhou") -> list[dict[str, Any]]:
    """Poll DescribeInvocationResults until no record is Running (coarse), return the records. Polled every 0.05 s:
    most commands here end within milliseconds, and the suite waits for hundreds of them."""
    def ended() -> list[dict[str, Any]] | None:
        body = api("DescribeInvocationResults", RegionId=region, InvokeId=invoke_id, PageSize=50)
        records = body["Invocation"]["InvocationResults"]["InvocationResult"]
        final = all(r["InvokeRecordStatus"] not in ("Running", "Stopping") for r in records)
        return records if records and final else None
    return wait_for(ended, f"invocation {invoke_id} to finish", step=0.05)


def run(api: Callable[..., dict[str, Any]], instance_ids: list[str], script: str,
        **params: Any) -> list[dict[str, Any]]:
    """RunCommand + wait; returns per-instance records."""
    args = {f"InstanceId.{n}": i for n, i in enumerate(instance_ids, 1)}
    body = api("RunCommand", RegionId="cn-hangzhou", Type="RunShellScript", CommandContent=script,
               **args, **params)
    return wait_result(api, body["InvokeId"])


def output(record: dict[str, Any]) -> str:
    """Decoded Output of a record."""
    return base64.b64decode(record["Output"]).decode()


def sdk_call(client: AcsClient, endpoint: str, action: str, version: str = "2014-05-26", method: str = "POST",
             **params: Any) -> dict[str, Any]:
    """One call through the legacy SDK's CommonRequest (query parameters), parsed JSON back."""
    req = CommonRequest()
    req.set_domain(endpoint.removeprefix("http://"))
    req.set_version(version)
    req.set_action_name(action)
    req.set_method(method)
    for key, value in params.items():
        req.add_query_param(key, value)
    return json.loads(client.do_action_with_exception(req))
