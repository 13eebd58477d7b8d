"""alicloud.ecs.run written from hosts that are not its targets (``hosts: localhost`` or a bastion group, with
``instance_ids`` or ``instance_tags``, no ``run_once``): the registered result holds the whole run (every
instance's result, the summary, the facts) and fails when the run failed, as the ``run_once`` form does, and the
command goes out once per batch however many such hosts run the task."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from fleet_helpers import FleetPlay, names_to_ids, record_env, recorded

FLEET_FILE = "per_host.yml"  # 4 running instances (node-1..4), a stopped one and one whose agent is offline
pytestmark = pytest.mark.usefixtures("fresh")
RUN = "fleet run"
SHOW = "show"
COUNT = "echo x >> /root/runcount; hostname"


def play(ansible, tmp_path: Path, hosts: str, tasks: list[dict], *args: str) -> FleetPlay:
    """``tasks`` on ``hosts`` of an inventory holding only a bastion group (two local hosts, not instances)."""
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({"all": {"children": {"bastion": {"hosts": {
        "bastion-1": local, "bastion-2": local}}}}}))
    playbook = tmp_path / "play.yml"
    playbook.write_text(json.dumps([{"name": "from the controller", "hosts": hosts, "gather_facts": False,
                                     "tasks": tasks}]))
    record = tmp_path / "record.json"
    record.unlink(missing_ok=True)
    run = ansible.playbook(playbook, *args, inventory=inventory, env=record_env(record))
    return recorded(run.rc, run.output, record)


def runs(emulator, names: list[str]) -> dict[str, int]:
    """How many times the command ran on each named instance (lines in its /root/runcount)."""
    ids = names_to_ids(emulator)
    return {name: int(emulator.exec(ids[name], "cat /root/runcount 2>/dev/null | wc -l")["stdout"].strip())
            for name in names}


def test_localhost_with_instance_ids_registers_the_whole_run_and_fails_with_it(ansible, emulator, tmp_path):
    """The acceptance case: one running and one stopped instance, from localhost, no run_once."""
    names = names_to_ids(emulator)
    running, stopped = names["node-1"], names["stopped-1"]
    played = play(ansible, tmp_path, "localhost", [
        {"name": RUN, "alicloud.ecs.run": {"content": COUNT, "instance_ids": [running, stopped]},
         "register": "fleet", "ignore_errors": True},
        {"name": SHOW, "ansible.builtin.debug": {"var": "fleet"}},
    ])
    assert played.outcome(RUN) == "failed", played.output[-4000:]
    registered = played.result(SHOW, "localhost")["fleet"]
    results = registered["results"]
    assert set(results) == {running, stopped}, registered
    assert results[running]["status"] == "Success" and results[running]["output"] == "node-1\n"
    assert results[stopped]["status"] == "NotRunnable"
    assert results[stopped]["error_info"] == f"instance {stopped} is Stopped", results[stopped]
    assert results[stopped]["error_code"] == "InvalidInstance.NotMatch"
    # max_errors 0: the refused instance stops the run, and the task fails saying which, as with run_once
    assert registered["failed"] is True
    assert registered["msg"].startswith("alicloud.ecs.run stopped: ") and registered["msg"].endswith(stopped)
    assert registered["summary"]["failed"] == [stopped] and registered["summary"]["succeeded"] == [running]
    assert runs(emulator, ["node-1"]) == {"node-1": 1}


def test_a_run_within_max_errors_succeeds_and_sets_the_facts(ansible, emulator, tmp_path):
    names = names_to_ids(emulator)
    played = play(ansible, tmp_path, "localhost", [
        {"name": RUN, "alicloud.ecs.run": {"content": COUNT, "instance_ids": [names["node-2"], names["stopped-1"]],
                                           "max_errors": 1}, "register": "fleet"},
        {"name": SHOW, "ansible.builtin.debug": {"msg": "{{ ansible_facts.alicloud_run_results | dict2items | "
                                                        "map(attribute='value.status') | sort }} "
                                                        "{{ ansible_facts.alicloud_run_summary.counts }}"}},
    ])
    assert played.rc == 0, played.output[-4000:]
    result = played.result(RUN, "localhost")
    assert result["changed"] and result["msg"] == f"1 host(s) failed within max_errors: {names['stopped-1']}"
    assert result["results"][names["node-2"]]["output"] == "node-2\n"
    shown = played.result(SHOW, "localhost")["msg"]
    assert shown.startswith("['NotRunnable', 'Success'] "), shown


def test_a_bastion_group_runs_the_command_once_and_each_bastion_registers_it(ansible, emulator, tmp_path):
    """Two hosts that are not targets, no run_once: one run for the batch (as run_once), and each bastion's task
    registers the whole of it."""
    nodes = ["node-1", "node-2", "node-3", "node-4"]
    played = play(ansible, tmp_path, "bastion", [
        {"name": RUN, "alicloud.ecs.run": {"content": COUNT, "instance_tags": {"role": "node"}}, "register": "fleet"},
        {"name": SHOW, "ansible.builtin.debug": {"var": "fleet.summary.counts"}},
    ], "-f", "2")
    assert played.rc == 0, played.output[-4000:]
    assert runs(emulator, nodes) == dict.fromkeys(nodes, 1)
    counters = emulator.counters()
    assert counters["RunCommand"] == 1 and counters["DescribeInstances"] == 1, counters
    by_id = {value: name for name, value in names_to_ids(emulator).items()}
    for bastion in ("bastion-1", "bastion-2"):
        result = played.result(RUN, bastion)
        assert {by_id[key]: item["output"] for key, item in result["results"].items()} == \
            {name: f"{name}\n" for name in nodes}, result
        assert played.result(SHOW, bastion)["fleet.summary.counts"] == {"Success": 4}


def test_check_mode_from_localhost_says_what_would_run(ansible, emulator, tmp_path):
    names = names_to_ids(emulator)
    played = play(ansible, tmp_path, "localhost", [
        {"name": RUN, "alicloud.ecs.run": {"content": COUNT, "instance_ids": [names["node-1"], names["node-3"]]}},
    ], "--check")
    assert played.rc == 0, played.output[-4000:]
    assert "would run RunShellScript on 2 instance(s)" in played.result(RUN, "localhost")["msg"]
    assert emulator.counters().get("RunCommand", 0) == 0


def test_bastions_whose_targets_differ_each_run_their_own(ansible, emulator, tmp_path):
    """A per-host variable gives each bastion its own targets: each runs (and registers) its own, once."""
    names = names_to_ids(emulator)
    played = play(ansible, tmp_path, "bastion", [
        {"name": RUN, "alicloud.ecs.run": {"content": COUNT, "instance_ids": ["{{ mine }}"]}, "register": "fleet",
         "vars": {"mine": "{{ node_of[inventory_hostname] }}"}},
    ], "-f", "2", "-e", json.dumps({"node_of": {"bastion-1": names["node-1"], "bastion-2": names["node-2"]}}))
    assert played.rc == 0, played.output[-4000:]
    assert runs(emulator, ["node-1", "node-2", "node-3"]) == {"node-1": 1, "node-2": 1, "node-3": 0}
    assert emulator.counters()["RunCommand"] == 2
    for bastion, node in (("bastion-1", "node-1"), ("bastion-2", "node-2")):
        assert {key: item["output"] for key, item in played.result(RUN, bastion)["results"].items()} == \
            {names[node]: f"{node}\n"}
