"""Plays ride out a misbehaving API: heavy throttling with 5xx, responses lost after the server acted.

30 namespace-isolated instances, a real playbook over the cloud_assistant connection (setup, command, copy,
template) and the alicloud.ecs.run action, with the emulator's fault injection on every action. Every host
must succeed and every command must have run exactly once (each appends a line to a file on its instance).
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from pathlib import Path

import pytest
import yaml

from ansible_collections.alicloud.ecs.plugins.module_utils.api.client import CloudClient, resolve_settings

from emulator.testing import EmulatorProcess

CALLBACKS = Path(__file__).resolve().parent / "callbacks"
HOSTS = 30
OUTAGE_HOSTS = 5
FLEET = {
    "access_keys": [{"id": "LTAI5tResilience", "secret": "resilience-secret"}],
    "regions": [{"id": "cn-hangzhou", "name": "China (Hangzhou)", "zones": ["cn-hangzhou-h"]}],
    "instances": [{"name": "node", "region": "cn-hangzhou", "zone": "cn-hangzhou-h", "count": HOSTS}],
}


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    """Overrides the demo fleet: 30 isolated instances in one region."""
    with EmulatorProcess(fleet=FLEET, state_dir=tmp_path_factory.mktemp("unreliable-api")) as process:
        yield process


def play(ansible, emulator, tmp_path: Path, tasks: list[dict], *args: str, facts: bool = False, hosts: int = HOSTS):
    instances = sorted(emulator.instances(), key=lambda item: int(item["name"].rsplit("-", 1)[1]))[:hosts]
    inventory = tmp_path / "nodes.yml"
    inventory.write_text(yaml.safe_dump({"all": {"vars": {
        "ansible_connection": "alicloud.ecs.cloud_assistant", "ansible_python_interpreter": "/usr/bin/python3"},
        "hosts": {item["name"]: {"ansible_alicloud_instance_id": item["id"], "ansible_alicloud_region": item["region"]}
                  for item in instances}}}))
    playbook = tmp_path / "play.yml"
    playbook.write_text(json.dumps([{"name": "unreliable", "hosts": "all", "gather_facts": facts,
                                     "gather_subset": ["min"], "tasks": tasks}]))
    record = tmp_path / "record.json"
    run = ansible.playbook(playbook, *(args or ("-f", "10")), inventory=inventory, env={
        "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACKS), "ANSIBLE_CALLBACKS_ENABLED": "record", "RECORD_FILE": str(record)})
    return run, json.loads(record.read_text()), instances


def lines_of(emulator, instances: list[dict], path: str) -> dict[str, str]:
    return {item["name"]: emulator.exec(item["id"], f"cat {path} 2>/dev/null")["stdout"] for item in instances}


def assert_every_host_ok(run, entries: list[dict], tasks: int, hosts: int = HOSTS) -> None:
    outcomes = [entry["outcome"] for entry in entries]
    assert not [entry for entry in entries if entry["outcome"] in ("failed", "unreachable")], run.output[-6000:]
    assert len(outcomes) == tasks * hosts and run.rc == 0, run.output[-6000:]


def test_forty_percent_throttling_and_some_5xx_lose_no_host_and_run_nothing_twice(ansible, emulator, tmp_path) -> None:
    template = tmp_path / "motd.j2"
    template.write_text("host {{ inventory_hostname }} system {{ ansible_facts.system }}\n")
    # Deterministic rates over every action: 1 in 5 throttled, 1 in 4 of the rest (40 % in all), then 1 in 12
    # of what is left answered 500 or 503 (5 % in all).
    emulator.faults(EmulatorProcess.throttle("*", times=None, every=5),
                    EmulatorProcess.throttle("*", times=None, every=4, code="Throttling.User"),
                    EmulatorProcess.error("*", times=None, every=24),
                    EmulatorProcess.error("*", times=None, every=23, code="ServiceUnavailable"))
    try:
        run, entries, instances = play(ansible, emulator, tmp_path, [
            {"name": "command", "ansible.builtin.command": "sh -c 'echo ran >> /root/command-runs'"},
            {"name": "copy", "ansible.builtin.copy": {"content": "{{ inventory_hostname }}\n", "dest": "/root/copied"}},
            {"name": "template", "ansible.builtin.template": {"src": str(template), "dest": "/root/motd"}},
            {"name": "fleet", "alicloud.ecs.run": {"content": "echo ran >> /root/fleet-runs"}},
        ], facts=True)
        plan = emulator.fault_plan()
    finally:
        emulator.clear_faults()
    assert_every_host_ok(run, entries, tasks=5)  # setup and the four tasks
    assert sum(rule["fired"] for rule in plan["rules"][:2]) > 100  # the storm did happen
    assert sum(rule["fired"] for rule in plan["rules"][2:]) > 5
    assert set(lines_of(emulator, instances, "/root/command-runs").values()) == {"ran\n"}
    assert set(lines_of(emulator, instances, "/root/fleet-runs").values()) == {"ran\n"}
    assert lines_of(emulator, instances, "/root/copied") == {item["name"]: f"{item['name']}\n" for item in instances}
    motd = lines_of(emulator, instances, "/root/motd")
    assert all(text == f"host {name} system Linux\n" for name, text in motd.items()), motd


def test_responses_lost_after_the_server_acted_cost_nothing(ansible, emulator, tmp_path) -> None:
    payload = tmp_path / "payload.bin"
    payload.write_bytes(bytes(range(256)) * 1024)  # 256 KB: several SendFile calls per host
    emulator.faults(EmulatorProcess.drop("SendFile", times=None, every=3),
                    EmulatorProcess.drop("RunCommand", times=None, every=3))
    try:
        run, entries, instances = play(ansible, emulator, tmp_path, [
            {"name": "command", "ansible.builtin.command": "sh -c 'echo ran >> /root/dropped-runs'"},
            {"name": "copy", "ansible.builtin.copy": {"src": str(payload), "dest": "/root/payload.bin"}},
            {"name": "check", "ansible.builtin.command": "sha256sum /root/payload.bin", "register": "sums"},
        ], hosts=10)
        plan = emulator.fault_plan()
    finally:
        emulator.clear_faults()
    assert_every_host_ok(run, entries, tasks=3, hosts=10)
    assert all(rule["fired"] >= 10 for rule in plan["rules"]), plan
    assert set(lines_of(emulator, instances, "/root/dropped-runs").values()) == {"ran\n"}
    digest = hashlib.sha256(payload.read_bytes()).hexdigest()
    sums = {entry["host"]: entry["result"]["stdout"].split()[0] for entry in entries if entry["task"] == "check"}
    assert set(sums.values()) == {digest}


def test_a_30_second_api_outage_mid_play_loses_nothing_and_runs_nothing_twice(ansible, emulator, tmp_path) -> None:
    """The API process is killed while a command runs on every host and comes back 30 s later on the same state:
    the commands ran on (as on real instances), the play completes with their real results, and nothing ran
    twice."""
    name = "outage"
    down = threading.Event()

    def outage() -> None:
        client = CloudClient(resolve_settings(env=emulator.env()), region="cn-hangzhou")
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            listed = client.call("DescribeInvocations", CommandName=name, InvocationStatus="Running", MaxResults=50)
            if len(listed["Invocations"]["Invocation"]) >= OUTAGE_HOSTS:
                break
            time.sleep(0.2)
        emulator.crash()
        down.set()
        time.sleep(30)
        emulator.start()

    breaker = threading.Thread(target=outage)
    breaker.start()
    try:
        run, entries, instances = play(ansible, emulator, tmp_path, [
            {"name": "spans the outage", "ansible.builtin.command": "sh -c 'sleep 6; echo ran >> /root/outage-runs; "
             "echo finished on $(hostname)'", "vars": {"ansible_alicloud_invocation_name": name}},
            {"name": "after it", "ansible.builtin.copy": {"content": "after\n", "dest": "/root/after"}},
        ], hosts=OUTAGE_HOSTS)
    finally:
        breaker.join()
    assert down.is_set()
    assert_every_host_ok(run, entries, tasks=2, hosts=OUTAGE_HOSTS)
    spanned = {entry["host"]: entry["result"]["stdout"] for entry in entries if entry["task"] == "spans the outage"}
    assert spanned == {item["name"]: f"finished on {item['name']}" for item in instances}
    assert set(lines_of(emulator, instances, "/root/outage-runs").values()) == {"ran\n"}
    assert set(lines_of(emulator, instances, "/root/after").values()) == {"after\n"}


def test_many_forks_moving_large_files_all_succeed(ansible, emulator, tmp_path) -> None:
    """A smaller cut of `make bench`'s fan-in row (forks=50, 50 hosts, 5 MB, three runs): 20 forks copy 1 MB of
    random bytes each while every fork's transfer keeps up to 16 SendFile calls in flight; the run-wide cap on calls
    in flight (api_concurrency) keeps the controller and the API from drowning, so no host fails."""
    payload = tmp_path / "random.bin"
    payload.write_bytes(random.Random(14).randbytes(1 << 20))
    run, entries, instances = play(ansible, emulator, tmp_path, [
        {"name": "copy", "ansible.builtin.copy": {"src": str(payload), "dest": "/root/random.bin"}},
        {"name": "check", "ansible.builtin.command": "sha256sum /root/random.bin"},
    ], "-f", "20", hosts=20)
    assert_every_host_ok(run, entries, tasks=2, hosts=20)
    digest = hashlib.sha256(payload.read_bytes()).hexdigest()
    assert {entry["result"]["stdout"].split()[0] for entry in entries if entry["task"] == "check"} == {digest}
    assert len(instances) == 20
