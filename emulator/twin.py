"""``python -m emulator twin -i my.alicloud_ecs.yml -o fleet.yml``: a fleet shaped like one's own account.

A rehearsal is only worth something when the emulator holds the instances the playbook will meet for real:
the same names, tags, regions, zones, types, OS, states and agent states. So the instances are read by the
collection's own inventory plugin, with the inventory file and the credentials a real run would use (its
regions, filters, include/exclude sets), and written as a fleet file for ``python -m emulator run --fleet``.
Instance IDs, addresses and creation times are kept too: the fleet format carries them, and keeping them
means ``instance_ids:`` in a playbook, ``hostnames: [instance_id]`` and keyed groups on addresses still match.

Nothing secret is written: the fleet's access key is the emulator's own, and DescribeInstances never returns
user data or passwords. Which host variables the twin cannot reproduce is listed in docs/rehearsal.md.
"""
from __future__ import annotations

import argparse
import calendar
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from . import fleet as fleet_mod

PLUGIN = "alicloud.ecs.instances"
INVENTORY_SUFFIXES = ("alicloud_ecs.yml", "alicloud_ecs.yaml")
# The emulator's own key: the real account's keys never leave the machine they are configured on.
TWIN_KEY = {"id": "LTAI5tEmulatorTwin", "secret": "emulator-twin-secret"}
HEADER = ("# Twin of the instances {source} listed on {when} (python -m emulator twin).\n"
          "# Rehearse with: python -m emulator run --fleet {fleet} -- ansible-playbook -i {source} PLAYBOOK\n"
          "# Schema: docs/emulator.md; what is kept and what is not: docs/rehearsal.md.\n")
EVENT_KEYS = ("id", "type", "status", "publish_time", "not_before", "reason")  # as the inventory's pending_events
# Inventory options that would take a rehearsal past the emulator's environment (its key and endpoint).
# (A profile named in the file is fine: the environment's keys come before it in the credential chain.)
PINNED_OPTIONS = {
    "endpoint": "a rehearsal with this file would reach that endpoint, not the emulator",
    "access_key": "the emulator knows only its own key, so it would refuse the rehearsal",
    "assume_role_arn": "the role would be assumed at the real STS with the emulator's key, which STS refuses",
}


class TwinError(Exception):
    """Bad input or an inventory source that cannot be read; the message names the parameter or the cause."""


@dataclass
class Source:
    """What the inventory plugin listed, and with which settings (to ask for agent states and events)."""

    listing: list[dict[str, Any]]
    settings: Any
    regions: list[str]
    pinned: dict[str, str]


def check_arguments(inventory: str, output: str) -> tuple[Path, Path]:
    """Both paths, validated before the inventory plugin makes any API call."""
    source = Path(inventory)
    if not source.name.endswith(INVENTORY_SUFFIXES):
        raise TwinError(f"--inventory: {inventory!r} must be an {PLUGIN} inventory file named *alicloud_ecs.yml "
                        "or *alicloud_ecs.yaml")
    if not source.is_file():
        raise TwinError(f"--inventory: no such file: {inventory}")
    target = Path(output)
    if not target.parent.is_dir():
        raise TwinError(f"--output: directory {str(target.parent)!r} does not exist")
    if target.resolve() == source.resolve():
        raise TwinError("--output: must not be the inventory file itself")
    return source, target


def load_plugin() -> Any:
    """The collection's inventory plugin, found the way ansible-inventory finds it (ANSIBLE_COLLECTIONS_PATH,
    ansible.cfg). ansible is imported here only: the emulator itself does not need it."""
    try:
        from ansible.plugins.loader import init_plugin_loader, inventory_loader
    except ImportError as error:
        raise TwinError(f"twin needs ansible-core in this Python ({sys.executable}): {error}") from None
    init_plugin_loader()
    plugin = inventory_loader.get(PLUGIN)
    if plugin is None:
        raise TwinError(f"the inventory plugin {PLUGIN} is not installed where ansible looks for collections "
                        "(set ANSIBLE_COLLECTIONS_PATH)")
    return plugin


def read_source(path: Path) -> Source:
    """Run the plugin on the inventory file, fresh (no cache), and keep the listing it fetched: the raw
    DescribeInstances items of every region and filter set, before compose, prefixes or host naming.

    The listing is taken from the plugin's ``_fetch`` (wrapped on this one instance), so every option that
    narrows it is applied by the same code as in a real run; tests/integration/test_twin.py fails if it changes."""
    from ansible.errors import AnsibleError
    from ansible.inventory.data import InventoryData
    from ansible.parsing.dataloader import DataLoader

    plugin = load_plugin()
    fetched: dict[str, Any] = {}
    fetch = plugin._fetch

    def recording_fetch(settings: Any, include: Any, exclude: Any) -> list[dict[str, Any]]:
        fetched["settings"] = settings
        fetched["listing"] = fetch(settings, include, exclude)
        return fetched["listing"]

    plugin._fetch = recording_fetch
    loader = DataLoader()
    try:
        plugin.parse(InventoryData(), loader, str(path), cache=False)
        written = loader.load_from_file(str(path)) or {}
    except AnsibleError as error:
        raise TwinError(str(error)) from None
    if "listing" not in fetched:
        raise TwinError(f"--inventory: {path} listed nothing (is its plugin {PLUGIN}?)")
    if not fetched["listing"] and not plugin.get_option("regions"):
        raise TwinError(f"--inventory: {path} lists no instance and names no region: there is nothing to twin")
    pinned = {name: why for name, why in PINNED_OPTIONS.items() if written.get(name)}
    return Source(fetched["listing"], fetched["settings"], [str(r) for r in plugin.get_option("regions") or []],
                  pinned)


def instance_ids_by_region(listing: list[dict[str, Any]]) -> dict[str, list[str]]:
    by_region: dict[str, list[str]] = {}
    for item in listing:
        by_region.setdefault(item["region"], []).append(item["instance"]["InstanceId"])
    return by_region


def agents_and_events(source: Source) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, str]]], list[str]]:
    """Agent state and pending events of every listed instance, asked even when the inventory does not ask
    (a twin of an inventory without ``cloud_assistant_only`` still needs to know which agents are offline).
    A refusal (a RAM policy for the inventory only) is a warning: agents are then taken as online."""
    from ansible_collections.alicloud.ecs.plugins.module_utils.api.client import CloudClient
    from ansible_collections.alicloud.ecs.plugins.module_utils.api.errors import CloudError
    from ansible_collections.alicloud.ecs.plugins.module_utils.services.instances import (
        assistant_status, pending_events)

    agents: dict[str, dict[str, Any]] = {}
    events: dict[str, list[dict[str, str]]] = {}
    warnings: list[str] = []
    client = CloudClient(source.settings, region=source.settings.region or "")
    for region, ids in instance_ids_by_region(source.listing).items():
        regional = client.for_region(region)
        for what, call, into in (("agent states", assistant_status, agents), ("system events", pending_events, events)):
            try:
                into.update(call(regional, ids))
            except CloudError as error:
                warnings.append(f"region {region}: {what} not readable ({error}); "
                                + ("agents are taken as online" if into is agents else "no events exported"))
    return agents, events, warnings


def epoch(value: str) -> float | None:
    """DescribeInstances' ``2017-12-10T04:04Z`` (or with seconds) as epoch seconds; None when unreadable."""
    for fmt in ("%Y-%m-%dT%H:%MZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return float(calendar.timegm(time.strptime(value, fmt)))
        except ValueError:
            continue
    return None


def _first(addresses: Any) -> str:
    values = (addresses or {}).get("IpAddress") or []
    return str(values[0]) if values else ""


def agent_state(status: str, agent: dict[str, Any] | None) -> str:
    """``offline`` only when seen offline on a running instance. A stopped instance's agent cannot answer, so it
    is taken as installed and coming online at boot, as on the public images (which ship it); an unreadable
    state is taken as online too (the warning says so)."""
    return "offline" if status == "Running" and agent is not None and not agent["online"] else "online"


def fleet_entry(region: str, inst: dict[str, Any], agent: dict[str, Any] | None,
                events: list[dict[str, str]]) -> dict[str, Any]:
    """One fleet instance from a DescribeInstances item: only what the fleet format carries."""
    vpc = inst.get("VpcAttributes") or {}
    entry: dict[str, Any] = {
        "id": inst["InstanceId"], "name": inst.get("InstanceName") or inst["InstanceId"],
        "hostname": inst.get("HostName") or "", "description": inst.get("Description") or "",
        "region": region, "zone": inst.get("ZoneId") or "", "status": inst.get("Status") or "Running",
        "agent": agent_state(inst.get("Status") or "Running", agent),
        "instance_type": inst.get("InstanceType") or "", "cpu": int(inst.get("Cpu") or 0),
        "memory": int(inst.get("Memory") or 0), "os_type": str(inst.get("OSType") or "linux").lower(),
        "os_name": inst.get("OSName") or "", "os_name_en": inst.get("OSNameEn") or "",
        "image_id": inst.get("ImageId") or "", "vpc_id": vpc.get("VpcId") or "",
        "vswitch_id": vpc.get("VSwitchId") or "",
        "private_ip": _first(vpc.get("PrivateIpAddress")) or _first(inst.get("InnerIpAddress")),
        "public_ip": _first(inst.get("PublicIpAddress")) or (inst.get("EipAddress") or {}).get("IpAddress") or "",
        "security_groups": list((inst.get("SecurityGroupIds") or {}).get("SecurityGroupId") or []),
        "tags": {tag["TagKey"]: tag.get("TagValue", "") for tag in (inst.get("Tags") or {}).get("Tag", [])},
    }
    created = epoch(str(inst.get("CreationTime") or ""))
    if created is not None:
        entry["creation_time_epoch"] = int(created)
    if agent and agent.get("version"):
        entry["agent_version"] = agent["version"]
    if events:
        entry["events"] = [{key: event[key] for key in EVENT_KEYS if event.get(key)} for event in events]
    # A value left out means "the emulator's default"; an empty description is a value like any other.
    return {key: value for key, value in entry.items() if value not in ("", [], None) or key == "description"}


def fleet_document(source: Source, agents: dict[str, dict[str, Any]],
                   events: dict[str, list[dict[str, str]]]) -> dict[str, Any]:
    """The fleet: the emulator's key, every configured or listed region (with the zones seen), the instances."""
    zones: dict[str, list[str]] = {region: [] for region in source.regions}
    instances = []
    for item in source.listing:
        inst, region = item["instance"], item["region"]
        zones.setdefault(region, [])
        if inst.get("ZoneId") and inst["ZoneId"] not in zones[region]:
            zones[region].append(inst["ZoneId"])
        instances.append(fleet_entry(region, inst, agents.get(inst["InstanceId"]) or item.get("agent"),
                                     events.get(inst["InstanceId"]) or item.get("events") or []))
    regions = [{"id": region, **({"zones": found} if found else {})} for region, found in zones.items()]
    add_attributes(instances, [item["instance"] for item in source.listing], regions)
    return {"access_keys": [dict(TWIN_KEY)], "regions": regions, "instances": instances}


def add_attributes(entries: list[dict[str, Any]], listed: list[dict[str, Any]], regions: list[dict[str, Any]]) -> None:
    """Give each entry the ``attributes`` (resource group, key pair, charge types...) where the account's value
    is not what the emulator would render anyway, so the fleet file stays short and filters on them still match."""
    from .ecs.models import render

    known = [fleet_mod.normalize_region(region) for region in regions]
    for entry, inst in zip(entries, listed):
        default = render(fleet_mod.normalize_instance(entry, known))
        differ = {key: inst[key] for key in fleet_mod.ATTRIBUTES
                  if isinstance(inst.get(key), (str, int, float, bool)) and inst[key] != default[key]}
        if differ:
            entry["attributes"] = differ


def write(document: dict[str, Any], source: Path, target: Path) -> None:
    """Validate the document as the emulator will read it, then write it with a header saying how to use it."""
    try:
        fleet_mod.load(document)
    except (fleet_mod.FleetError, KeyError, ValueError) as error:
        raise TwinError(f"the listed instances do not make a valid fleet: {error}") from None
    header = HEADER.format(source=source, fleet=target, when=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    body = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=120)
    # Owner-only, like an inventory cache: addresses, tags and descriptions of the account are in it.
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(header + body)


def export(inventory: str, output: str) -> list[str]:
    """Write the twin of ``inventory`` to ``output``; returns the warnings for the user."""
    source_path, target = check_arguments(inventory, output)
    source = read_source(source_path)
    agents, events, warnings = agents_and_events(source)
    try:
        document = fleet_document(source, agents, events)
    except (fleet_mod.FleetError, KeyError, ValueError) as error:
        raise TwinError(f"the listed instances do not make a valid fleet: {error}") from None
    write(document, source_path, target)
    warnings += [f"{source_path} sets {name}: {why}; give it in the environment instead for the rehearsal"
                 for name, why in source.pinned.items()]
    return warnings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-i", "--inventory", required=True, help="an alicloud.ecs.instances inventory file")
    parser.add_argument("-o", "--output", required=True, help="the fleet file to write")


def main(args: argparse.Namespace) -> int:
    """CLI entry: 0 and a summary on success; 2 and the reason on bad input or an unreadable source."""
    try:
        warnings = export(args.inventory, args.output)
    except TwinError as error:
        print(f"twin: {error}", file=sys.stderr)
        return 2
    for warning in warnings:
        print(f"twin: warning: {warning}", file=sys.stderr)
    count = len((yaml.safe_load(Path(args.output).read_text(encoding="utf-8")) or {}).get("instances") or [])
    print(f"twin: wrote {count} instances to {args.output}")
    return 0
