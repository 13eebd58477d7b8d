"""SIGINT or SIGTERM to ansible-playbook stops every invocation the run has in flight, and says which."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.api.client import CloudClient, resolve_settings
from emulator.testing import wait_for

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN_DIR = Path(sys.executable).parent
DEMO_INVENTORY = REPO_ROOT / "playbooks" / "inventory" / "demo.alicloud_ecs.yml"

SLOW = "sleep 25 && echo done"


def invocations(emulator, region: str, name: str) -> list[dict]:
    """The region's invocations whose command name is ``name`` or starts with ``name-``."""
    client = CloudClient(resolve_settings(env=emulator.env()), region=region)
    answer = client.call("DescribeInvocations", MaxResults=50)
    return [item for item in answer["Invocations"]["Invocation"]
            if item["CommandName"] == name or item["CommandName"].startswith(f"{name}-")]


def interrupt(ansible, emulator, tmp_path, play: list[dict], args: list[str], region: str, name: str,
              running: int, signum: int) -> tuple[str, list[dict]]:
    """Start the play, wait until ``running`` invocations named ``name`` run, send ``signum``, and return the
    play's output and the invocations once ansible-playbook has exited."""
    playbook = tmp_path / "interrupted.yml"
    playbook.write_text(json.dumps(play))
    before = emulator.counters().get("StopInvocation", 0)
    proc = subprocess.Popen([str(BIN_DIR / "ansible-playbook"), *args, str(playbook)], env=ansible.env, cwd=REPO_ROOT,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: len([item for item in invocations(emulator, region, name)
                              if item["InvocationStatus"] == "Running"]) >= running, f"{running} running invocations")
        proc.send_signal(signum)
        output = proc.communicate(timeout=120)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # Each invocation is stopped exactly once (ansible's SIGTERM to its workers right after the SIGINT stops
    # nothing twice); the workers send the stops while ansible-playbook exits.
    wait_for(lambda: emulator.counters().get("StopInvocation", 0) - before >= running, f"the stops:\n{output}", 60)
    assert emulator.counters().get("StopInvocation", 0) - before == running, output
    assert proc.returncode != 0

    def ended() -> list[dict] | None:
        found = invocations(emulator, region, name)
        return found if all(item["InvocationStatus"] not in ("Pending", "Running", "Stopping") for item in found) else None

    every = wait_for(ended, "the invocations to end")
    assert len(every) == running, every
    return output, every


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_the_playbook_stops_every_command_in_flight(ansible, emulator, tmp_path, reachable, signum) -> None:
    hosts = [item for item in reachable if item["region"] == "cn-hangzhou"]
    name = f"interrupted-{signum}"
    play = [{"name": "interrupted", "hosts": ",".join(item["name"] for item in hosts), "gather_facts": False,
             "vars": {"ansible_alicloud_invocation_name": name},
             "tasks": [{"name": "a long command", "ansible.builtin.raw": SLOW}]}]
    output, ended = interrupt(ansible, emulator, tmp_path, play, ["-i", str(DEMO_INVENTORY), "-f", "5"],
                              "cn-hangzhou", name, len(hosts), signum)
    assert len(ended) == len(hosts)
    for item in ended:
        assert item["InvocationStatus"] in ("Stopped", "Cancelled", "Terminated"), item
        assert f"{signal.Signals(signum).name}: stopped invocation {item['InvokeId']} (on " in output, output
    for host in hosts:
        assert "sleep 25" not in emulator.exec(host["id"], "ps -eo args")["stdout"]


def test_a_module_waiting_on_an_invocation_stops_it_when_interrupted(ansible, emulator, tmp_path, reachable) -> None:
    hosts = [item for item in reachable if item["region"] == "cn-hangzhou"]
    name = "interrupted-module"
    play = [{"name": "controller", "hosts": "localhost", "gather_facts": False, "tasks": [{
        "name": "run and wait", "alicloud.ecs.invocation": {
            "content": SLOW, "instance_ids": [item["id"] for item in hosts], "name": name, "region": "cn-hangzhou"}}]}]
    inventory = tmp_path / "controller.ini"
    inventory.write_text(f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    output, ended = interrupt(ansible, emulator, tmp_path, play, ["-i", str(inventory)], "cn-hangzhou", name, 1,
                              signal.SIGINT)
    [item] = ended
    assert item["InvocationStatus"] in ("Stopped", "Cancelled", "Terminated"), item
    assert f"SIGINT: stopped invocation {item['InvokeId']} (on {len(hosts)} instances)" in output, output


def test_a_fleet_run_in_flight_is_stopped_when_interrupted(ansible, emulator, tmp_path, reachable) -> None:
    hosts = [item for item in reachable if item["region"] == "cn-hangzhou"]
    play = [{"name": "fleet", "hosts": ",".join(item["name"] for item in hosts), "gather_facts": False,
             "tasks": [{"name": "a long fleet run", "alicloud.ecs.run": {"content": SLOW}}]}]
    output, ended = interrupt(ansible, emulator, tmp_path, play, ["-i", str(DEMO_INVENTORY), "-f", "5"],
                              "cn-hangzhou", "alicloud.ecs.run", 1, signal.SIGINT)
    [item] = ended  # one RunCommand for the whole batch
    assert item["InvocationStatus"] in ("Stopped", "Cancelled", "Terminated"), item
    assert f"SIGINT: stopped invocation {item['InvokeId']} (alicloud.ecs.run-" in output, output
