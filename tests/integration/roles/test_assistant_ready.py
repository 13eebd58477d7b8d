"""The alicloud.ecs.assistant_ready role: a host whose agent is offline is made reachable before the play uses it."""

from __future__ import annotations

import json


def test_offline_agent_is_installed_then_the_host_answers(ansible, emulator, tmp_path):
    inventory = tmp_path / "all_running.alicloud_ecs.yml"
    inventory.write_text(json.dumps({"plugin": "alicloud.ecs.instances", "regions": [],
                                     "filters": {"status": "Running"}, "hostnames": ["instance_name"],
                                     "compose": {"ansible_python_interpreter": "'/usr/bin/python3'"}}))
    playbook = tmp_path / "ready.yml"
    playbook.write_text(json.dumps([{
        "name": "ready", "hosts": "all", "gather_facts": False,
        "roles": [{"role": "alicloud.ecs.assistant_ready"}],
        "tasks": [{"name": "reach the host", "ansible.builtin.command": "hostname", "changed_when": False}]}]))
    offline = [item["name"] for item in emulator.instances() if item["status"] == "Running" and item["agent"] != "online"]
    assert offline, "the demo fleet has a running instance with its agent offline"

    run = ansible.playbook(playbook, inventory=inventory)
    assert run.rc == 0, run.output[-3000:]
    assert all(item["agent"] == "online" for item in emulator.instances() if item["name"] in offline)
    for name in offline:
        assert f"ok: [{name}]" in run.stdout

    again = ansible.playbook(playbook, inventory=inventory)
    assert again.rc == 0, again.output[-3000:]
    assert "changed=1" not in again.stdout  # every agent was already online: nothing installed
