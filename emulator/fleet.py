"""Fleet file: access keys, regions and instances the emulator starts with (schema in docs/emulator.md)."""
from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .clock import parse_timestamp

ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
INSTANCE_STATUSES = ("Pending", "Running", "Starting", "Stopping", "Stopped")
# "installed": InstallCloudAssistant ran, the agent comes online at the next boot (docs/api-contract.md#installcloudassistant)
AGENT_STATES = ("online", "offline", "installed")
# instance_type → (cpu, memory MiB); unknown types get 2 vCPU / 4 GiB.
TYPE_SIZES = {"ecs.t6-c1m1.large": (2, 2048), "ecs.g7.large": (2, 8192), "ecs.c7.large": (2, 4096),
              "ecs.g7.xlarge": (4, 16384), "ecs.c7.xlarge": (4, 8192), "ecs.e-c1m2.large": (2, 4096)}
# ⚠ Numeric codes: only SystemMaintenance.Reboot=1, InstanceExpiration.Stop=34, Executed=0, Avoided=8 appear in
# the docs' examples; the others are our own stable numbers.
EVENT_TYPES = {"SystemMaintenance.Reboot": 1, "SystemMaintenance.Redeploy": 2, "SystemMaintenance.Stop": 3,
               "SystemFailure.Reboot": 65, "SystemFailure.Redeploy": 66, "SystemFailure.Stop": 67,
               "InstanceFailure.Reboot": 68, "InstanceExpiration.Stop": 34, "InstanceExpiration.Delete": 35,
               "AccountUnbalanced.Stop": 36, "AccountUnbalanced.Delete": 37}
CYCLE_STATUSES = {"Executed": 0, "Avoided": 8, "Scheduled": 24, "Executing": 32, "Canceled": 48, "Failed": 64,
                  "Inquiring": 72}
# DescribeInstances fields the emulator renders with fixed values, which a fleet instance may set in ``attributes``
# (a twin of a real account keeps its resource groups, key pairs, charge types...). Not the state-dependent ones.
ATTRIBUTES = ("InstanceChargeType", "InternetChargeType", "InternetMaxBandwidthIn", "InternetMaxBandwidthOut",
              "InstanceNetworkType", "SerialNumber", "ResourceGroupId", "KeyPairName", "DeletionProtection",
              "ExpiredTime", "AutoReleaseTime", "SpotStrategy", "SpotPriceLimit", "SpotDuration",
              "CreditSpecification", "DeploymentSetId", "ClusterId", "HpcClusterId", "VlanId", "SaleCycle",
              "GPUAmount", "GPUSpec", "LocalStorageAmount", "LocalStorageCapacity", "IoOptimized",
              "DeviceAvailable", "Recyclable", "EnableNVS")
EPOCH = 1704067200  # 2024-01-01T00:00:00Z: deterministic creation times are offsets from here


class FleetError(ValueError):
    """The fleet file or a seeded instance is malformed; the message names the field."""


@dataclass
class Fleet:
    """Parsed fleet: what the server needs before the first request."""

    access_keys: dict[str, str]
    regions: list[dict[str, Any]]
    instances: list[dict[str, Any]] = field(default_factory=list)
    # STS keys: key id → (security token, expiry epoch or None). Such keys sign only with their token.
    sts_tokens: dict[str, tuple[str, float | None]] = field(default_factory=dict)
    # RAM roles by lower-cased ARN, OIDC providers by lower-cased ARN, and the role the metadata service serves.
    roles: dict[str, dict[str, Any]] = field(default_factory=dict)
    oidc_providers: dict[str, dict[str, Any]] = field(default_factory=dict)
    instance_role: dict[str, Any] | None = None


def digest(*parts: str) -> bytes:
    """Stable hash of the parts: every generated value is a pure function of the fleet entry."""
    return hashlib.sha256("\x00".join(parts).encode()).digest()


def token(seed: bytes, length: int) -> str:
    """Lowercase alnum token from a hash (resource ids look like ``i-bp1i7gg30r52z2em1234``)."""
    return "".join(ALNUM[b % len(ALNUM)] for b in (seed * 2)[:length])


def load(source: str | Path | dict[str, Any]) -> Fleet:
    """Read a fleet from a YAML path or an already-parsed dict."""
    data = source if isinstance(source, dict) else yaml.safe_load(Path(source).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise FleetError("fleet must be a mapping")
    keys = {str(k["id"]): str(k["secret"]) for k in data.get("access_keys") or []}
    if not keys:
        raise FleetError("access_keys: at least one {id, secret} is required")
    regions = [normalize_region(r) for r in data.get("regions") or []]
    if not regions:
        raise FleetError("regions: at least one region is required")
    roles = {role["arn"].lower(): role for role in (normalize_role(entry) for entry in data.get("roles") or [])}
    providers = {str(entry["arn"]).lower(): {**entry, "tokens": [str(token) for token in entry.get("tokens") or []]}
                 for entry in data.get("oidc_providers") or []}
    instance_role = data.get("instance_role")
    return Fleet(keys, regions, expand(data.get("instances") or [], regions), sts_tokens(data), roles, providers,
                 normalize_role({"arn": f"acs:ram::1234567890123456:role/{instance_role['name']}", **instance_role})
                 if instance_role else None)


def normalize_role(entry: dict[str, Any]) -> dict[str, Any]:
    """A RAM role: ``arn`` required; ``trusted`` (who may assume it), ``max_session_duration`` (3600),
    ``external_id``, and the emulator-only ``token_lifetime`` (seconds the issued credentials live)."""
    arn = str(entry.get("arn") or "")
    if not re.match(r"^acs:ram::\d+:role/[\w.@+=,-]+$", arn):
        raise FleetError(f"role arn must look like acs:ram::<account>:role/<name>, got {arn!r}")
    duration = int(entry.get("max_session_duration", 3600))
    if not 3600 <= duration <= 43200:
        raise FleetError(f"role {arn}: max_session_duration must be 3600..43200")
    name = arn.rsplit("/", 1)[1]
    return {**entry, "arn": arn, "name": str(entry.get("name") or name), "max_session_duration": duration,
            "id": str(entry.get("id") or int.from_bytes(digest(arn)[:8], "big") % 10**18),
            "trusted": [str(item) for item in entry.get("trusted") or []]}


def sts_tokens(data: dict[str, Any]) -> dict[str, tuple[str, float | None]]:
    """Temporary (STS) keys of the fleet: ``{id, secret, security_token, expires}``, expires ISO or epoch."""
    tokens: dict[str, tuple[str, float | None]] = {}
    for entry in data.get("access_keys") or []:
        if entry.get("security_token"):
            expires = entry.get("expires")
            when = None if expires is None else (
                float(expires) if isinstance(expires, (int, float)) else parse_timestamp(str(expires)))
            tokens[str(entry["id"])] = (str(entry["security_token"]), when)
    return tokens


def normalize_region(entry: dict[str, Any]) -> dict[str, Any]:
    """A region with its zones; LocalName defaults to the id."""
    rid = str(entry["id"])
    zones = [str(z) for z in entry.get("zones") or [f"{rid}-a"]]
    return {"id": rid, "name": str(entry.get("name", rid)), "zones": zones}


def expand(entries: list[dict[str, Any]], regions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Normalise entries, expanding ``count: N`` into N instances named ``<name>-<n>`` (or ``{n}`` in the name)."""
    out: list[dict[str, Any]] = []
    for entry in entries:
        count = int(entry.get("count", 0) or 0)
        if count <= 0:
            out.append(normalize_instance(entry, regions))
            continue
        template = str(entry.get("name", "node"))
        for n in range(1, count + 1):
            name = template.replace("{n}", str(n)) if "{n}" in template else f"{template}-{n}"
            item = {k: v for k, v in entry.items() if k not in ("count", "id", "hostname")}
            out.append(normalize_instance({**item, "name": name}, regions))
    return out


def normalize_instance(entry: dict[str, Any], regions: list[dict[str, Any]]) -> dict[str, Any]:
    """Turn a short fleet entry into the full instance record DescribeInstances renders."""
    if not isinstance(entry, dict) or not entry.get("name"):
        raise FleetError(f"instance needs a name: {entry!r}")
    by_id = {r["id"]: r for r in regions}
    region = str(entry.get("region") or regions[0]["id"])
    if region not in by_id:
        raise FleetError(f"instance {entry['name']}: unknown region {region}")
    name = str(entry["name"])
    seed = digest(region, name)
    zone = str(entry.get("zone") or by_id[region]["zones"][0])
    status = one_of(entry.get("status", "Running"), INSTANCE_STATUSES, f"instance {name}: status")
    agent = one_of(entry.get("agent", "online"), AGENT_STATES, f"instance {name}: agent")
    itype = str(entry.get("instance_type", "ecs.g7.large"))
    cpu, memory = TYPE_SIZES.get(itype, (2, 4096))
    os_type = str(entry.get("os_type", "linux")).lower()
    region_seed = digest(region)
    instance_id = str(entry.get("id") or f"i-{token(seed, 20)}")
    return {
        "id": instance_id,
        "name": name,
        "hostname": str(entry.get("hostname") or re.sub(r"[^A-Za-z0-9.-]", "-", name)),
        "description": str(entry.get("description", "")),
        "region": region, "zone": zone, "status": status, "agent": agent,
        "instance_type": itype, "cpu": int(entry.get("cpu", cpu)), "memory": int(entry.get("memory", memory)),
        "os_type": os_type,
        "os_name": str(entry.get("os_name", "Alibaba Cloud Linux  3.2104 LTS 64位" if os_type == "linux"
                                 else "Windows Server  2022 数据中心版 64位中文版")),
        "os_name_en": str(entry.get("os_name_en", "Alibaba Cloud Linux  3.2104 LTS 64 bit" if os_type == "linux"
                                    else "Windows Server  2022 Data Center Edition 64bit Chinese Edition")),
        "image_id": str(entry.get("image_id", "aliyun_3_x64_20G_alibase_20240528.vhd" if os_type == "linux"
                                  else "win2022_21H2_x64_dtc_zh-cn_40G_alibase_20240515.vhd")),
        "creation_time": float(entry.get("creation_time_epoch", EPOCH + int.from_bytes(seed[:3], "big") % 86400 * 60)),
        "vpc_id": str(entry.get("vpc_id", f"vpc-{token(region_seed, 20)}")),
        "vswitch_id": str(entry.get("vswitch_id", f"vsw-{token(digest(region, zone), 20)}")),
        "private_ip": str(entry.get("private_ip", f"172.16.{seed[4]}.{seed[5] % 253 + 1}")),
        "public_ip": str(entry.get("public_ip", "")),
        "security_groups": [str(s) for s in entry.get("security_groups") or [f"sg-{token(region_seed[::-1], 20)}"]],
        "tags": {str(k): "" if v is None else str(v) for k, v in (entry.get("tags") or {}).items()},
        "agent_version": str(entry.get("agent_version", "2.2.3.857")),
        "events": [normalize_event(instance_id, e, n) for n, e in enumerate(entry.get("events") or [])],
        "attributes": attributes(name, entry.get("attributes") or {}),
    }


def attributes(name: str, given: Any) -> dict[str, Any]:
    """The ``attributes`` of an instance: scalar values of the DescribeInstances fields named in ATTRIBUTES."""
    if not isinstance(given, dict):
        raise FleetError(f"instance {name}: attributes must be a mapping of DescribeInstances fields")
    for key, value in given.items():
        if key not in ATTRIBUTES:
            raise FleetError(f"instance {name}: attributes: {key} is not one of {', '.join(ATTRIBUTES)}")
        if not isinstance(value, (str, int, float, bool)):
            raise FleetError(f"instance {name}: attributes: {key} must be a string, number or boolean")
    return dict(given)


def one_of(value: Any, allowed: Any, what: str) -> str:
    """``value`` as a string when it is one of ``allowed``; a FleetError naming the field otherwise."""
    text = str(value)
    if text not in allowed:
        raise FleetError(f"{what} must be one of {sorted(allowed)}")
    return text


def normalize_event(instance_id: str, entry: dict[str, Any], index: int) -> dict[str, Any]:
    """A fleet/control event: ``type`` required; ``status`` Scheduled; times ISO or epoch; id deterministic."""
    kind = one_of(entry.get("type", ""), EVENT_TYPES, "event type")
    status = one_of(entry.get("status", "Scheduled"), CYCLE_STATUSES, "event status")

    def when(key: str, default: float | None) -> float | None:
        value = entry.get(key)
        if value is None or value == "":
            return default
        return float(value) if isinstance(value, (int, float)) else parse_timestamp(str(value))
    publish = when("publish_time", time.time())
    assert publish is not None
    return {"id": str(entry.get("id") or f"e-{token(digest(instance_id, kind, str(index)), 20)}"), "type": kind,
            "status": status, "publish_time": publish, "not_before": when("not_before", publish + 86400),
            "finish_time": when("finish_time", None), "reason": str(entry.get("reason", "")),
            "impact_level": str(entry.get("impact_level", ""))}
