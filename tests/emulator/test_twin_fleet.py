"""The pieces of ``python -m emulator twin`` that need no account: a DescribeInstances item → a fleet entry, the
fleet's ``attributes`` field, and bad arguments named before anything is read (the round trip through two real
emulators is tests/integration/test_twin.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from emulator import fleet, twin
from emulator.ecs.models import render

REGIONS = [{"id": "cn-hangzhou", "zones": ["cn-hangzhou-h"]}]
# An item as the real DescribeInstances gives it (field names and shapes of its documented response).
ITEM = {
    "InstanceId": "i-bp67acfmxazb4p****", "InstanceName": "web-1", "HostName": "iZbp67acfmxazb4p****Z",
    "Description": "", "RegionId": "cn-hangzhou", "ZoneId": "cn-hangzhou-h", "Status": "Running",
    "InstanceType": "ecs.g7.large", "Cpu": 2, "Memory": 8192, "OSType": "linux", "OSName": "CentOS 7.9 64位",
    "OSNameEn": "CentOS 7.9 64 bit", "ImageId": "centos_7_9_x64_20G_alibase_20240628.vhd",
    "CreationTime": "2023-03-02T09:21Z", "ResourceGroupId": "rg-aek2kkmhmhs****", "KeyPairName": "ops",
    "InstanceChargeType": "PrePaid", "ExpiredTime": "2027-03-02T16:00Z", "SerialNumber": "51d1353b-22bf-4567-a176-8b3e12e4****",
    "StoppedMode": "Not-applicable", "StartTime": "2024-06-01T10:00Z",
    "VpcAttributes": {"VpcId": "vpc-bp1", "VSwitchId": "vsw-bp1", "NatIpAddress": "",
                      "PrivateIpAddress": {"IpAddress": ["10.0.0.7"]}},
    "InnerIpAddress": {"IpAddress": []}, "PublicIpAddress": {"IpAddress": []},
    "EipAddress": {"IpAddress": "47.110.1.9", "AllocationId": "eip-1"},
    "SecurityGroupIds": {"SecurityGroupId": ["sg-1", "sg-2"]},
    "Tags": {"Tag": [{"TagKey": "role", "TagValue": "web"}, {"TagKey": "team"}]},
}


def test_an_item_becomes_an_entry_the_emulator_renders_the_same_way() -> None:
    entry = twin.fleet_entry("cn-hangzhou", ITEM, {"online": True, "version": "2.2.3.917"}, [])
    assert entry["id"] == ITEM["InstanceId"] and entry["public_ip"] == "47.110.1.9"  # the EIP
    assert entry["private_ip"] == "10.0.0.7" and entry["tags"] == {"role": "web", "team": ""}
    assert entry["agent"] == "online" and entry["agent_version"] == "2.2.3.917"
    twin.add_attributes([entry], [ITEM], REGIONS)
    # Only what the emulator would render otherwise; state-dependent fields are never carried.
    assert set(entry["attributes"]) == {"ResourceGroupId", "KeyPairName", "InstanceChargeType", "ExpiredTime",
                                        "SerialNumber"}
    (record,) = fleet.load({"access_keys": [twin.TWIN_KEY], "regions": REGIONS, "instances": [entry]}).instances
    shown = render(record)
    for key in ("InstanceId", "InstanceName", "HostName", "Status", "ZoneId", "InstanceType", "Cpu", "Memory",
                "OSName", "OSNameEn", "ImageId", "CreationTime", "ResourceGroupId", "KeyPairName",
                "InstanceChargeType", "ExpiredTime", "SerialNumber", "VpcAttributes", "SecurityGroupIds"):
        assert shown[key] == ITEM[key], key
    assert shown["Tags"] == {"Tag": [{"TagKey": "role", "TagValue": "web"}, {"TagKey": "team", "TagValue": ""}]}


def test_a_classic_network_address_is_kept_as_the_private_one() -> None:
    classic = {**ITEM, "VpcAttributes": {}, "InnerIpAddress": {"IpAddress": ["10.1.2.3"]}}
    assert twin.fleet_entry("cn-hangzhou", classic, None, [])["private_ip"] == "10.1.2.3"


@pytest.mark.parametrize("status, online, expected", [
    ("Running", True, "online"), ("Running", False, "offline"),
    # A stopped instance's agent cannot answer: installed, it comes online when the instance starts.
    ("Stopped", False, "online"),
])
def test_agent_state(status, online, expected) -> None:
    assert twin.agent_state(status, {"online": online, "version": ""}) == expected


def test_an_unreadable_agent_state_is_taken_as_online() -> None:
    assert twin.agent_state("Running", None) == "online"


@pytest.mark.parametrize("attributes, named", [
    ({"InstanceId": "i-other"}, "InstanceId"),
    ({"StoppedMode": "StopCharging"}, "StoppedMode"),
    ({"ResourceGroupId": ["rg-1"]}, "ResourceGroupId"),
    (["ResourceGroupId"], "attributes"),
])
def test_fleet_attributes_are_checked(attributes, named) -> None:
    with pytest.raises(fleet.FleetError, match=named):
        fleet.load({"access_keys": [twin.TWIN_KEY], "regions": REGIONS,
                    "instances": [{"name": "web-1", "attributes": attributes}]})


def test_creation_time_in_minutes_or_seconds() -> None:
    assert twin.epoch("2023-03-02T09:21Z") == 1677748860.0
    assert twin.epoch("2023-03-02T09:21:30Z") == 1677748890.0
    assert twin.epoch("") is None


def test_bad_arguments_are_named(tmp_path: Path) -> None:
    good = tmp_path / "prod.alicloud_ecs.yml"
    good.write_text("plugin: alicloud.ecs.instances\n")
    with pytest.raises(twin.TwinError, match="--inventory: .*alicloud_ecs.yml"):
        twin.check_arguments(str(tmp_path / "hosts.yml"), str(tmp_path / "fleet.yml"))
    with pytest.raises(twin.TwinError, match="--inventory: no such file"):
        twin.check_arguments(str(tmp_path / "gone.alicloud_ecs.yml"), str(tmp_path / "fleet.yml"))
    with pytest.raises(twin.TwinError, match="--output: directory"):
        twin.check_arguments(str(good), str(tmp_path / "missing" / "fleet.yml"))
    with pytest.raises(twin.TwinError, match="--output: must not be the inventory"):
        twin.check_arguments(str(good), str(good))
