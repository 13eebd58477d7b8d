"""Strings from the cloud API are data on the controller: an instance name, description or tag that holds a
Jinja lookup never runs it, on any supported ansible-core line.

Whoever may tag or rename an instance writes these strings. ansible-core before 2.19 renders every plain
string it reads from host variables as a template (the reason ansible's own inventory plugins mark remote
data unsafe with ``ansible.utils.unsafe_proxy.wrap_var``), so a tag ``{{ lookup('pipe', 'touch FILE') }}``
would create FILE on the controller as soon as a play read it. Each test here reads such strings every way
a user does (ansible-inventory, a warm inventory cache, compose and keyed groups, debug ``var`` and ``msg``,
``alicloud.ecs.run`` output facts, ``alicloud.ecs.instance_info`` results), checks they come out verbatim,
and that FILE never exists. scripts/test-matrix runs this file on every line, 2.17 included.
"""

from __future__ import annotations

import base64
import json
import re
import sys
from pathlib import Path

import pytest

from emulator.testing import EmulatorProcess

CALLBACKS = Path(__file__).resolve().parent / "callbacks"
ARITHMETIC = "{{ 7*6 }}"  # renders as 42 where a string is taken for a template


@pytest.fixture(scope="module")
def marker(tmp_path_factory):
    """The file every lookup in the fleet's strings would create on the controller."""
    return tmp_path_factory.mktemp("api-data") / "ran"


def lookup(marker) -> str:
    return "{{ lookup('pipe', 'touch " + str(marker) + "') }}"


@pytest.fixture(scope="module")
def strings(marker) -> dict[str, str]:
    """What the tagged instance's API strings hold."""
    return {"name": lookup(marker) + ARITHMETIC, "description": lookup(marker), "owner": lookup(marker),
            "role": lookup(marker), "answer": ARITHMETIC, "output": lookup(marker) + " " + ARITHMETIC}


@pytest.fixture(scope="module")
def emulator(tmp_path_factory, strings):
    """Overrides the demo fleet: one instance whose name, description and tags hold templates, one plain one."""
    fleet = {
        "access_keys": [{"id": "LTAI5tApiDataTests", "secret": "api-data-tests-secret"}],
        "regions": [{"id": "cn-hangzhou", "name": "China (Hangzhou)", "zones": ["cn-hangzhou-h"]}],
        "instances": [
            {"name": strings["name"], "hostname": "tagged-1", "description": strings["description"],
             "tags": {"Name": strings["name"], "owner": strings["owner"], "role": strings["role"],
                      "answer": strings["answer"]}},
            {"name": "plain-1", "description": "plain", "tags": {"Name": "plain-1", "owner": "ops", "role": "plain",
                                                                 "answer": "42"}},
        ],
    }
    with EmulatorProcess(fleet=fleet, state_dir=tmp_path_factory.mktemp("api-data-state")) as process:
        yield process


@pytest.fixture
def tagged(emulator, strings) -> str:
    """The tagged instance's ID: its host name, since its Name tag holds template syntax."""
    return next(item["id"] for item in emulator.instances() if item["name"] == strings["name"])


def inventory_file(tmp_path) -> str:
    path = tmp_path / "tagged.alicloud_ecs.yml"
    path.write_text(
        "plugin: alicloud.ecs.instances\n"
        "regions: [cn-hangzhou]\n"
        "hostnames: [tag:Name, instance_id]\n"
        "keyed_groups:\n  - {key: instance_tags.role, prefix: role}\n  - {key: instance_tags.answer, prefix: answer}\n"
        "compose:\n  owner_copy: instance_tags.owner\n  answer_copy: instance_tags.answer ~ '!'\n"
        "groups:\n  answered: \"'7' in instance_tags.answer\"\n"
        "cache: true\ncache_plugin: ansible.builtin.jsonfile\n"
        f"cache_connection: {tmp_path / 'inventory-cache'}\ncache_timeout: 600\n")
    return str(path)


def unwrap(value):
    """ansible-inventory prints data as {"__ansible_unsafe": ...}; compare the plain values."""
    if isinstance(value, dict):
        return value["__ansible_unsafe"] if set(value) == {"__ansible_unsafe"} else {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(item) for item in value]
    return value


def flat(text: str) -> str:
    return " ".join(text.split())


def test_inventory_lists_the_strings_verbatim_cold_and_from_its_cache(ansible, emulator, marker, strings,
                                                                      tagged, tmp_path) -> None:
    inventory = inventory_file(tmp_path)
    for attempt in ("cold", "warm"):
        emulator.reset_counters()
        run = ansible.inventory("--list", inventory=inventory, env={"ANSIBLE_INVENTORY_UNPARSED_FAILED": "true"})
        assert run.rc == 0, run.output
        assert not marker.exists(), f"{attempt}: a lookup in an API string ran on the controller:\n{run.output}"
        if attempt == "warm":
            assert emulator.counters().get("DescribeInstances", 0) == 0, "the second listing came from the cache"
        data = json.loads(run.stdout)
        assert sorted(data["_meta"]["hostvars"]) == sorted([tagged, "plain-1"])
        assert "may not hold template syntax" in flat(run.output)
        values = unwrap(data["_meta"]["hostvars"][tagged])
        assert values["instance_name"] == strings["name"]
        assert values["description"] == strings["description"]
        assert values["instance_tags"] == {"Name": strings["name"], "owner": strings["owner"],
                                           "role": strings["role"], "answer": strings["answer"]}
        assert values["owner_copy"] == strings["owner"] and values["answer_copy"] == ARITHMETIC + "!"
        assert data["answered"]["hosts"] == [tagged]
        assert data["answer_42"]["hosts"] == ["plain-1"] and data["role_plain"]["hosts"] == ["plain-1"]
        groups = [name for name in data if name != "_meta"]
        assert not [name for name in groups if "{" in name or "}" in name], groups
        assert all(isinstance(host, str) for name in groups for host in data[name].get("hosts", []))


def played(ansible, tmp_path, plays: list[dict], inventory: str):
    playbook = tmp_path / "play.yml"
    playbook.write_text(json.dumps(plays))
    record = tmp_path / "record.json"
    run = ansible.playbook(playbook, inventory=inventory, env={
        "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACKS), "ANSIBLE_CALLBACKS_ENABLED": "record",
        "RECORD_FILE": str(record), "ANSIBLE_DEPRECATION_WARNINGS": "false"})
    entries = json.loads(record.read_text()) if record.exists() else []
    return run, {(entry["task"], entry["host"]): entry for entry in entries}


def test_plays_print_and_use_the_strings_verbatim(ansible, marker, strings, tagged, tmp_path) -> None:
    """Host variables, compose results, keyed groups, fleet run output (per host and run_once) and module
    results, each through ``debug`` ``var`` and ``msg``; the inventory is read once cold, then from its cache."""
    inventory = inventory_file(tmp_path)
    echo = "echo " + base64.b64encode(strings["output"].encode()).decode() + " | base64 -d"
    hosts = {
        "name": "fleet", "hosts": "all", "gather_facts": False, "tasks": [
            {"name": "tags", "ansible.builtin.debug": {"var": "instance_tags"}},
            {"name": "hostvars", "ansible.builtin.debug": {"msg": (
                "{{ instance_name }}|{{ description }}|{{ instance_tags.owner }}|{{ owner_copy }}|{{ answer_copy }}"
                "|{{ inventory_hostname_short }}")}},
            {"name": "groups", "ansible.builtin.debug": {"var": "group_names"}},
            {"name": "per host run", "alicloud.ecs.run": {"content": echo}, "register": "fleet"},
            {"name": "registered output", "ansible.builtin.debug": {"var": "fleet.stdout"}},
            {"name": "output fact", "ansible.builtin.debug": {"msg": "{{ ansible_facts.alicloud_run.output }}"}},
            {"name": "run once", "alicloud.ecs.run": {"content": echo}, "run_once": True},
            {"name": "run once fact", "ansible.builtin.debug": {
                "msg": "{{ ansible_facts.alicloud_run_results[inventory_hostname].output }}"}},
        ]}
    controller = {
        "name": "controller", "hosts": "localhost", "connection": "local", "gather_facts": False,
        "vars": {"ansible_python_interpreter": sys.executable}, "tasks": [
            {"name": "instance_info", "alicloud.ecs.instance_info": {"region": "cn-hangzhou"}, "register": "listed"},
            {"name": "listed tags", "ansible.builtin.debug": {
                "var": "listed.instances | map(attribute='instance_tags') | map(attribute='owner') | list"}},
            {"name": "listed names", "ansible.builtin.debug": {
                "msg": "{{ listed.instances | map(attribute='instance_name') | sort | join('|') }}"}},
        ]}
    for attempt in ("cold", "warm"):
        run, results = played(ansible, tmp_path, [hosts, controller], inventory)
        assert run.rc == 0, run.output
        assert not marker.exists(), f"{attempt}: a lookup in an API string ran on the controller:\n{run.output}"
        assert results["tags", tagged]["result"]["instance_tags"]["owner"] == strings["owner"]
        assert results["tags", tagged]["result"]["instance_tags"]["answer"] == ARITHMETIC
        assert results["hostvars", tagged]["result"]["msg"] == "|".join([
            strings["name"], strings["description"], strings["owner"], strings["owner"], ARITHMETIC + "!", tagged])
        assert results["hostvars", "plain-1"]["result"]["msg"] == "plain-1|plain|ops|ops|42!|plain-1"
        # Keyed groups from the tags: ansible turns every character a variable name cannot hold into "_".
        assert results["groups", tagged]["result"]["group_names"] == sorted([
            "answered", "answer_" + re.sub(r"\W", "_", ARITHMETIC), "role_" + re.sub(r"\W", "_", strings["role"])])
        assert results["groups", "plain-1"]["result"]["group_names"] == ["answer_42", "role_plain"]
        for host in (tagged, "plain-1"):
            assert results["registered output", host]["result"]["fleet.stdout"] == strings["output"]
            assert results["output fact", host]["result"]["msg"] == strings["output"]
            assert results["run once fact", host]["result"]["msg"] == strings["output"]
        assert sorted(results["listed tags", "localhost"]["result"][
            "listed.instances | map(attribute='instance_tags') | map(attribute='owner') | list"]) == sorted(
                ["ops", strings["owner"]])
        assert results["listed names", "localhost"]["result"]["msg"] == "|".join(sorted(["plain-1", strings["name"]]))
