"""ECS actions: DescribeRegions, DescribeInstances, DescribeCloudAssistantStatus."""
from __future__ import annotations

import calendar
import fnmatch
import time
from typing import TYPE_CHECKING, Any

from ..clock import iso_seconds
from ..errors import ApiError, invalid
from ..fleet import INSTANCE_STATUSES
from ..pagination import paginate
from ..protocol import Params
from .models import render

if TYPE_CHECKING:
    from ..handler_context import Services

# DescribeInstances filter parameter → record field (exact match)
EXACT = {"ZoneId": "zone", "VpcId": "vpc_id", "VSwitchId": "vswitch_id", "InstanceType": "instance_type",
         "ImageId": "image_id"}
# Filters on attributes every emulated instance renders the same way: compared with the rendered value
RENDERED = ("InstanceTypeFamily", "InstanceChargeType", "InternetChargeType", "InstanceNetworkType",
            "ResourceGroupId", "KeyPairName", "HpcClusterId")
# Parameters that do not narrow DescribeInstances (unfiltered → paged in SQL)
PAGING = Params.COMMON | {"RegionId", "MaxResults", "NextToken", "PageNumber", "PageSize", "ClientToken",
                          "AdditionalAttributes", "AccessKeyId"}
ENUMS = {"InstanceNetworkType": (("vpc", "classic"), "InvalidNetworkType.NotFound"),
         "InstanceChargeType": (("PrePaid", "PostPaid"), "InvalidInstanceChargeType.NotFound"),
         "InternetChargeType": (("PayByBandwidth", "PayByTraffic"), "InvalidInternetChargeType.ValueNotSupported")}


def describe_regions(emu: Services, p: Params) -> dict[str, Any]:
    """DescribeRegions: the fleet's regions (RegionId not required)."""
    return {"Regions": {"Region": [{"RegionId": r["id"], "LocalName": r["name"],
                                    "RegionEndpoint": f"ecs.{r['id']}.aliyuncs.com", "Status": "available"}
                                   for r in emu.fleet.regions]}}


def json_list(p: Params, name: str, limit: int = 100) -> list[str] | None:
    """Parameters that are JSON arrays in a string (InstanceIds, PrivateIpAddresses …)."""
    malformed = invalid(name, f"Invalid{name}.Malformed")  # ⚠ code undocumented
    value = p.json(name, list, malformed)
    if value is None:
        return None
    if not all(isinstance(v, str) for v in value):
        raise malformed
    if len(value) > limit:
        raise invalid(name)
    return value


def describe_instances(emu: Services, p: Params) -> dict[str, Any]:
    """DescribeInstances with the filters a fleet can answer; unknown ids are simply absent."""
    region = emu.region(p)
    ids = json_list(p, "InstanceIds")
    private_ips = json_list(p, "PrivateIpAddresses")
    public_ips = json_list(p, "PublicIpAddresses")
    status = p.get("Status")
    if status is not None and status not in INSTANCE_STATUSES:
        raise ApiError("InvalidStatus.NotFound", "The specified Status is not found", 404)
    name = p.get("InstanceName")
    sg = p.get("SecurityGroupId")
    tags = [t for t in p.structs("Tag") if t.get("Key")]
    if len(tags) > 20:
        raise ApiError("InvalidTagCount", "The specified tags are beyond the permitted range.")
    for key, (allowed, code) in ENUMS.items():
        if p.get(key) is not None and p.get(key) not in allowed:
            raise ApiError(code, f"The specified {key} is not found.", 404)
    rendered = {k: p.get(k) for k in RENDERED if p.get(k)}
    io_optimized = p.get("IoOptimized")
    absent = [k for k in ("EipAddresses", "InnerIpAddresses", "LockReason") if json_or_value(p, k)]
    created = creation_window(p)
    if p.boolean("DryRun"):
        raise ApiError("DryRunOperation", "Request validation has been passed with DryRun flag set.")
    filtered = any(p.get(k) is not None for k in p.raw if k.split(".")[0] not in PAGING) or tags
    if not filtered:
        page, counters = paginate(emu.instances.region_view(region), p, max_size=100, clamp_max_results=True)
        return {"Instances": {"Instance": [render(i) for i in page]}, **counters}
    matched = []
    for inst in [] if absent else emu.instances.in_region(region):  # no instance has an EIP, inner IP or lock
        if ids is not None and inst["id"] not in ids:
            continue
        if status and inst["status"] != status:
            continue
        if name and not fnmatch.fnmatchcase(inst["name"], name.replace("[", "[[]").replace("?", "[?]")):
            continue
        if any(p.get(k) and inst[f] != p.get(k) for k, f in EXACT.items()):
            continue
        if sg and sg not in inst["security_groups"]:
            continue
        if private_ips is not None and inst["private_ip"] not in private_ips:
            continue
        if public_ips is not None and inst["public_ip"] not in public_ips:
            continue
        if any(t["Key"] not in inst["tags"] or ("Value" in t and inst["tags"][t["Key"]] != t["Value"])
               for t in tags):
            continue
        if not created[0] <= inst["creation_time"] <= created[1]:
            continue
        if rendered or io_optimized is not None:
            view = render(inst)
            if any(view[k] != v for k, v in rendered.items()):
                continue
            if io_optimized is not None and (io_optimized.lower() == "true") != view["IoOptimized"]:
                continue
        matched.append(inst)
    page, counters = paginate(matched, p, max_size=100, clamp_max_results=True)
    return {"Instances": {"Instance": [render(i) for i in page]}, **counters}


def json_or_value(p: Params, name: str) -> list[str] | str | None:
    """EipAddresses/InnerIpAddresses are JSON arrays, LockReason a plain value; empty → None."""
    if name == "LockReason":
        return p.get(name) or None
    return json_list(p, name) or None


def creation_window(p: Params) -> tuple[float, float]:
    """``Filter.N.Key`` CreationStartTime / CreationEndTime (``yyyy-MM-ddTHH:mmZ``) as an epoch range."""
    low, high = 0.0, float("inf")
    for item in p.structs("Filter"):
        key, value = item.get("Key"), item.get("Value") or ""
        if key not in ("CreationStartTime", "CreationEndTime"):
            continue
        try:
            when = float(calendar.timegm(time.strptime(value, "%Y-%m-%dT%H:%MZ")))
        except ValueError:
            raise invalid(f"Filter.{key}") from None
        low, high = (when, high) if key == "CreationStartTime" else (low, when)
    return low, high


def describe_cloud_assistant_status(emu: Services, p: Params) -> dict[str, Any]:
    """DescribeCloudAssistantStatus: heartbeat = agent online on a Running instance ("true"/"false" strings)."""
    region = emu.region(p)
    ids = list(dict.fromkeys(p.repeat("InstanceId")))
    if len(ids) > 100:
        raise ApiError("InstanceIds.ExceedLimit", "The count of instance ids exceeds the limit.", 403)
    os_type = (p.get("OSType") or "").lower()
    if ids:
        records = []
        for iid in ids:
            inst = emu.instances.get(iid)
            if inst is None or inst["region"] != region:
                raise ApiError("InvalidInstance.NotFound", "The specified instance does not exist.", 404)
            records.append(inst)
    else:
        records = emu.instances.in_region(region)
    records = [r for r in records if not os_type or r["os_type"] == os_type]
    if ids:
        p = Params({k: v for k, v in p.raw.items() if k not in ("MaxResults", "NextToken")})
    page, counters = paginate(records, p)
    stats = task_stats(emu, [r["id"] for r in page])
    now = time.time()
    items = []
    for inst in page:
        alive = inst["status"] == "Running" and inst["agent"] == "online"
        count, active, last = stats.get(inst["id"], (0, 0, None))
        items.append({"InstanceId": inst["id"], "CloudAssistantStatus": "true" if alive else "false",
                      "CloudAssistantVersion": inst["agent_version"] if alive else "",
                      "LastHeartbeatTime": iso_seconds(now) if alive else "", "LastInvokedTime": iso_seconds(last),
                      "ActiveTaskCount": active, "InvocationCount": count,
                      "OSType": inst["os_type"].capitalize(), "SupportSessionManager": alive})
    return {"InstanceCloudAssistantStatusSet": {"InstanceCloudAssistantStatus": items}, **counters}


def task_stats(emu: Services, ids: list[str]) -> dict[str, tuple[int, int, float | None]]:
    """instance → (invocation count, active task count, last invoked time)."""
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    rows = emu.store.query(
        "SELECT instance_id, COUNT(*) AS n, SUM(status IN ('Pending','Running','Stopping')) AS active, "
        f"MAX(created) AS last FROM results WHERE instance_id IN ({marks}) GROUP BY instance_id", ids)
    return {r["instance_id"]: (r["n"], r["active"] or 0, r["last"]) for r in rows}
