"""An endpoint this ansible run has never reached fails within 10 s with the reason; once it has answered in the
run (in any of its processes: a module's, a worker's), an outage is waited out with the retry budget, and a
controller-side plugin says so every 10 s while it waits.

The outages are real: the emulator's API process is killed and started again on the same port and state
(EmulatorProcess.crash/start), while ansible-playbook runs."""

from __future__ import annotations

import json
import re
import socket
import sys
import threading
import time
from pathlib import Path

import pytest

from emulator.testing import EmulatorProcess, wait_for

OUTAGE = 15.0  # longer than the first-contact window, far shorter than the retry budget
DEMO_FLEET = Path(__file__).resolve().parents[2] / "emulator" / "fleets" / "demo.yml"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    """Overrides the demo fleet's emulator: these tests kill and restart the API process."""
    with EmulatorProcess(fleet=DEMO_FLEET, state_dir=tmp_path_factory.mktemp("first-contact")) as process:
        yield process


def closed_port() -> int:
    """A local port nothing listens on (bound once, then released): connections to it are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_endpoint_never_reached_fails_within_ten_seconds(ansible, emulator):
    port = closed_port()
    started = time.monotonic()
    played = ansible.play([{"name": "info", "alicloud.ecs.instance_info": {}}],
                          env={"ALIBABA_CLOUD_ECS_ENDPOINT": f"http://127.0.0.1:{port}"})
    elapsed = time.monotonic() - started
    assert played.rc != 0
    message = played.result("info")["msg"]
    assert f"cannot reach http://127.0.0.1:{port}: connection refused" in message, message
    assert "this run has not reached that endpoint yet" in message and "check the endpoint" in message
    attempts, seconds = re.search(r"gave up after (\d+) attempt\(s\) in ([\d.]+) s", message).groups()
    # A refused connection fails in milliseconds: retried for ~5 s (10 s less the connect timeout), a handful of
    # attempts, where the 120 s outage budget makes dozens (pauses grow to 10 s at most).
    assert 1 <= int(attempts) <= 12 and float(seconds) <= 10.0, message
    assert elapsed < 60, elapsed  # generous: ansible's own start-up included; the budget alone would be 120 s


class Outages:
    """Kills the emulator's API process each time ``trigger-N`` appears, says so in ``down-N``, and starts it
    again OUTAGE seconds later."""

    def __init__(self, emulator: EmulatorProcess, directory: Path, count: int) -> None:
        self.emulator = emulator
        self.directory = directory
        self.count = count
        self.downtimes: list[float] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        for number in range(1, self.count + 1):
            try:
                wait_for(lambda n=number: (self.directory / f"trigger-{n}").exists(), f"trigger {number}", timeout=180)
            except AssertionError:
                return
            self.emulator.crash()
            down = time.monotonic()
            (self.directory / f"down-{number}").touch()
            time.sleep(OUTAGE)
            self.emulator.start()
            self.downtimes.append(time.monotonic() - down)

    def __enter__(self) -> Outages:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        for number in range(1, self.count + 1):  # never leave the emulator down for the next test
            (self.directory / f"trigger-{number}").touch()
        self.thread.join(timeout=180)
        if self.emulator.proc is None:
            self.emulator.start()


def outage_tasks(directory: Path, number: int) -> list[dict]:
    return [
        {"name": f"start outage {number}", "ansible.builtin.file": {"path": str(directory / f"trigger-{number}"),
                                                                    "state": "touch"}},
        {"name": f"outage {number} began", "ansible.builtin.wait_for": {"path": str(directory / f"down-{number}"),
                                                                        "timeout": 60}},
    ]


def test_once_the_endpoint_answered_in_the_run_outages_are_waited_out_in_every_process(ansible, emulator, tmp_path):
    """A module reaches the API; then two 15 s outages: another module's process, then the run action's worker,
    each meet the API down on their first call and wait it out (the run action saying so every 10 s)."""
    web = emulator.instance_id("web-1")
    with Outages(emulator, tmp_path, 2) as outages:
        played = ansible.play([
            {"name": "reach", "alicloud.ecs.instance_info": {"filters": {"instance_ids": [web]}}},
            *outage_tasks(tmp_path, 1),
            {"name": "module in the outage", "alicloud.ecs.instance_info": {"filters": {"instance_ids": [web]}}},
            *outage_tasks(tmp_path, 2),
            {"name": "action in the outage", "alicloud.ecs.run": {"content": "hostname", "instance_ids": [web]}},
        ])
    assert played.rc == 0, played.output[-4000:]
    assert len(outages.downtimes) == 2 and min(outages.downtimes) >= OUTAGE
    assert [item["instance_id"] for item in played.result("module in the outage")["instances"]] == [web]
    assert played.result("action in the outage")["results"][web]["status"] == "Success"
    # The progress line of the waiting action, at the default verbosity (the module's process has no display)
    assert re.search(r"RunCommand has failed for 1\d s \(SDK\.HttpError: cannot reach http://127\.0\.0\.1:\d+: "
                     r"connection refused", played.output), played.output[-4000:]


def test_workers_waiting_out_one_outage_take_turns_to_say_so(ansible, emulator, reachable, tmp_path):
    """Four hosts over the connection reach the API, then all four workers meet a 15 s outage at once: each waits
    it out, and the run prints about one progress line per 10 s between them, not one per worker."""
    hosts = sorted(reachable, key=lambda item: item["name"])[:4]
    inventory = tmp_path / "hosts.json"
    inventory.write_text(json.dumps({"all": {"hosts": {
        "localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
        **{item["name"]: {"ansible_connection": "alicloud.ecs.cloud_assistant",
                          "ansible_alicloud_instance_id": item["id"], "ansible_alicloud_region": item["region"]}
           for item in hosts}}}}))
    names = [item["name"] for item in hosts]
    playbook = tmp_path / "play.yml"
    playbook.write_text(json.dumps([
        {"name": "reach", "hosts": ",".join(names), "gather_facts": False,
         "tasks": [{"name": "before", "ansible.builtin.raw": "true"}]},
        {"name": "outage", "hosts": "localhost", "gather_facts": False, "tasks": outage_tasks(tmp_path, 1)},
        {"name": "through it", "hosts": ",".join(names), "gather_facts": False,
         "tasks": [{"name": "during", "ansible.builtin.raw": "echo through"}]},
    ]))
    with Outages(emulator, tmp_path, 1) as outages:
        run = ansible.playbook(playbook, "-f", "4", inventory=inventory)
    assert run.rc == 0 and run.stdout.split("TASK [during]", 1)[1].count("changed: [") == 4, run.output[-4000:]
    assert outages.downtimes and outages.downtimes[0] >= OUTAGE
    lines = re.findall(r"has failed for (\d+) s \(SDK\.HttpError: cannot reach", run.output)
    # 15 s of outage: a mark at 10 s (and one at 20 s for a worker whose retry came late) for the whole run;
    # without turns each of the four workers would print its own
    assert 1 <= len(lines) <= 3, run.output[-4000:]
