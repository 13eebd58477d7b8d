"""`make demo`'s playbook, end to end: discovery, facts, template, isolation, a fleet run, a rolled-back
rolling update, and idempotence of the configuration part."""

from __future__ import annotations

import os
import re

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def recap(output: str) -> dict[str, dict[str, int]]:
    rows = re.findall(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$", output, re.M)
    return {host: {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counts)} for host, counts in rows}


def test_demo_configures_every_instance_in_isolation(ansible, emulator, reachable) -> None:
    first = ansible.playbook(REPO_ROOT / "playbooks" / "demo.yml")
    assert first.rc == 0, first.output
    hosts = {host: counts for host, counts in recap(first.stdout).items() if host != "localhost"}
    instances = reachable
    assert len(hosts) == len(instances) >= 4
    assert all(counts["failed"] == 0 and counts["unreachable"] == 0 for counts in hosts.values())

    for instance in instances:
        own = emulator.exec(instance["id"], "cat /etc/alicloud-demo.conf")
        assert own["exit_code"] == 0
        assert f"instance_id = {instance['id']}" in own["stdout"]
        others = [other for other in instances if other["id"] != instance["id"]]
        for other in others:
            assert f"instance_id = {other['id']}" not in own["stdout"]
    assert not os.path.exists("/etc/alicloud-demo.conf"), "the demo wrote onto the host"
    assert f"{len(instances)} hosts answered in 2 invocation(s)" in first.stdout  # one RunCommand per region
    assert "the health check of batch 2 failed on web-2; rolled back: web-1, web-2; never touched: web-3" in first.stdout
    for instance in instances:
        release = emulator.exec(instance["id"], "cat /etc/app-release 2>/dev/null || echo none")["stdout"].strip()
        assert release == ("1" if instance["tags"].get("role") == "web" else "none"), (instance["name"], release)

    # The rollout changes things by design; everything else must be idempotent.
    second = ansible.playbook(REPO_ROOT / "playbooks" / "demo.yml", "--skip-tags", "rollout")
    assert second.rc == 0, second.output
    assert all(counts["changed"] == 0 for host, counts in recap(second.stdout).items()), second.stdout


def test_each_instance_has_its_own_hostname_and_processes(emulator, reachable) -> None:
    names = set()
    for instance in reachable:
        answer = emulator.exec(instance["id"], "hostname; ls -d /proc/[0-9]* | wc -l")
        hostname, processes = answer["stdout"].split()
        names.add(hostname)
        assert int(processes) < 20, "the instance sees the host's processes"
    assert len(names) == len(reachable)
