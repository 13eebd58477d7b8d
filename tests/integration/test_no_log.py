"""no_log tasks leave nothing of theirs in what the collection keeps, on the controller or the instance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emulator.testing import wait_for
from test_connection import one_host_inventory, play_file

SENTINEL = "nolog-SENTINEL-3a9e"
# The places the collection keeps things on an instance: staged chunks and kept payloads, the envelope's
# temporary directories, the become helper's tmpfs directory.
INSTANCE_PLACES = "/var/lib/alicloud-ecs /tmp/.alicloud-ecs* /var/tmp/.alicloud-ecs* /dev/shm/.alicloud-ecs*"


def controller_state(cache: Path) -> dict:
    """What the controller's transfer cache holds: file names, and each instance file's chunk list and bases."""
    state: dict = {"files": sorted(str(path.relative_to(cache)) for path in cache.rglob("*")
                                   if path.is_file() and path.name != ".swept")}
    for path in cache.rglob("i-*.json"):
        data = json.loads(path.read_text())
        state[path.name] = {"chunks": data.get("chunks"), "bases": data.get("bases"),
                            "timings": sorted(data.get("timings", {}))}
    return state


def instance_state(emulator, instance_id: str) -> str:
    """The files in those places (names only)."""
    return emulator.exec(instance_id, f"find {INSTANCE_PLACES} -type f 2>/dev/null | sort")["stdout"]


@pytest.mark.parametrize("pipelining", [True, False])
def test_a_no_log_play_leaves_nothing_behind(ansible, emulator, reachable, tmp_path, pipelining) -> None:
    target = reachable[0]
    inventory = one_host_inventory(tmp_path, target)
    options = ("-e", json.dumps({"ansible_pipelining": pipelining}))
    cache = Path(ansible.env["ANSIBLE_ALICLOUD_TRANSFER_CACHE"])
    # An ordinary task first: the cache and the instance hold their usual things, which must stay as they are.
    warm = play_file(tmp_path / "warm.yml", [{"name": "Warm", "ansible.builtin.command": "echo warm"}])
    assert ansible.playbook(warm, *options, inventory=inventory).rc == 0
    controller_before, instance_before = controller_state(cache), instance_state(emulator, target["id"])

    filler = "x" * 200_000  # large enough to be staged in chunks, not only carried inline
    secret_play = play_file(tmp_path / "secret.yml", [
        {"name": "Secret command", "ansible.builtin.shell": f"echo {SENTINEL} | wc -c", "no_log": True},
        {"name": "Secret raw", "ansible.builtin.raw": f"echo {SENTINEL} | wc -c", "no_log": True},
        {"name": "Secret file", "no_log": True, "ansible.builtin.copy": {
            "content": f"{SENTINEL}\n{filler}\n", "dest": "/root/nolog-target", "mode": "0600"}},
        {"name": "Secret on stdin", "ansible.builtin.command": {"cmd": "wc -c", "stdin": f"{SENTINEL}{filler}"},
         "no_log": True},
    ])
    run = ansible.playbook(secret_play, "-vvvv", *options, inventory=inventory)
    assert run.rc == 0, run.output
    assert SENTINEL not in run.output

    assert controller_state(cache) == controller_before
    assert not [path for path in cache.rglob("*") if path.is_file() and SENTINEL.encode() in path.read_bytes()]
    # a wait: an envelope's exit trap may still be running when the agent has already reported the output
    wait_for(lambda: instance_state(emulator, target["id"]) == instance_before,
             f"the instance to hold what it held before the play:\n{instance_before}", step=0.5)
    found = emulator.exec(target["id"], f"grep -rl {SENTINEL} {INSTANCE_PLACES} 2>/dev/null")["stdout"]
    assert found == ""
    assert emulator.exec(target["id"], "head -c 19 /root/nolog-target")["stdout"] == SENTINEL  # the task did run
