"""The instance's staging directory and stray work directories are pruned by age and size, at most hourly."""

from __future__ import annotations

import json

from test_connection import one_host_inventory, play_file

CHUNKS = "/var/lib/alicloud-ecs/root"
SETUP = f"""
set -e
mkdir -p {CHUNKS}; rm -f {CHUNKS}/.pruned
printf old > {CHUNKS}/0ld0; touch -d '3 hours ago' {CHUNKS}/0ld0
head -c 2000000 /dev/zero > {CHUNKS}/b1g0; touch -d '30 minutes ago' {CHUNKS}/b1g0
printf small > {CHUNKS}/5ma1; touch -d '5 minutes ago' {CHUNKS}/5ma1
mkdir -p /tmp/.alicloud-ecs.strayold /tmp/.alicloud-ecs.straynew
echo left > /tmp/.alicloud-ecs.strayold/in; touch -d '3 hours ago' /tmp/.alicloud-ecs.strayold
echo left > /tmp/.alicloud-ecs.straynew/in
"""


def present(emulator, instance_id: str) -> set[str]:
    out = emulator.exec(instance_id, f"ls {CHUNKS}; ls -d /tmp/.alicloud-ecs.stray* 2>/dev/null")["stdout"]
    return set(out.split())


def test_staging_is_pruned_by_age_then_size_at_most_hourly(ansible, emulator, reachable, tmp_path) -> None:
    target = reachable[0]
    inventory = one_host_inventory(tmp_path, target)
    playbook = play_file(tmp_path / "echo.yml", [{"name": "Echo", "ansible.builtin.command": "echo hi"}])
    limits = ("-e", json.dumps({"ansible_alicloud_staging_max_age": 2, "ansible_alicloud_staging_max_size": 1}))
    assert emulator.exec(target["id"], SETUP)["exit_code"] == 0

    run = ansible.playbook(playbook, *limits, inventory=inventory)
    assert run.rc == 0, run.output
    left = present(emulator, target["id"])
    assert "0ld0" not in left, "older than staging_max_age"
    assert "b1g0" not in left, "the oldest file goes while the directory is over staging_max_size"
    assert "5ma1" in left, "younger, and within the size once the big one went"
    assert any(name.endswith(".base") for name in left), "what this task keeps stays"
    assert "/tmp/.alicloud-ecs.strayold" not in left and "/tmp/.alicloud-ecs.straynew" in left

    # Within the hour the directory is not looked at again.
    emulator.exec(target["id"], f"printf old > {CHUNKS}/0ld1; touch -d '3 hours ago' {CHUNKS}/0ld1")
    assert ansible.playbook(playbook, *limits, "-e", "x=2", inventory=inventory).rc == 0
    assert "0ld1" in present(emulator, target["id"])
