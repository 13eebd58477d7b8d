# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Instance listing and the instance → hostvars mapping shared by the inventory and info modules."""

from __future__ import annotations

import functools
import re
import typing as t

from ..api.client import CloudClient, Json
from ..api.errors import CloudError, is_error_code
from ..api.pagination import paginate

DESCRIBE_INSTANCES_PAGE = 100
ASSISTANT_STATUS_BATCH = 50
FULL_STATUS_BATCH = 100
# Server-side DescribeInstances filters, by the snake_case names users write.
FILTER_PARAMS = {
    "status": "Status", "zone_id": "ZoneId", "vpc_id": "VpcId", "vswitch_id": "VSwitchId",
    "instance_name": "InstanceName", "instance_type": "InstanceType", "instance_type_family": "InstanceTypeFamily",
    "image_id": "ImageId", "resource_group_id": "ResourceGroupId", "security_group_id": "SecurityGroupId",
    "instance_charge_type": "InstanceChargeType", "key_pair_name": "KeyPairName",
}
MAX_FILTER_TAGS = 20
MAX_FILTER_INSTANCE_IDS = 100
HOSTNAME_SOURCES = ("instance_name", "instance_id", "hostname", "private_ip_address", "public_ip_address",
                    "region_id", "zone_id")
HOSTVAR_OF_SOURCE = {"hostname": "host_name"}


def list_regions(client: CloudClient) -> list[str]:
    response = client.call("DescribeRegions")
    return [region["RegionId"] for region in response.get("Regions", {}).get("Region", [])]


def describe_instances(client: CloudClient, **filters: t.Any) -> list[dict[str, t.Any]]:
    """Every instance of the client's region matching the server-side ``filters``."""
    return list(paginate(client, "DescribeInstances",
                         lambda response: response.get("Instances", {}).get("Instance", []),
                         DESCRIBE_INSTANCES_PAGE, **filters))


def filter_params(filters: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """DescribeInstances parameters for user ``filters``; raises ValueError naming a bad key or limit.

    ``instance_ids`` (a list, at most 100) and ``tags`` (a dict, at most 20) join the scalar filters.
    """
    params: dict[str, t.Any] = {}
    for key, value in (filters or {}).items():
        if key == "tags":
            if not isinstance(value, dict) or len(value) > MAX_FILTER_TAGS:
                raise ValueError(f"filters.tags must be a dict of at most {MAX_FILTER_TAGS} tags")
            params["Tag"] = [{"Key": tag, "Value": tag_value} for tag, tag_value in value.items()]
        elif key == "instance_ids":
            if not isinstance(value, list) or len(value) > MAX_FILTER_INSTANCE_IDS:
                raise ValueError(f"filters.instance_ids must be a list of at most {MAX_FILTER_INSTANCE_IDS} ids")
            params["InstanceIds"] = Json(value)
        elif key in FILTER_PARAMS:
            params[FILTER_PARAMS[key]] = value
        else:
            raise ValueError(
                f"filters: unknown filter {key!r}; use one of {', '.join(sorted(FILTER_PARAMS))}, instance_ids, tags")
    return params


def assistant_status(client: CloudClient, instance_ids: t.Sequence[str]) -> dict[str, dict[str, t.Any]]:
    """Cloud Assistant agent state per instance: online (heartbeat in the last minutes) and version."""
    status: dict[str, dict[str, t.Any]] = {}
    for start in range(0, len(instance_ids), ASSISTANT_STATUS_BATCH):
        batch = list(instance_ids[start:start + ASSISTANT_STATUS_BATCH])
        response = client.call("DescribeCloudAssistantStatus", InstanceId=batch, PageSize=ASSISTANT_STATUS_BATCH)
        for item in response.get("InstanceCloudAssistantStatusSet", {}).get("InstanceCloudAssistantStatus", []):
            status[item["InstanceId"]] = {
                # The SDK model types it as a string; some documented examples show a boolean.
                "online": str(item.get("CloudAssistantStatus")).lower() == "true",
                "version": item.get("CloudAssistantVersion") or "",
            }
    return status


def pending_events(client: CloudClient, instance_ids: t.Sequence[str]) -> dict[str, list[dict[str, str]]]:
    """Scheduled (not yet finished) system events per instance, from DescribeInstancesFullStatus."""
    events: dict[str, list[dict[str, str]]] = {}
    for start in range(0, len(instance_ids), FULL_STATUS_BATCH):
        batch = list(instance_ids[start:start + FULL_STATUS_BATCH])
        response = client.call("DescribeInstancesFullStatus", InstanceId=batch, PageSize=FULL_STATUS_BATCH)
        for item in response.get("InstanceFullStatusSet", {}).get("InstanceFullStatusType", []):
            found = (item.get("ScheduledSystemEventSet") or {}).get("ScheduledSystemEventType") or []
            if found:
                events[item["InstanceId"]] = [{
                    "id": event.get("EventId", ""),
                    "type": (event.get("EventType") or {}).get("Name", ""),
                    "status": (event.get("EventCycleStatus") or {}).get("Name", ""),
                    "not_before": event.get("NotBefore", ""),
                    "publish_time": event.get("EventPublishTime", ""),
                    "reason": event.get("Reason", ""),
                } for event in found]
    return events


@functools.cache  # a few dozen API field names, converted once each instead of once per instance
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
        # Not "tags": that is a play keyword, and ansible warns about such variables on every run.
        "instance_tags": {tag["TagKey"]: tag.get("TagValue", "") for tag in (instance.get("Tags") or {}).get("Tag", [])},
        "private_ip_address": _first(vpc.get("PrivateIpAddress")) or _first(instance.get("InnerIpAddress")),
        "public_ip_address": _first(instance.get("PublicIpAddress")) or eip,
        "eip_address": eip,
        "vpc_id": vpc.get("VpcId", ""),
        "vswitch_id": vpc.get("VSwitchId", ""),
        "security_group_ids": (instance.get("SecurityGroupIds") or {}).get("SecurityGroupId", []),
    })
    return simple


def _hostname_value(hostvars: dict[str, t.Any], source: str) -> str:
    if source.startswith("tag:"):
        return str((hostvars.get("instance_tags") or {}).get(source[4:], ""))
    if source in HOSTNAME_SOURCES:
        # The preference is named as the other plugins name it; the field HostName becomes the variable host_name.
        return str(hostvars.get(HOSTVAR_OF_SOURCE.get(source, source)) or "")
    raise ValueError(
        f"hostnames: unknown preference {source!r}; use one of {', '.join(HOSTNAME_SOURCES)} or tag:KEY")


def pick_hostname(hostvars: dict[str, t.Any], preferences: t.Sequence[t.Any]) -> str:
    """The first non-empty name among ``preferences``; raises ValueError on an unknown one.

    A preference is a source (``instance_name``, ``tag:Name``...) or a dict ``{name, prefix,
    separator}`` that joins two sources, e.g. ``{name: instance_name, prefix: region_id}``.
    """
    names = all_hostnames(hostvars, preferences)
    return names[0] if names else ""


def all_hostnames(hostvars: dict[str, t.Any], preferences: t.Sequence[t.Any]) -> list[str]:
    """Every distinct non-empty name ``preferences`` give, in order (validating each one)."""
    names: list[str] = []
    for preference in preferences:
        if isinstance(preference, dict):
            if "name" not in preference:
                raise ValueError("hostnames: a dict entry needs 'name' (and may have 'prefix' and 'separator')")
            value = _hostname_value(hostvars, preference["name"])
            prefix = _hostname_value(hostvars, preference["prefix"]) if preference.get("prefix") else ""
            if value and prefix:
                value = f"{prefix}{preference.get('separator', '_')}{value}"
        else:
            value = _hostname_value(hostvars, str(preference))
        if value and value not in names:
            names.append(value)
    return names


def is_permission_error(error: CloudError) -> bool:
    """A refusal to list (RAM policy, disabled region), as opposed to a broken request."""
    return is_error_code(error, "Forbidden", "NoPermission", "Unauthorized", "InvalidOperation.NotAuthorized")
