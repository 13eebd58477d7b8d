"""Scale (10,000 instances seeded lazily) and restart (no invocation or result lost), with the legacy SDK."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aliyunsdkcore.client import AcsClient
from emulator_helpers import FLEET, KEY_ID, SECRET, output, sdk_call, wait_result

from emulator.testing import EmulatorProcess, wait_for

Api = Callable[..., dict[str, Any]]


def api_for(emu: EmulatorProcess) -> Api:
    """A legacy-SDK caller bound to this emulator's current port."""
    client = AcsClient(KEY_ID, SECRET, "cn-hangzhou", proxy={"http": "", "https": ""})

    def call(action: str, **params: Any) -> dict[str, Any]:
        return sdk_call(client, emu.endpoint, action, **params)
    return call


@pytest.mark.slow
def test_ten_thousand_instances(tmp_path: Path) -> None:
    fleet = {**FLEET, "instances": [{"name": "node", "region": "cn-shanghai", "count": 10000},
                                    {"name": "probe", "region": "cn-hangzhou"}]}
    with EmulatorProcess(fleet=fleet, state_dir=tmp_path, min_timeout=1) as emu:
        api = api_for(emu)
        seen: list[str] = []
        token = None
        while True:
            body = api("DescribeInstances", RegionId="cn-shanghai", MaxResults=100,
                       **({"NextToken": token} if token else {}))
            seen += [i["InstanceId"] for i in body["Instances"]["Instance"]]
            token = body["NextToken"]
            if not token:
                break
        assert len(seen) == len(set(seen)) == 10000 and body["TotalCount"] == 10000
        page = api("DescribeInstances", RegionId="cn-shanghai", PageNumber=37, PageSize=100)
        assert [i["InstanceId"] for i in page["Instances"]["Instance"]] == seen[3600:3700]
        probe = emu.instance_id("probe")
        [record] = wait_result(api, api("RunCommand", RegionId="cn-hangzhou", Type="RunShellScript",
                                        CommandContent="echo hi", **{"InstanceId.1": probe})["InvokeId"])
        assert output(record) == "hi\n"
        isolation = {i["id"]: i["isolation"] for i in emu.instances()}
        assert isolation[probe]["initialised"] or isolation[probe]["mode"] == "none"
        assert not any(v["initialised"] for k, v in isolation.items() if k != probe)
        roots = {p.name for p in (tmp_path / "instances").iterdir()} if (tmp_path / "instances").exists() else set()
        assert roots <= {probe}


def test_restart_mid_invocation_loses_nothing(tmp_path: Path) -> None:
    fleet = {**FLEET, "instances": [*FLEET["instances"], {"name": "late", "region": "cn-hangzhou",
                                                          "agent": "offline"}]}
    opts = {"min_timeout": 1, "delivery_timeout": 30, "progress_interval": 0.2}
    with EmulatorProcess(fleet=fleet, state_dir=tmp_path, **opts) as emu:
        api = api_for(emu)
        ids = {i["name"]: i["id"] for i in emu.instances()}
        done = api("RunCommand", RegionId="cn-hangzhou", Type="RunShellScript", CommandContent="echo finished",
                   **{"InstanceId.1": ids["web-1"]})["InvokeId"]
        wait_result(api, done)
        running = api("RunCommand", RegionId="cn-hangzhou", Type="RunShellScript",
                      CommandContent="echo partial; sleep 30", **{"InstanceId.1": ids["web-2"]})["InvokeId"]
        pending = api("RunCommand", RegionId="cn-hangzhou", Type="RunShellScript", CommandContent="echo later",
                      **{"InstanceId.1": ids["late"]})["InvokeId"]
        wait_for(lambda: output(api("DescribeInvocationResults", RegionId="cn-hangzhou", InvokeId=running)[
            "Invocation"]["InvocationResults"]["InvocationResult"][0]) == "partial\n", "the running command's output")
        emu.stop()
        emu.start()
        api = api_for(emu)
        listed = api("DescribeInvocations", RegionId="cn-hangzhou", PageSize=50)["Invocations"]["Invocation"]
        assert {done, running, pending} <= {i["InvokeId"] for i in listed}
        [first] = wait_result(api, done)
        assert (first["InvocationStatus"], output(first)) == ("Success", "finished\n")
        [cut] = wait_result(api, running)
        assert (cut["InvocationStatus"], cut["ErrorCode"], output(cut)) == ("Error", "ExecutionInterrupted",
                                                                            "partial\n")
        emu.set_instance(ids["late"], agent="online")
        [late] = wait_result(api, pending)
        assert (late["InvocationStatus"], output(late)) == ("Success", "later\n")
