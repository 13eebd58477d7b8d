"""Fleet file: access keys, regions and instances the emulator starts with (schema in docs/emulator.md)."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
INSTANCE_STATUSES = ("Pending", "Running", "Starting", "Stopping", "Stopped")
# instance_type → (cpu, memory MiB); unknown types get 2 vCPU / 4 GiB.
TYPE_SIZES = {"ecs.t6-c1m1.large": (2, 2048), "ecs.g7.large": (2, 8192), "ecs.c7.large": (2, 4096),
              "ecs.g7.xlarge": (4, 16384), "ecs.c7.xlarge": (4, 8192), "ecs.e-c1m2.large": (2, 4096)}
EPOCH = 1704067200  # 2024-01-01T00:00:00Z: deterministic creation times are offsets from here


class FleetError(ValueError):
    """The fleet file or a seeded instance is malformed; the message names the field."""


@dataclass
class Fleet:
    """Parsed fleet: what the server needs before the first request."""

    access_keys: dict[str, str]
    regions: list[dict[str, Any]]
    instances: list[dict[str, Any]] = field(default_factory=list)


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
    return Fleet(keys, regions, expand(data.get("instances") or [], regions))


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
    status = str(entry.get("status", "Running"))
    if status not in INSTANCE_STATUSES:
        raise FleetError(f"instance {name}: status must be one of {INSTANCE_STATUSES}")
    agent = str(entry.get("agent", "online"))
    if agent not in ("online", "offline"):
        raise FleetError(f"instance {name}: agent must be online|offline")
    itype = str(entry.get("instance_type", "ecs.g7.large"))
    cpu, memory = TYPE_SIZES.get(itype, (2, 4096))
    os_type = str(entry.get("os_type", "linux")).lower()
    region_seed = digest(region)
    return {
        "id": str(entry.get("id") or f"i-{token(seed, 20)}"),
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
        "creation_time": float(entry.get("creation_time_epoch", EPOCH + int.from_bytes(seed[:3]) % 86400 * 60)),
        "vpc_id": str(entry.get("vpc_id", f"vpc-{token(region_seed, 20)}")),
        "vswitch_id": str(entry.get("vswitch_id", f"vsw-{token(digest(region, zone), 20)}")),
        "private_ip": str(entry.get("private_ip", f"172.16.{seed[4]}.{seed[5] % 253 + 1}")),
        "public_ip": str(entry.get("public_ip", "")),
        "security_groups": [str(s) for s in entry.get("security_groups") or [f"sg-{token(region_seed[::-1], 20)}"]],
        "tags": {str(k): "" if v is None else str(v) for k, v in (entry.get("tags") or {}).items()},
        "agent_version": str(entry.get("agent_version", "2.2.3.857")),
    }
