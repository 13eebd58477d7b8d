"""The collection's runnable playbooks, by FQCN, against the demo fleet."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_collect_facts_writes_one_entry_per_host(ansible, reachable, tmp_path):
    report = tmp_path / "fleet.json"
    run = ansible.run("ansible-playbook", "-i", "playbooks/inventory/demo.alicloud_ecs.yml",
                      "alicloud.ecs.collect_facts", "-e", f"collect_facts_report={report}")
    assert run.rc == 0, run.output[-3000:]
    facts = json.loads(report.read_text())
    assert set(facts) == {item["name"] for item in reachable}
    for name, entry in facts.items():
        assert entry["hostname"] == name
        assert entry["uptime_seconds"] >= 0 and entry["disk_free_kb"] > 0 and entry["kernel"]


def test_collect_facts_report_defaults_to_the_directory_ansible_runs_from(ansible, reachable, tmp_path):
    """Run by name, playbook_dir is the installed collection's: the default report goes to $PWD instead."""
    run = ansible.run("ansible-playbook", "-i", "playbooks/inventory/demo.alicloud_ecs.yml",
                      "alicloud.ecs.collect_facts", env={"PWD": str(tmp_path)})
    assert run.rc == 0, run.output[-3000:]
    assert set(json.loads((tmp_path / "fleet-facts.json").read_text())) == {item["name"] for item in reachable}
    assert not (ROOT / "playbooks" / "fleet-facts.json").exists()


def test_patch_fleet_runs_once_per_host_and_reports(ansible, emulator, reachable):
    run = ansible.run("ansible-playbook", "-i", "playbooks/inventory/demo.alicloud_ecs.yml", "alicloud.ecs.patch_fleet",
                      "-e", "patch_fleet_hosts=role_db", "-e", "patch_fleet_content='echo patched >> /etc/patch-log'")
    assert run.rc == 0, run.output[-3000:]
    db = [item for item in reachable if item["tags"].get("role") == "db"]
    assert f"patched {len(db)} hosts; failed: none" in run.stdout
    for item in reachable:
        log = emulator.exec(item["id"], "cat /etc/patch-log 2>/dev/null || true")["stdout"]
        assert log == ("patched\n" if item in db else "")


def test_rolling_update_playbook_takes_the_role_variables(ansible, emulator, reachable, tmp_path):
    update = tmp_path / "update.json"
    update.write_text(json.dumps({"rolling_update_hosts": "role_web", "rolling_update_batch_size": [1, "100%"],
                                  "rolling_update_content": "echo 3 > /etc/app-release",
                                  "rolling_update_health_check": "grep -qx 3 /etc/app-release"}))
    run = ansible.run("ansible-playbook", "-i", "playbooks/inventory/demo.alicloud_ecs.yml",
                      "alicloud.ecs.rolling_update", "-e", f"@{update}")
    assert run.rc == 0, run.output[-3000:]
    assert "batch 1/2: 1 instance(s)" in run.stdout and "batch 2/2: 2 instance(s)" in run.stdout
    for item in reachable:
        release = emulator.exec(item["id"], "cat /etc/app-release 2>/dev/null || true")["stdout"].strip()
        assert release == ("3" if item["tags"].get("role") == "web" else "")
