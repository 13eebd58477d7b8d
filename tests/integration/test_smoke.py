"""The end-to-end smoke that `make test-matrix` runs on every supported ansible-core line.

One inventory parse and one playbook touch each part a user meets first: the inventory plugin, the
connection (ping, setup, copy then fetch), a module on the controller and the fleet action
``alicloud.ecs.run``. The playbook asserts each outcome itself; the test checks the run and the files
fetched back. It runs in `make test` too (newest line), so a smoke that passes there proves nothing
more than the full suite: its value is on the older lines, in their own venvs.
"""

from __future__ import annotations

import json
import sys

import yaml


def smoke_playbook(fetched: str) -> list[dict]:
    return [{
        "name": "smoke over Cloud Assistant",
        "hosts": "role_web",
        "gather_facts": False,
        "tasks": [
            {"name": "ping", "ansible.builtin.ping": {}},
            {"name": "setup", "ansible.builtin.setup": {"gather_subset": ["min"]}},
            {"name": "facts are the instance's", "ansible.builtin.assert": {
                "that": ["ansible_facts.hostname == inventory_hostname"]}},
            {"name": "copy", "ansible.builtin.copy": {
                "content": "smoke {{ inventory_hostname }}\n", "dest": "/tmp/smoke.txt", "mode": "0644"}},
            {"name": "fetch", "ansible.builtin.fetch": {"src": "/tmp/smoke.txt", "dest": fetched + "/"}},
            {"name": "fleet run", "alicloud.ecs.run": {"content": "cat /tmp/smoke.txt"}, "register": "fleet"},
            {"name": "each host has its own fleet result", "ansible.builtin.assert": {"that": [
                "fleet.rc == 0",
                "fleet.stdout_lines == ['smoke ' ~ inventory_hostname]",
                "ansible_facts.alicloud_run.status == 'Success'"]}},
        ],
    }, {
        "name": "a module on the controller",
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": False,
        "vars": {"ansible_python_interpreter": sys.executable},
        "tasks": [
            {"name": "instance_info", "alicloud.ecs.instance_info": {
                "region": "cn-hangzhou", "filters": {"status": "Running"}}, "register": "listed"},
            {"name": "the module listed the running instances", "ansible.builtin.assert": {
                "that": ["listed.instances | length > 0",
                         "listed.instances | map(attribute='status') | unique == ['Running']"]}},
        ],
    }]


def test_inventory_connection_module_and_fleet_run(ansible, emulator, reachable, tmp_path) -> None:
    web = sorted(item["name"] for item in reachable if item["tags"].get("role") == "web")
    assert web, "the demo fleet has running web instances with the agent online"

    listed = ansible.inventory("--list")
    assert listed.rc == 0, listed.output
    groups = json.loads(listed.stdout)
    assert sorted(groups["role_web"]["hosts"]) == web

    fetched = tmp_path / "fetched"
    playbook = tmp_path / "smoke.yml"
    playbook.write_text(yaml.safe_dump(smoke_playbook(str(fetched))))
    run = ansible.playbook(playbook)
    assert run.rc == 0, run.output
    for host in web:
        assert (fetched / host / "tmp" / "smoke.txt").read_text() == f"smoke {host}\n"
