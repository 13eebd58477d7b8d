"""no_log tasks leave nothing of theirs in what the collection keeps, on the controller or the instance."""

from __future__ import annotations

import base64
import gzip
import json
import os
import zlib
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


PASSWORD = "urlpw-SENTINEL-7c21"  # get_url's url_password: a no_log option of the module, not of the task
LARGE_ARGS = "stdin-SENTINEL-e5f0"  # inside arguments too large to ride inline with the command


def gzip_aware_holders(root: Path, secrets: tuple[str, ...]) -> list[str]:
    """Files under ``root`` holding one of ``secrets`` as written or inside gzip members (staged chunks are)."""
    found = []
    for path in root.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        data = path.read_bytes()
        if data.startswith(b"\x1f\x8b"):
            try:
                data += gzip.decompress(data)
            except (OSError, EOFError, zlib.error):
                pass
        found += [f"{path}: {secret}" for secret in secrets if secret.encode() in data]
    return found


def instance_holders(emulator, instance_id: str, secrets: tuple[str, ...]) -> list[str]:
    """The same search on the instance: everything it wrote (its overlay's upper directory, seen from the host),
    and, seen from inside, the collection's places and ansible's remote temporary directory."""
    found = gzip_aware_holders(emulator.state_dir / "instances" / instance_id, secrets)
    pattern = "\\|".join(secrets)
    inside = emulator.exec(instance_id, (
        f"for f in $(find {INSTANCE_PLACES} /root/.ansible/tmp -type f 2>/dev/null); do"
        f" {{ cat \"$f\"; gzip -dc \"$f\" 2>/dev/null; }} | grep -q '{pattern}' && echo \"$f\"; done; true"))
    return found + inside["stdout"].split()


@pytest.mark.parametrize("pipelining", [True, False])
def test_module_arguments_are_kept_nowhere(ansible, emulator, reachable, tmp_path, pipelining) -> None:
    """A module's own no_log option (get_url's url_password) and large arguments (a command's stdin) are not kept
    on the instance or the controller, in a first playbook run (the payload staged as chunks) and in the next
    (rebuilt from the kept payload), while the kept payloads themselves still do their job."""
    target = reachable[0]
    inventory = one_host_inventory(tmp_path, target)
    large = LARGE_ARGS + base64.b64encode(os.urandom(24_000)).decode()  # does not compress to fit inline
    play = play_file(tmp_path / "arguments.yml", [
        {"name": "Fetch", "ansible.builtin.get_url": {
            "url": "file:///etc/hostname", "dest": "/root/got-url", "url_password": PASSWORD, "force": True}},
        {"name": "Large arguments", "ansible.builtin.command": {"cmd": "wc -c", "stdin": large},
         "register": "counted"},
        {"name": "Check", "ansible.builtin.assert": {"that": [f"counted.stdout | int == {len(large) + 1}"]}},
    ])
    cache = Path(ansible.env["ANSIBLE_ALICLOUD_TRANSFER_CACHE"])
    options = ("-e", json.dumps({"ansible_pipelining": pipelining}))
    secrets = (PASSWORD, LARGE_ARGS)
    for _run in range(2):
        run = ansible.playbook(play, "-vvvv", *options, inventory=inventory)
        assert run.rc == 0, run.output
        assert PASSWORD not in run.output
        assert emulator.exec(target["id"], "cmp /etc/hostname /root/got-url && echo same")["stdout"] == "same\n"
        assert not gzip_aware_holders(cache, secrets)
        assert not gzip_aware_holders(Path(ansible.env["ANSIBLE_LOCAL_TEMP"]), secrets)
        # a wait: an envelope's exit trap may still be running when the agent has already reported the output
        wait_for(lambda: not instance_holders(emulator, target["id"], secrets),
                 "no copy of the arguments on the instance", step=0.5)
    kept = emulator.exec(target["id"], "ls /var/lib/alicloud-ecs/root | grep -c '[.]base$'")["stdout"]
    assert int(kept) >= 2, "the payloads are still kept (without their arguments) for the next run's deltas"
    assert list(cache.rglob("pieces/*")), "and so are the controller's copies"
