# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Instance listing and the instance → hostvars mapping shared by the inventory and info modules."""

from __future__ import annotations

import re
import typing as t

from .client import CloudClient
from .pagination import paginate

DESCRIBE_INSTANCES_PAGE = 100
HOSTNAME_SOURCES = ("instance_name", "instance_id", "hostname", "private_ip_address", "public_ip_address")


def list_regions(client: CloudClient) -> list[str]:
    response = client.call("DescribeRegions")
    return [region["RegionId"] for region in response.get("Regions", {}).get("Region", [])]


def describe_instances(client: CloudClient, **filters: t.Any) -> list[dict[str, t.Any]]:
    """Every instance of the client's region matching the server-side ``filters``."""
    return list(paginate(client, "DescribeInstances",
                         lambda response: response.get("Instances", {}).get("Instance", []),
                         DESCRIBE_INSTANCES_PAGE, **filters))


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])|(?<=[A-Z])([A-Z][a-z])", r"_\1\2", name).lower()


def _first(addresses: t.Any) -> str:
    values = (addresses or {}).get("IpAddress") or []
    return values[0] if values else ""


def hostvars_for(instance: dict[str, t.Any]) -> dict[str, t.Any]:
    """Snake_case fields of one DescribeInstances item, with tags as a dict and flat addresses."""
    simple = {_snake(key): value for key, value in instance.items() if not isinstance(value, (dict, list))}
    vpc = instance.get("VpcAttributes") or {}
    eip = (instance.get("EipAddress") or {}).get("IpAddress") or ""
    simple.update({
        "tags": {tag["TagKey"]: tag.get("TagValue", "") for tag in (instance.get("Tags") or {}).get("Tag", [])},
        "private_ip_address": _first(vpc.get("PrivateIpAddress")) or _first(instance.get("InnerIpAddress")),
        "public_ip_address": _first(instance.get("PublicIpAddress")) or eip,
        "eip_address": eip,
        "vpc_id": vpc.get("VpcId", ""),
        "vswitch_id": vpc.get("VSwitchId", ""),
        "security_group_ids": (instance.get("SecurityGroupIds") or {}).get("SecurityGroupId", []),
    })
    return simple


def pick_hostname(hostvars: dict[str, t.Any], preferences: t.Sequence[str]) -> str:
    """The first non-empty value among ``preferences``; raises ValueError on an unknown preference."""
    for preference in preferences:
        if preference.startswith("tag:"):
            value = (hostvars.get("tags") or {}).get(preference[4:], "")
        elif preference in HOSTNAME_SOURCES:
            value = hostvars.get(preference, "")
        else:
            raise ValueError(
                f"hostnames: unknown preference {preference!r}; use one of "
                f"{', '.join(HOSTNAME_SOURCES)} or tag:KEY")
        if value:
            return str(value)
    return ""
