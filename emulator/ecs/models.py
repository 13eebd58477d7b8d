"""Instances: persisted fleet records, state changes, and the DescribeInstances rendering."""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, overload

from ..clock import iso_minutes
from ..fleet import AGENT_STATES, INSTANCE_STATUSES, expand
from ..store import Store


class Instances:
    """Instance records in SQLite; columns for what is filtered on, JSON for the rest."""

    def __init__(self, store: Store, regions: list[dict[str, Any]]) -> None:
        self.store = store
        self.regions = regions
        self.listeners: list[Callable[[str, dict[str, Any]], None]] = []
        self._parsed: dict[str, tuple[str, dict[str, Any]]] = {}  # id → (data JSON, parsed): listing 10,000
        # instances per DescribeInstances page must not re-parse 10,000 JSON documents

    def seed(self, records: list[dict[str, Any]], replace: bool = True) -> list[str]:
        """Insert (or replace) normalised records; cheap: no process is started here. At start-up the
        persisted record wins (``replace=False``) so state set through the control API survives a restart."""
        rows = [(r["id"], r["region"], r["name"], r["status"], r["agent"], json.dumps(r)) for r in records]
        conflict = ("DO UPDATE SET region=excluded.region, name=excluded.name, status=excluded.status, "
                    "agent=excluded.agent, data=excluded.data") if replace else "DO NOTHING"
        self.store.executemany("INSERT INTO instances(id, region, name, status, agent, data) VALUES (?,?,?,?,?,?) "
                               f"ON CONFLICT(id) {conflict}", rows)
        return [r["id"] for r in records]

    def seed_entries(self, entries: list[dict[str, Any]]) -> list[str]:
        """Seed from fleet-file-shaped entries (POST /_emulator/instances)."""
        return self.seed(expand(entries, self.regions) if entries else [])

    def get(self, instance_id: str) -> dict[str, Any] | None:
        """Full record with live status/agent, or None."""
        row = self.store.one("SELECT * FROM instances WHERE id=?", (instance_id,))
        return self.record_of(row) if row else None

    def in_region(self, region: str) -> list[dict[str, Any]]:
        """All records of a region in seed order."""
        rows = self.store.query("SELECT * FROM instances WHERE region=? ORDER BY seq", (region,))
        return [self.record_of(r) for r in rows]

    def region_view(self, region: str) -> RegionView:
        """The region's records as a lazy sequence: an unfiltered DescribeInstances page reads only its rows."""
        return RegionView(self, region)

    def all(self) -> list[dict[str, Any]]:
        """Every record, with its persisted init pid (control API, restart cleanup)."""
        return [self.record_of(r) | {"init_pid": r["init_pid"], "init_start": r["init_start"]}
                for r in self.store.query("SELECT * FROM instances ORDER BY seq")]

    def update(self, instance_id: str, status: str | None = None, agent: str | None = None) -> dict[str, Any]:
        """Change power state or agent state; listeners (isolation) react to Stopped."""
        if status is not None and status not in INSTANCE_STATUSES:
            raise ValueError(f"status must be one of {INSTANCE_STATUSES}")
        if agent is not None and agent not in AGENT_STATES:
            raise ValueError(f"agent must be one of {AGENT_STATES}")
        if status:
            self.store.execute("UPDATE instances SET status=? WHERE id=?", (status, instance_id))
        if agent:
            self.store.execute("UPDATE instances SET agent=? WHERE id=?", (agent, instance_id))
        record = self.get(instance_id)
        if record is None:
            raise KeyError(instance_id)
        for listener in self.listeners:
            listener(instance_id, record)
        return record

    def transition(self, instance_id: str, expected: tuple[str, ...], status: str) -> dict[str, Any] | None:
        """Compare-and-set the power state (a timer must not overwrite a state changed meanwhile); listeners
        are told; None when the instance was not in ``expected``."""
        marks = ",".join("?" * len(expected))
        if not self.store.execute(f"UPDATE instances SET status=? WHERE id=? AND status IN ({marks})",
                                  (status, instance_id, *expected)):
            return None
        record = self.get(instance_id)
        assert record is not None
        for listener in self.listeners:
            listener(instance_id, record)
        return record

    def modify(self, instance_id: str, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Edit the JSON part of a record (tags, events, boot log, agent) atomically."""
        with self.store.transaction():
            row = self.store.one("SELECT * FROM instances WHERE id=?", (instance_id,))
            if row is None:
                raise KeyError(instance_id)
            record = self.record_of(row)
            change(record)
            self.store.execute("UPDATE instances SET agent=?, data=? WHERE id=?",
                               (record["agent"], json.dumps(record), instance_id))
        return record

    def record_of(self, row: dict[str, Any]) -> dict[str, Any]:
        """The record of a row: parsed JSON (cached per id while unchanged, copied) + live status/agent."""
        cached = self._parsed.get(row["id"])
        if cached is None or cached[0] != row["data"]:
            cached = (row["data"], json.loads(row["data"]))
            self._parsed[row["id"]] = cached
        return cached[1] | {"status": row["status"], "agent": row["agent"]}

    def set_init(self, instance_id: str, pid: int | None, started: str | None) -> None:
        """Persist the init pid so a later emulator process can clean it up."""
        self.store.execute("UPDATE instances SET init_pid=?, init_start=? WHERE id=?", (pid, started, instance_id))


class RegionView(Sequence[dict[str, Any]]):
    """len() is a COUNT, a slice is LIMIT/OFFSET (seed order); what ``paginate`` needs, nothing more."""

    def __init__(self, instances: Instances, region: str) -> None:
        self.instances = instances
        self.region = region

    def __len__(self) -> int:
        row = self.instances.store.one("SELECT COUNT(*) AS n FROM instances WHERE region=?", (self.region,))
        return int(row["n"]) if row else 0

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]:
        ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]:
        ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, int):
            return self[index:index + 1][0]
        start, stop, step = index.indices(len(self))
        if step != 1:
            raise ValueError("RegionView slices have step 1")
        rows = self.instances.store.query("SELECT * FROM instances WHERE region=? ORDER BY seq LIMIT ? OFFSET ?",
                                          (self.region, max(0, stop - start), start))
        return [self.instances.record_of(r) for r in rows]


def render(inst: dict[str, Any]) -> dict[str, Any]:
    """One ``Instance`` of DescribeInstances (docs/api-contract.md#instance-apis): plausible, deterministic values."""
    running = inst["status"] == "Running"
    return {
        "InstanceId": inst["id"], "InstanceName": inst["name"], "Description": inst["description"],
        "HostName": inst["hostname"], "Status": inst["status"], "RegionId": inst["region"], "ZoneId": inst["zone"],
        "InstanceType": inst["instance_type"], "InstanceTypeFamily": inst["instance_type"].rsplit(".", 1)[0],
        "Cpu": inst["cpu"], "Memory": inst["memory"], "OSType": inst["os_type"], "OSName": inst["os_name"],
        "OSNameEn": inst["os_name_en"], "ImageId": inst["image_id"],
        "CreationTime": iso_minutes(inst["creation_time"]), "StartTime": iso_minutes(inst["creation_time"] + 60),
        "ExpiredTime": "2099-12-31T15:59Z", "AutoReleaseTime": "", "InstanceChargeType": "PostPaid",
        "InternetChargeType": "PayByTraffic", "InternetMaxBandwidthIn": 100,
        "InternetMaxBandwidthOut": 5 if inst["public_ip"] else 0, "InstanceNetworkType": "vpc",
        "SerialNumber": f"{inst['id'][2:10]}-0000-4000-8000-{inst['id'][-12:]}", "ResourceGroupId": "",
        "KeyPairName": "", "DeletionProtection": False, "IoOptimized": True, "DeviceAvailable": True,
        "Recyclable": False, "GPUAmount": 0, "GPUSpec": "", "LocalStorageAmount": 0, "LocalStorageCapacity": 0,
        "SpotStrategy": "NoSpot", "SpotPriceLimit": 0.0, "SpotDuration": 0, "StoppedMode": "Not-applicable",
        "CreditSpecification": "", "DeploymentSetId": "", "ClusterId": "", "HpcClusterId": "", "VlanId": "",
        "SaleCycle": "", "EnableNVS": False,
        "Tags": {"Tag": [{"TagKey": k, "TagValue": v} for k, v in inst["tags"].items()]},
        "SecurityGroupIds": {"SecurityGroupId": list(inst["security_groups"])},
        "PublicIpAddress": {"IpAddress": [inst["public_ip"]] if inst["public_ip"] else []},
        "InnerIpAddress": {"IpAddress": []}, "RdmaIpAddress": {"IpAddress": []},
        "EipAddress": {"AllocationId": "", "IpAddress": "", "Bandwidth": 0, "InternetChargeType": "",
                       "IsSupportUnassociate": False},
        "VpcAttributes": {"VpcId": inst["vpc_id"], "VSwitchId": inst["vswitch_id"], "NatIpAddress": "",
                          "PrivateIpAddress": {"IpAddress": [inst["private_ip"]]}},
        "NetworkInterfaces": {"NetworkInterface": [{
            "NetworkInterfaceId": f"eni-{inst['id'][2:22]}", "Type": "Primary",
            "MacAddress": "00:16:3e:" + ":".join(inst["id"][i:i + 2] for i in (2, 4, 6)).replace("-", "0"),
            "PrimaryIpAddress": inst["private_ip"],
            "PrivateIpSets": {"PrivateIpSet": [{"PrivateIpAddress": inst["private_ip"], "Primary": True,
                                                "PrivateDnsName": ""}]},
            "Ipv6Sets": {"Ipv6Set": []}, "Ipv4PrefixSets": {"Ipv4PrefixSet": []},
            "Ipv6PrefixSets": {"Ipv6PrefixSet": []}}]},
        "OperationLocks": {"LockReason": []},
        "MetadataOptions": {"HttpEndpoint": "enabled", "HttpTokens": "optional", "HttpPutResponseHopLimit": 1},
        "CpuOptions": {"CoreCount": max(1, inst["cpu"] // 2), "ThreadsPerCore": 2 if inst["cpu"] > 1 else 1,
                       "Numa": "", "TopologyType": ""},
        "ImageOptions": {"LoginAsNonRoot": False, "CurrentOSNVMeSupported": True},
        "DedicatedHostAttribute": {"DedicatedHostId": "", "DedicatedHostName": "", "DedicatedHostClusterId": ""},
        "DedicatedInstanceAttribute": {"Affinity": "", "Tenancy": ""},
        "EcsCapacityReservationAttr": {"CapacityReservationId": "", "CapacityReservationPreference": ""},
        "HibernationOptions": {"Configured": False},
        "ClockOptions": {"PtpStatus": "disabled"},
        **({} if running else {"StoppedMode": "KeepCharging"}),
        **inst.get("attributes", {}),  # the fleet's own values of the fixed fields above (fleet.ATTRIBUTES)
    }
