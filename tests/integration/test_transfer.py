"""The transfer engine end to end: large files both ways, large streams, and nothing running twice."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from emulator.testing import EmulatorProcess

PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"


@pytest.fixture
def target(reachable, tmp_path) -> tuple[str, Path]:
    """A one-host inventory (group ``target``) on the first reachable instance."""
    instance = reachable[0]
    inventory = tmp_path / "target.json"
    inventory.write_text(json.dumps({"all": {"children": {"target": {"hosts": {"target-1": {
        "ansible_connection": "alicloud.ecs.cloud_assistant",
        "ansible_alicloud_instance_id": instance["id"],
        "ansible_alicloud_region": instance["region"],
        "ansible_python_interpreter": "/usr/bin/python3"}}}}}}))
    return instance["id"], inventory


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@pytest.mark.slow
def test_100_mb_put_and_fetch_round_trip(ansible, emulator, target, tmp_path) -> None:
    instance_id, inventory = target
    source, fetched = tmp_path / "big.bin", tmp_path / "fetched.bin"
    with open(source, "wb") as handle:
        for _block in range(100):
            handle.write(os.urandom(1 << 20))
    leftovers = "ls -d /tmp/.alicloud-ecs* 2>/dev/null"
    before = emulator.exec(instance_id, leftovers)["stdout"]
    run = ansible.playbook(PLAYBOOKS / "transfer_roundtrip.yml", "-e", json.dumps(
        {"local_src": str(source), "local_dest": str(fetched), "remote_path": "/root/big.bin"}),
        inventory=inventory)
    assert run.rc == 0, run.output[-3000:]
    assert sha256_of(fetched) == sha256_of(source)
    remote = emulator.exec(instance_id, "sha256sum < /root/big.bin; rm -f /root/big.bin")
    assert remote["stdout"].split()[0] == sha256_of(source)
    assert emulator.exec(instance_id, leftovers)["stdout"] == before, "spooled pages and work directories are removed"
    staged = emulator.exec(instance_id, "du -sk /var/lib/alicloud-ecs | cut -f1")["stdout"]
    assert int(staged) < 10 * 1024, "a large transfer's chunks are removed once it is rebuilt"


def test_large_stdout_and_stderr_come_back_exactly_with_rc(ansible, target) -> None:
    _instance_id, inventory = target
    run = ansible.playbook(PLAYBOOKS / "transfer_streams.yml", inventory=inventory)
    assert run.rc == 0, run.output[-3000:]


def test_a_dropped_runcommand_response_never_runs_the_command_twice(ansible, emulator, target) -> None:
    instance_id, inventory = target
    marker = f"/root/once-{os.urandom(4).hex()}.log"
    emulator.faults(EmulatorProcess.drop("RunCommand", times=1))
    try:
        run = ansible.playbook(PLAYBOOKS / "transfer_once.yml", "-e", json.dumps({"marker": marker}),
                               inventory=inventory)
        fired = [rule["fired"] for rule in emulator.fault_plan()["rules"]]
    finally:
        emulator.clear_faults()
    assert run.rc == 0, run.output[-3000:]
    assert fired == [1], "the response of the first RunCommand was dropped"
    assert emulator.exec(instance_id, f"cat {marker}")["stdout"] == "ran\n"
