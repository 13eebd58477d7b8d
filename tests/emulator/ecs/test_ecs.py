"""ECS instance APIs: DescribeInstances shape, filters and pagination; DescribeCloudAssistantStatus."""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException

from emulator.testing import EmulatorProcess

Api = Callable[..., dict[str, Any]]


def names(body: dict[str, Any]) -> list[str]:
    return [i["InstanceName"] for i in body["Instances"]["Instance"]]


def test_instance_shape(api: Api, ids: dict[str, str]) -> None:
    body = api("DescribeInstances", RegionId="cn-shanghai")
    [inst] = body["Instances"]["Instance"]
    assert re.fullmatch(r"i-[a-z0-9]{20}", inst["InstanceId"]) and inst["InstanceId"] == ids["sh-1"]
    assert (inst["Status"], inst["RegionId"], inst["ZoneId"], inst["OSType"]) == (
        "Running", "cn-shanghai", "cn-shanghai-e", "linux")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\dZ", inst["CreationTime"])
    assert inst["PublicIpAddress"] == {"IpAddress": ["47.100.1.1"]}
    assert inst["VpcAttributes"]["PrivateIpAddress"]["IpAddress"][0].startswith("172.16.")
    assert inst["Tags"] == {"Tag": [{"TagKey": "role", "TagValue": "web"}]}
    assert inst["SecurityGroupIds"]["SecurityGroupId"][0].startswith("sg-")
    assert isinstance(inst["Cpu"], int) and isinstance(inst["Memory"], int) and inst["HostName"] == "sh-1"
    assert {"TotalCount", "PageNumber", "PageSize", "NextToken", "RequestId"} <= set(body)


def test_filters(api: Api, ids: dict[str, str]) -> None:
    assert names(api("DescribeInstances", RegionId="cn-hangzhou", InstanceName="web-*")) == ["web-1", "web-2"]
    assert names(api("DescribeInstances", RegionId="cn-hangzhou", Status="Stopped")) == ["stopped-1"]
    assert names(api("DescribeInstances", RegionId="cn-hangzhou", ZoneId="cn-hangzhou-i")) == ["web-2"]
    assert names(api("DescribeInstances", RegionId="cn-hangzhou", InstanceIds=json.dumps(
        [ids["db-1"], ids["sh-1"], "i-unknown"]))) == ["db-1"]
    tagged = api("DescribeInstances", RegionId="cn-hangzhou", **{"Tag.1.Key": "role", "Tag.1.Value": "web"})
    assert names(tagged) == ["web-1", "web-2"]
    assert names(api("DescribeInstances", RegionId="cn-hangzhou", **{"Tag.1.Key": "env"})) == ["web-1"]
    with pytest.raises(ServerException) as exc:
        api("DescribeInstances", RegionId="cn-hangzhou", InstanceIds="i-a,i-b")
    assert exc.value.get_http_status() == 400


def test_pagination_both_styles(api: Api) -> None:
    page = api("DescribeInstances", RegionId="cn-hangzhou", PageSize=3, PageNumber=2)
    assert (names(page), page["TotalCount"], page["PageNumber"]) == (["stopped-1"], 4, 2)
    first = api("DescribeInstances", RegionId="cn-hangzhou", MaxResults=1)  # clamped to 10
    assert len(first["Instances"]["Instance"]) == 4 and first["NextToken"] == ""
    with pytest.raises(ServerException) as exc:
        api("DescribeInstances", RegionId="cn-hangzhou", PageSize=101)
    assert exc.value.get_error_code() == "InvalidParam.PageSize"


def test_cloud_assistant_status(emu: EmulatorProcess, api: Api, ids: dict[str, str]) -> None:
    body = api("DescribeCloudAssistantStatus", RegionId="cn-hangzhou",
               **{"InstanceId.1": ids["web-1"], "InstanceId.2": ids["stopped-1"]})
    items = {i["InstanceId"]: i for i in body["InstanceCloudAssistantStatusSet"]["InstanceCloudAssistantStatus"]}
    assert items[ids["web-1"]]["CloudAssistantStatus"] == "true" and items[ids["web-1"]]["OSType"] == "Linux"
    assert items[ids["stopped-1"]]["CloudAssistantStatus"] == "false"
    emu.set_instance(ids["web-2"], agent="offline")
    try:
        body = api("DescribeCloudAssistantStatus", RegionId="cn-hangzhou", **{"InstanceId.1": ids["web-2"]})
        assert body["InstanceCloudAssistantStatusSet"]["InstanceCloudAssistantStatus"][0][
            "CloudAssistantStatus"] == "false"
    finally:
        emu.set_instance(ids["web-2"], agent="online")
    body = api("DescribeCloudAssistantStatus", RegionId="cn-hangzhou", PageSize=2)
    assert body["TotalCount"] == 4 and len(body["InstanceCloudAssistantStatusSet"][
        "InstanceCloudAssistantStatus"]) == 2


def test_seed_many_instances_is_cheap(emu: EmulatorProcess, api: Api) -> None:
    emu.control("POST", "instances", {"instances": [{"name": "bulk", "region": "cn-shanghai", "count": 2000}]})
    body = api("DescribeInstances", RegionId="cn-shanghai", InstanceName="bulk-19*", MaxResults=100)
    assert body["TotalCount"] == 111 and len(body["Instances"]["Instance"]) == 100 and body["NextToken"]
    rest = api("DescribeInstances", RegionId="cn-shanghai", InstanceName="bulk-19*", MaxResults=100,
               NextToken=body["NextToken"])
    assert len(rest["Instances"]["Instance"]) == 11 and rest["NextToken"] == ""
    assert not any(i["isolation"]["initialised"] for i in emu.instances() if i["name"].startswith("bulk-"))
