"""alicloud.ecs.run as a per-host task on 6 isolated emulated instances: the command runs exactly once on
every instance however the task is invoked, in one RunCommand per batch, and every host reports its own
result (failed in the recap, register, facts in a jsonfile cache). Unrunnable instances fail alone; an
interrupt stops the batch's invocation."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.api.client import CloudClient, resolve_settings
from emulator.testing import wait_for

from fleet_helpers import FleetPlay, names_to_ids, record_env, recorded

FLEET_FILE = "per_host.yml"  # 4 running instances, a stopped one and one with an offline agent
pytestmark = pytest.mark.usefixtures("fresh")
RUN = "fleet run"
LATER = "later task"
NODES = ["node-1", "node-2", "node-3", "node-4"]
COUNT = "echo x >> /root/runcount; hostname"


def write_inventory(emulator, path: Path, alias: bool = False) -> Path:
    """Groups ``nodes`` (the running instances; with ``alias``, also alias-1 = node-1's instance) and ``broken``."""
    ids = names_to_ids(emulator)

    def host(name: str) -> dict:
        return {"ansible_alicloud_instance_id": ids[name], "ansible_alicloud_region": "cn-hangzhou"}
    nodes = {name: host(name) for name in NODES}
    if alias:
        nodes["alias-1"] = host("node-1")
    path.write_text(json.dumps({"all": {"children": {
        "nodes": {"hosts": nodes}, "broken": {"hosts": {name: host(name) for name in ("stopped-1", "dark-1")}}}}}))
    return path


def recorded_run(ansible, emulator, tmp_path: Path, command: list[str], alias: bool = False,
                 env: dict | None = None) -> FleetPlay:
    record = tmp_path / "record.json"
    record.unlink(missing_ok=True)
    inventory = write_inventory(emulator, tmp_path / "inventory.json", alias)
    run = ansible.run(command[0], "-i", str(inventory), *command[1:], env={**record_env(record), **(env or {})})
    return recorded(run.rc, run.output, record)


def play(ansible, emulator, tmp_path: Path, tasks: list[dict], *args: str, hosts: str = "nodes",
         alias: bool = False, env: dict | None = None, **keywords) -> FleetPlay:
    playbook = tmp_path / "play.yml"
    playbook.write_text(json.dumps([{"name": "per host", "hosts": hosts, "gather_facts": False, **keywords,
                                     "tasks": tasks}]))
    return recorded_run(ansible, emulator, tmp_path, ["ansible-playbook", str(playbook), *args], alias, env)


def runs(emulator) -> dict[str, int]:
    """How many times the command ran on each running instance (lines in its /root/runcount)."""
    return {name: int(emulator.exec(iid, "cat /root/runcount 2>/dev/null | wc -l")["stdout"].strip())
            for name, iid in names_to_ids(emulator).items() if name in NODES}


def run_task(**extra) -> dict:
    return {"name": RUN, "alicloud.ecs.run": {"content": COUNT}, **extra}


FORMS = {
    "per host, forks 5": ([run_task()], [], {}, 1),
    "forks smaller than the hosts": ([run_task()], ["--forks", "2"], {}, 1),
    "run_once": ([run_task(run_once=True)], [], {}, 1),
    "serial 2": ([run_task()], [], {"serial": 2}, 2),
    "strategy free": ([run_task()], [], {"strategy": "free"}, None),
}


@pytest.mark.parametrize("form", list(FORMS))
def test_runs_exactly_once_on_every_instance(ansible, emulator, tmp_path, form):
    tasks, args, keywords, run_commands = FORMS[form]
    played = play(ansible, emulator, tmp_path, tasks, *args, **keywords)
    assert played.rc == 0, played.output[-3000:]
    assert runs(emulator) == dict.fromkeys(NODES, 1)
    calls = emulator.counters()["RunCommand"]
    if run_commands is None:
        assert 1 <= calls <= len(NODES)  # free: each host moves on its own (docs/fleet.md)
    else:
        assert calls == run_commands
    if form != "run_once":
        results = played.per_host(RUN)
        assert {host: (item["stdout"], item["rc"], item["changed"]) for host, item in results.items()} == \
            {host: (f"{host}\n", 0, True) for host in NODES}


def test_ad_hoc_runs_once_per_instance(ansible, emulator, tmp_path):
    played = recorded_run(ansible, emulator, tmp_path, ["ansible", "nodes", "-m", "alicloud.ecs.run", "-a",
                                                        json.dumps({"content": COUNT}), "--forks", "2"])
    assert played.rc == 0, played.output[-3000:]
    assert runs(emulator) == dict.fromkeys(NODES, 1)
    assert emulator.counters()["RunCommand"] == 1


def test_two_inventory_names_for_one_instance_run_it_once(ansible, emulator, tmp_path):
    played = play(ansible, emulator, tmp_path, [run_task()], alias=True)
    assert played.rc == 0, played.output[-3000:]
    assert runs(emulator) == dict.fromkeys(NODES, 1)
    assert emulator.counters()["RunCommand"] == 1
    results = played.per_host(RUN)
    assert results["alias-1"]["stdout"] == results["node-1"]["stdout"] == "node-1\n"


def test_when_is_honoured_per_host(ansible, emulator, tmp_path):
    played = play(ansible, emulator, tmp_path, [run_task(when="inventory_hostname != 'node-2' and go | bool")],
                  "--forks", "2", "-e", "go=true")
    assert played.rc == 0, played.output[-3000:]
    assert runs(emulator) == {"node-1": 1, "node-2": 0, "node-3": 1, "node-4": 1}
    assert emulator.counters()["RunCommand"] == 1
    outcomes = {item["host"]: item["outcome"] for item in played.entries if item["task"] == RUN}
    assert outcomes == {"node-1": "changed", "node-2": "skipped", "node-3": "changed", "node-4": "changed"}


def test_a_failing_host_fails_alone_and_keeps_its_own_result(ansible, emulator, tmp_path):
    emulator.exec(names_to_ids(emulator)["node-3"], "touch /etc/fail-me")
    cache = tmp_path / "facts"
    tasks = [run_task(register="ran", **{"alicloud.ecs.run": {"content": "hostname; test ! -e /etc/fail-me"}}),
             {"name": LATER, "ansible.builtin.debug": {"msg": "{{ ran.rc }} {{ ran.status }} {{ ansible_facts.alicloud_run.status | default('unset') }}"}}]
    played = play(ansible, emulator, tmp_path, tasks, "--forks", "2", env={
        "ANSIBLE_CACHE_PLUGIN": "jsonfile", "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(cache)})
    assert played.rc == 2, played.output[-3000:]
    assert "node-3" in played.output.split("PLAY RECAP")[1] and "failed=1" in played.output.split("PLAY RECAP")[1]
    outcomes = {item["host"]: item["outcome"] for item in played.entries if item["task"] == RUN}
    assert outcomes == {"node-1": "changed", "node-2": "changed", "node-3": "failed", "node-4": "changed"}
    failed = played.result(RUN, "node-3")
    assert failed["rc"] == 1 and failed["status"] == "Failed"
    assert failed["msg"] == f"the command exited 1 on instance {names_to_ids(emulator)['node-3']}"
    later = {item["host"]: item["result"]["msg"] for item in played.entries if item["task"] == LATER}
    assert later == {host: "0 Success Success" for host in ("node-1", "node-2", "node-4")}
    # The facts are each host's real values, and a jsonfile fact cache keeps them.
    cached = cached_facts(cache, "node-2")
    assert cached["alicloud_run"]["output"] == "node-2\n" and cached["alicloud_run"]["status"] == "Success"
    assert cached["alicloud_run_summary"]["counts"] == {"Success": 3, "Failed": 1}

    # ignore_errors: the failed host goes on, and register holds its own result.
    emulator.reset_counters()
    tasks[0]["ignore_errors"] = True
    played = play(ansible, emulator, tmp_path, tasks)
    assert played.rc == 0, played.output[-3000:]
    # ansible sets no facts from a failed task; register holds the host's own result.
    assert played.result(LATER, "node-3")["msg"] == "1 Failed unset"
    assert emulator.counters()["RunCommand"] == 1


def cached_facts(cache: Path, host: str) -> dict:
    """What ansible's jsonfile fact cache holds for ``host`` (file names carry a prefix; 2.19+ wraps the JSON)."""
    (path,) = cache.glob(f"*{host}")
    data = json.loads(path.read_text())
    return json.loads(data["__payload__"]) if "__payload__" in data else data


def test_stopped_and_agent_offline_instances_fail_alone_with_their_causes(ansible, emulator, tmp_path):
    ids = names_to_ids(emulator)
    played = play(ansible, emulator, tmp_path, [run_task(**{"alicloud.ecs.run": {"content": "hostname"}})],
                  hosts="nodes:broken")
    assert played.rc == 2, played.output[-3000:]
    outcomes = {item["host"]: item["outcome"] for item in played.entries if item["task"] == RUN}
    assert outcomes == {**dict.fromkeys(NODES, "changed"), "stopped-1": "failed", "dark-1": "failed"}
    stopped = played.result(RUN, "stopped-1")
    assert stopped["msg"].startswith(f"instance {ids['stopped-1']} is Stopped"), stopped["msg"]
    assert not stopped["changed"]
    dark = played.result(RUN, "dark-1")
    assert f"the Cloud Assistant agent of instance {ids['dark-1']} did not take the command" in dark["msg"], dark
    for host in NODES:
        assert played.result(RUN, host)["stdout"] == f"{host}\n"


def test_a_dynamic_include_runs_once_on_the_hosts_that_include_it(ansible, emulator, tmp_path):
    (tmp_path / "included.yml").write_text(json.dumps([run_task()]))
    played = play(ansible, emulator, tmp_path, [{
        "name": "include", "ansible.builtin.include_tasks": str(tmp_path / "included.yml"),
        "when": "inventory_hostname != 'node-2'"}])
    assert played.rc == 0, played.output[-3000:]
    assert runs(emulator) == {"node-1": 1, "node-2": 0, "node-3": 1, "node-4": 1}
    assert emulator.counters()["RunCommand"] == 1  # forks 5: the three hosts arrive together
    assert set(played.per_host(RUN)) == {"node-1", "node-3", "node-4"}


def test_options_rendered_differently_per_host_run_with_each_hosts_own_values(ansible, emulator, tmp_path):
    content = "echo x >> /root/runcount; echo {{ 'odd' if inventory_hostname in ['node-1', 'node-3'] else 'even' }}"
    played = play(ansible, emulator, tmp_path, [run_task(**{"alicloud.ecs.run": {"content": content}})],
                  "--forks", "2")
    assert played.rc == 0, played.output[-3000:]
    assert runs(emulator) == dict.fromkeys(NODES, 1)
    assert {host: item["stdout"] for host, item in played.per_host(RUN).items()} == {
        "node-1": "odd\n", "node-2": "even\n", "node-3": "odd\n", "node-4": "even\n"}
    # node-1 sends for itself and node-3; node-2 and node-4 differ from it, so each sends its own.
    assert emulator.counters()["RunCommand"] == 3


def test_an_interrupt_mid_batch_stops_the_batch_invocation(ansible, emulator, tmp_path):
    playbook = tmp_path / "play.yml"
    playbook.write_text(json.dumps([{"name": "per host", "hosts": "nodes", "gather_facts": False, "tasks": [
        run_task(**{"alicloud.ecs.run": {"content": "sleep 25; echo done >> /root/runcount"}})]}]))
    inventory = write_inventory(emulator, tmp_path / "inventory.json")
    client = CloudClient(resolve_settings(env=emulator.env()), region="cn-hangzhou")

    def running() -> list[dict]:
        found = client.call("DescribeInvocations", MaxResults=50)["Invocations"]["Invocation"]
        return [item for item in found if item["InvocationStatus"] == "Running"]
    process = subprocess.Popen([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory),
                                str(playbook), "--forks", "2"], env=ansible.env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        [invocation] = wait_for(running, "the batch's invocation to run")
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=120)[0]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode != 0
    wait_for(lambda: emulator.counters().get("StopInvocation", 0) >= 1, f"the stop:\n{output}")
    assert emulator.counters()["StopInvocation"] == 1 and emulator.counters()["RunCommand"] == 1
    assert f"SIGINT: stopped invocation {invocation['InvokeId']} (alicloud.ecs.run-" in output, output
    ended = wait_for(lambda: [item for item in client.call("DescribeInvocations", InvokeId=invocation["InvokeId"])[
        "Invocations"]["Invocation"] if item["InvocationStatus"] not in ("Running", "Stopping")], "the end")
    assert ended[0]["InvocationStatus"] in ("Stopped", "Cancelled", "Terminated"), ended
    assert runs(emulator) == dict.fromkeys(NODES, 0)


def test_without_reading_output_each_host_still_gets_its_exit_code(ansible, emulator, tmp_path):
    emulator.exec(names_to_ids(emulator)["node-3"], "touch /etc/fail-me")
    played = play(ansible, emulator, tmp_path, [run_task(ignore_errors=True, **{"alicloud.ecs.run": {
        "content": "hostname; test ! -e /etc/fail-me", "read_output": False}})])
    assert played.rc == 0, played.output[-3000:]
    results = played.per_host(RUN)
    assert {host: (item["rc"], item["stdout"]) for host, item in results.items()} == {
        "node-1": (0, ""), "node-2": (0, ""), "node-3": (1, ""), "node-4": (0, "")}
    assert results["node-3"]["msg"].startswith("the command exited 1 on instance")
    outcomes = {item["host"]: item["outcome"] for item in played.entries if item["task"] == RUN}
    assert outcomes == {"node-1": "changed", "node-2": "changed", "node-3": "failed", "node-4": "changed"}
