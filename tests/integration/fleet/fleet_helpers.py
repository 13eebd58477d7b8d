"""Fleet-run helpers: a static inventory of emulated instances (the variables the alicloud.ecs.instances
inventory sets) and playbook runs whose every task result is recorded per host."""

from __future__ import annotations

import fcntl
import json
import os
import re
import select
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from emulator.testing import EmulatorProcess

FLEETS = Path(__file__).resolve().parent / "fleets"
CALLBACKS = Path(__file__).resolve().parent.parent / "callbacks"  # the record callback


@dataclass
class FleetPlay:
    rc: int
    output: str
    entries: list[dict]

    def result(self, task: str, host: str | None = None) -> dict:
        found = [item for item in self.entries if item["task"] == task and host in (None, item["host"])]
        assert found, f"task {task!r} did not run on {host or 'any host'}:\n{self.output[-4000:]}"
        return found[-1]["result"]

    def outcome(self, task: str) -> str:
        found = [item["outcome"] for item in self.entries if item["task"] == task]
        assert found, f"task {task!r} did not run:\n{self.output[-4000:]}"
        return found[-1]

    def per_host(self, task: str) -> dict[str, dict]:
        return {item["host"]: item["result"] for item in self.entries if item["task"] == task}


def fleet_emulator(tmp_path_factory, fleet: str, **options) -> Iterator[EmulatorProcess]:
    """The body of a test module's ``emulator`` fixture: one emulator on ``fleets/<fleet>``, its state in a
    fresh directory, ``options`` as EmulatorProcess takes them."""
    with EmulatorProcess(fleet=FLEETS / fleet, state_dir=tmp_path_factory.mktemp(Path(fleet).stem),
                         **options) as process:
        yield process


def names_to_ids(emulator) -> dict[str, str]:
    """Each emulated instance's name and id."""
    return {item["name"]: item["id"] for item in emulator.instances()}


def record_env(record: Path) -> dict[str, str]:
    """The environment that has the record callback write every task result of a run to ``record``."""
    return {"ANSIBLE_CALLBACK_PLUGINS": str(CALLBACKS), "ANSIBLE_CALLBACKS_ENABLED": "record",
            "RECORD_FILE": str(record), "ANSIBLE_DEPRECATION_WARNINGS": "false"}


def recorded(rc: int, output: str, record: Path) -> FleetPlay:
    """A finished run and what the record callback wrote (nothing when the run ended before any task)."""
    return FleetPlay(rc, output, json.loads(record.read_text()) if record.exists() else [])


def counters_task(emulator) -> dict:
    """Reads the emulator's API call counters once, from the controller, recorded as the task ``calls``."""
    return {"name": "calls", "ansible.builtin.uri": {"url": f"{emulator.endpoint}/_emulator/counters",
                                                     "headers": {"Authorization": f"Bearer {emulator.token}"}},
            "run_once": True, "delegate_to": "localhost"}


def host_order(name: str) -> tuple[str, int]:
    prefix, number = re.match(r"(.*?)-?(\d+)$", name).groups()
    return prefix, int(number)


def write_inventory(path: Path, instances: list[dict]) -> list[str]:
    """Hosts in a stable order (fleet-1 … fleet-20) with the instance variables the inventory plugin sets.

    No ``ansible_connection``: the action never connects to a host, so these tests do not depend on
    the connection plugin.
    """
    ordered = sorted(instances, key=lambda item: host_order(item["name"]))
    hosts = {item["name"]: {"ansible_alicloud_instance_id": item["id"], "ansible_alicloud_region": item["region"]}
             for item in ordered}
    path.write_text(json.dumps({"all": {"children": {"fleet": {"hosts": hosts}}}}))
    return list(hosts)


def prepare(emulator, tmp_path: Path, tasks: list[dict]) -> tuple[Path, Path, Path, dict[str, str]]:
    """Inventory, playbook, record file and the extra environment of one recorded fleet play."""
    inventory = tmp_path / "fleet.json"
    write_inventory(inventory, emulator.instances())
    playbook = tmp_path / "fleet-play.yml"
    playbook.write_text(json.dumps([{"name": "fleet", "hosts": "fleet", "gather_facts": False, "tasks": tasks}]))
    record = tmp_path / "record.json"
    record.unlink(missing_ok=True)
    return inventory, playbook, record, record_env(record)


def fleet_play(ansible, emulator, tmp_path: Path, tasks: list[dict], *args: str) -> FleetPlay:
    """Run ``tasks`` over the whole emulated fleet (hosts: fleet) and record every host's results."""
    inventory, playbook, record, env = prepare(emulator, tmp_path, tasks)
    run = ansible.playbook(playbook, *args, inventory=inventory, env=env)
    return recorded(run.rc, run.output, record)


def _own_terminal() -> None:
    """In the child: a new session whose controlling terminal is the pty on stdin (as in a real shell)."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def fleet_play_tty(ansible, emulator, tmp_path: Path, tasks: list[dict], prompt: str, answer: bytes) -> FleetPlay:
    """Like fleet_play, in a terminal: types ``answer`` each time ``prompt`` appears."""
    inventory, playbook, record, env = prepare(emulator, tmp_path, tasks)
    primary, secondary = os.openpty()
    process = subprocess.Popen(  # pylint: disable=subprocess-popen-preexec-fn
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), str(playbook)],
        env=dict(ansible.env, **env), cwd=str(ansible.env.get("PWD", ".")), stdin=secondary, stdout=secondary,
        stderr=secondary, preexec_fn=_own_terminal)
    os.close(secondary)
    output, answered, due = b"", 0, None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if due is not None and time.monotonic() >= due:
            # ansible puts the terminal in raw mode (flushing pending input) just after printing the
            # prompt, so the keys go in a moment later, as a person would type them.
            os.write(primary, answer)
            due = None
        ready, _w, _x = select.select([primary], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(primary, 65536)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
            if output.count(prompt.encode()) > answered:
                answered += 1
                due = time.monotonic() + 1.0
        elif process.poll() is not None:
            break
    if process.poll() is None:
        process.kill()
    process.wait(timeout=30)
    os.close(primary)
    return recorded(process.returncode, output.decode(errors="replace"), record)


def own_fact_task() -> dict:
    """Every host reports the fact it holds: its own entry, read from its own point of view."""
    return {"name": "own fact", "ansible.builtin.debug": {"var": "ansible_facts.alicloud_run"}}
