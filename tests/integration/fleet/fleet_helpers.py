"""Fleet-run helpers: a static inventory of emulated instances (the variables the alicloud.ecs.instances
inventory sets) and playbook runs whose every task result is recorded per host."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

FLEETS = Path(__file__).resolve().parent / "fleets"
CALLBACKS = Path(__file__).resolve().parent.parent / "callbacks"  # the record callback


@dataclass
class FleetPlay:
    rc: int
    output: str
    entries: list[dict]

    def result(self, task: str, host: str | None = None) -> dict:
        found = [item for item in self.entries if item["task"] == task and host in (None, item["host"])]
        assert found, f"task {task!r} did not run on {host or 'any host'}:\n{self.output[-4000:]}"
        return found[-1]["result"]

    def outcome(self, task: str) -> str:
        found = [item["outcome"] for item in self.entries if item["task"] == task]
        assert found, f"task {task!r} did not run:\n{self.output[-4000:]}"
        return found[-1]

    def per_host(self, task: str) -> dict[str, dict]:
        return {item["host"]: item["result"] for item in self.entries if item["task"] == task}


def host_order(name: str) -> tuple[str, int]:
    prefix, number = re.match(r"(.*?)-?(\d+)$", name).groups()
    return prefix, int(number)


def write_inventory(path: Path, instances: list[dict]) -> list[str]:
    """Hosts in a stable order (fleet-1 … fleet-20), with the connection variables of the inventory plugin."""
    ordered = sorted(instances, key=lambda item: host_order(item["name"]))
    hosts = {item["name"]: {"ansible_alicloud_instance_id": item["id"], "ansible_alicloud_region": item["region"],
                            "ansible_connection": "alicloud.ecs.cloud_assistant"} for item in ordered}
    path.write_text(json.dumps({"all": {"children": {"fleet": {"hosts": hosts}}}}))
    return list(hosts)


def fleet_play(ansible, emulator, tmp_path: Path, tasks: list[dict], *args: str) -> FleetPlay:
    """Run ``tasks`` over the whole emulated fleet (hosts: fleet) and record every host's results."""
    inventory = tmp_path / "fleet.json"
    write_inventory(inventory, emulator.instances())
    playbook = tmp_path / "fleet-play.yml"
    playbook.write_text(json.dumps([{"name": "fleet", "hosts": "fleet", "gather_facts": False, "tasks": tasks}]))
    record = tmp_path / "record.json"
    record.unlink(missing_ok=True)
    run = ansible.playbook(playbook, *args, inventory=inventory, env={
        "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACKS), "ANSIBLE_CALLBACKS_ENABLED": "record",
        "RECORD_FILE": str(record), "ANSIBLE_DEPRECATION_WARNINGS": "false"})
    entries = json.loads(record.read_text()) if record.exists() else []
    return FleetPlay(run.rc, run.output, entries)


def own_fact_task() -> dict:
    """Every host reports the fact it holds: its own entry, read from its own point of view."""
    return {"name": "own fact", "ansible.builtin.debug": {"var": "ansible_facts.alicloud_run"}}
