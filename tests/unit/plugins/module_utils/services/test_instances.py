"""Instance → hostvars mapping, hostname preferences and filter validation."""

from __future__ import annotations

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.api.errors import CloudError
from ansible_collections.alicloud.ecs.plugins.module_utils.services.instances import (
    filter_params, hostvars_for, is_permission_error, pick_hostname,
)

INSTANCE = {
    "InstanceId": "i-1", "InstanceName": "web-1", "HostName": "web-1.local", "RegionId": "cn-hangzhou",
    "ZoneId": "cn-hangzhou-h", "OSType": "linux", "VSwitchId": "vsw-1",
    "Tags": {"Tag": [{"TagKey": "role", "TagValue": "web"}, {"TagKey": "Name", "TagValue": "frontend"}]},
    "VpcAttributes": {"VpcId": "vpc-1", "VSwitchId": "vsw-1", "PrivateIpAddress": {"IpAddress": ["10.0.0.5"]}},
    "PublicIpAddress": {"IpAddress": []}, "EipAddress": {"IpAddress": "47.1.2.3"},
    "SecurityGroupIds": {"SecurityGroupId": ["sg-1"]},
}


def test_hostvars_are_snake_case_with_tags_and_flat_addresses() -> None:
    hostvars = hostvars_for(INSTANCE)
    assert hostvars["instance_id"] == "i-1" and hostvars["os_type"] == "linux" and hostvars["zone_id"] == "cn-hangzhou-h"
    assert hostvars["instance_tags"] == {"role": "web", "Name": "frontend"}
    assert hostvars["private_ip_address"] == "10.0.0.5"
    assert hostvars["public_ip_address"] == "47.1.2.3" and hostvars["eip_address"] == "47.1.2.3"
    assert (hostvars["vpc_id"], hostvars["vswitch_id"], hostvars["security_group_ids"]) == ("vpc-1", "vsw-1", ["sg-1"])


@pytest.mark.parametrize("preferences, expected", [
    (["tag:Missing", "instance_name"], "web-1"),
    (["tag:Name"], "frontend"),
    ([{"name": "instance_name", "prefix": "region_id", "separator": "-"}], "cn-hangzhou-web-1"),
    ([{"name": "instance_name", "prefix": "tag:Missing"}], "web-1"),
    (["public_ip_address", "instance_id"], "47.1.2.3"),
    (["hostname", "instance_id"], "web-1.local"),  # the HostName field, kept as the variable host_name
])
def test_hostname_preferences(preferences, expected) -> None:
    assert pick_hostname(hostvars_for(INSTANCE), preferences) == expected


@pytest.mark.parametrize("preferences", [["nonsense"], [{"prefix": "region_id"}], [{"name": "x"}]])
def test_bad_hostname_preferences_are_named(preferences) -> None:
    with pytest.raises(ValueError, match="hostnames"):
        pick_hostname({}, preferences)


def test_filters_map_to_api_parameters() -> None:
    params = filter_params({"status": "Running", "zone_id": "z", "tags": {"env": "prod"}, "instance_ids": ["i-1"]})
    assert params["Status"] == "Running" and params["ZoneId"] == "z"
    assert params["Tag"] == [{"Key": "env", "Value": "prod"}]
    assert str(params["InstanceIds"]) == '["i-1"]'


@pytest.mark.parametrize("filters, message", [
    ({"colour": "red"}, "unknown filter 'colour'"),
    ({"tags": {f"k{i}": "v" for i in range(21)}}, "at most 20"),
    ({"instance_ids": [f"i-{i}" for i in range(101)]}, "at most 100"),
])
def test_bad_filters_name_the_key_and_limit(filters, message) -> None:
    with pytest.raises(ValueError, match=message):
        filter_params(filters)


def test_permission_errors_are_told_apart() -> None:
    assert is_permission_error(CloudError("Forbidden.RAM", "no"))
    assert is_permission_error(CloudError("NoPermission", "no"))
    assert not is_permission_error(CloudError("InvalidParameter", "bad"))
