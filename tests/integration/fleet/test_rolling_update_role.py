"""The alicloud.ecs.rolling_update role end to end on 10 isolated emulated instances in 3 batches."""

from __future__ import annotations

import pytest

from fleet_helpers import fleet_play

BATCHES = [["fleet-1", "fleet-2", "fleet-3", "fleet-4"], ["fleet-5", "fleet-6", "fleet-7"], ["fleet-8", "fleet-9", "fleet-10"]]
ROLE = "rolling update"
FLEET_FILE = "ten.yml"  # 10 instances, each with its own filesystem
pytestmark = pytest.mark.usefixtures("fresh")
RUN_TASK = "alicloud.ecs.rolling_update : Update the hosts in rolling batches"  # the role task calling alicloud.ecs.run


def version_on(emulator) -> dict[str, str]:
    """What each instance holds in /etc/app-version (empty when the file is absent)."""
    return {item["name"]: emulator.exec(item["id"], "cat /etc/app-version 2>/dev/null || true")["stdout"].strip()
            for item in emulator.instances()}


def role_task(**variables) -> dict:
    return {"name": ROLE, "ansible.builtin.include_role": {"name": "alicloud.ecs.rolling_update"}, "vars": {
        "rolling_update_content": "echo 2 > /etc/app-version",
        "rolling_update_health_check": "test ! -e /etc/unhealthy && grep -qx 2 /etc/app-version",
        "rolling_update_rollback": "echo 1 > /etc/app-version",
        "rolling_update_batches": 3, **variables}}


def test_updates_every_batch_with_a_health_check(ansible, emulator, tmp_path):
    played = fleet_play(ansible, emulator, tmp_path, [role_task(), {
        "name": "own result", "ansible.builtin.debug": {"var": "alicloud_run"}}])
    assert played.rc == 0, played.output[-3000:]
    assert set(version_on(emulator).values()) == {"2"}
    for number, batch in enumerate(BATCHES, 1):
        for host in batch:
            own = played.result("own result", host)["alicloud_run"]
            assert (own["status"], own["batch"], own["health_check"]["status"]) == ("Success", number, "Success")


def test_failing_health_check_in_batch_two_rolls_back_batches_one_and_two(ansible, emulator, tmp_path):
    names = {item["name"]: item["id"] for item in emulator.instances()}
    emulator.exec(names["fleet-6"], "touch /etc/unhealthy")
    played = fleet_play(ansible, emulator, tmp_path, [role_task()])
    assert played.rc != 0
    result = played.result(RUN_TASK)
    assert "fleet-6" in result["msg"], result["msg"]
    versions = version_on(emulator)
    assert {host: versions[host] for host in BATCHES[0] + BATCHES[1]} == dict.fromkeys(BATCHES[0] + BATCHES[1], "1")
    assert {host: versions[host] for host in BATCHES[2]} == dict.fromkeys(BATCHES[2], "")
    summary = result["summary"]
    assert sorted(summary["rolled_back"]) == sorted(BATCHES[0] + BATCHES[1])
    assert sorted(summary["skipped"]) == sorted(BATCHES[2])


def test_pause_first_fails_without_a_terminal(ansible, emulator, tmp_path):
    played = fleet_play(ansible, emulator, tmp_path, [role_task(rolling_update_pause="first")])
    assert played.rc != 0
    result = played.result(RUN_TASK)
    assert "pause" in result["msg"] and "pause_continue" in result["msg"], result["msg"]
    versions = version_on(emulator)
    # Batch 1 ran and, the run having stopped at the pause, was rolled back; nothing else was touched.
    assert {host: versions[host] for host in BATCHES[0]} == dict.fromkeys(BATCHES[0], "1")
    assert all(not versions[host] for host in BATCHES[1] + BATCHES[2])
