"""alicloud.ecs.run with ``engine: oos`` on 1,000 emulated instances (two regions, ``isolation: none`` as in
test_run_scale.py): the emulator's OOS runs ACS-ECS-BulkyRunCommand, the controller only starts, polls and reads.

The error threshold stops the run as the controller engine does, in a handful of calls; a controller killed with
SIGKILL leaves the execution running in the emulator, and running the task again re-attaches to it (no second
execution, no instance twice); an interrupt cancels the execution and no instance starts after it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.api.client import CloudClient, resolve_settings
from emulator.testing import wait_for

from fleet_helpers import counters_task, fleet_play, own_fact_task, record_env

# 1,000 instances (600 + 400 in two regions), not isolated, as in test_run_scale.py.
FLEET_FILE = "thousand.yml"
EMULATOR_OPTIONS = {"isolation": "none"}
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("fresh")]  # slow: the 1,000-instance fleet
RUN = "fleet run"
MAX_CALLS = 20
SHAPE = {"status", "exit_code", "output", "dropped", "error_code", "error_info", "invoke_id", "instance_id", "region",
         "batch", "health_check", "rollback"}


def oos(emulator, region: str = "cn-hangzhou") -> CloudClient:
    return CloudClient(resolve_settings(env=emulator.env()), region=region)


def executions(emulator, region: str = "cn-hangzhou") -> list[dict]:
    return oos(emulator, region).call("ListExecutions", product="oos", MaxResults=100)["Executions"]


def loop_items(emulator, execution_id: str, region: str = "cn-hangzhou") -> list[dict]:
    client, items, token = oos(emulator, region), [], None
    while True:
        page = client.call("ListTaskExecutions", product="oos", ExecutionId=execution_id, MaxResults=100,
                           IncludeChildTaskExecution=True, NextToken=token)
        items += [item for item in page["TaskExecutions"] if item["LoopItem"]]
        token = page.get("NextToken")
        if not token:
            return items


def test_error_threshold_stops_the_run_in_a_handful_of_calls_with_the_controller_shapes(ansible, emulator, tmp_path):
    instances = {item["name"]: item for item in emulator.instances()}
    failing = [instances[name]["id"] for name in ("hz-40", "hz-90", "hz-150")]
    content = "case \"$(pwd)\" in " + "|".join(f"*{iid}*" for iid in failing) + ") exit 3;; esac; echo ran in $(pwd)"
    played = fleet_play(ansible, emulator, tmp_path, [
        {"name": RUN, "alicloud.ecs.run": {"content": content, "engine": "oos", "concurrency": "10%",
                                           "max_errors": 2, "fail_when_stopped": False}, "run_once": True},
        counters_task(emulator), own_fact_task()], "--forks", "50")
    assert played.rc == 0, played.output[-4000:]
    counters = played.result("calls")["json"]
    assert sum(counters.values()) <= MAX_CALLS, counters
    assert counters["StartExecution"] == 2 and "RunCommand" not in counters  # one execution per region
    result = played.result(RUN)
    summary = result["summary"]
    assert summary["stopped"].startswith("3 instance(s) failed, more than max_errors (2)"), summary
    # The three failed; the other region's execution was cancelled at the threshold (its commands in flight were
    # stopped, reported Cancelled, and not counted as failures of their own).
    assert {name for name in summary["failed"] if result["results"][name]["status"] == "Failed"} == {
        "hz-40", "hz-90", "hz-150"}, summary["failed"]
    assert set(summary["counts"]) <= {"Success", "Failed", "Skipped", "Cancelled"}, summary["counts"]
    assert summary["counts"].get("Skipped", 0) > 0 and summary["counts"]["Success"] > 0, summary["counts"]
    assert len(summary["invoke_ids"]) == 2 and all(iid.startswith("exec-") for iid in summary["invoke_ids"])
    assert set(result["results"]["hz-40"]) == SHAPE
    assert result["results"]["hz-40"]["exit_code"] == 3 and result["results"]["hz-40"]["status"] == "Failed"
    facts = played.per_host("own fact")
    assert len(facts) == 1000
    ran = {name: facts[name]["ansible_facts.alicloud_run"] for name in instances}
    for name, fact in ran.items():
        assert set(fact) == SHAPE and fact["instance_id"] == instances[name]["id"]
        if fact["status"] == "Success":
            assert fact["exit_code"] == 0 and fact["output"].startswith("ran in ") and instances[name]["id"] in fact[
                "output"]
    assert "alicloud.ecs.run: batch 1/1: 1000 instance(s), 100 at a time" in played.output
    assert "failed so far 3 (max_errors 2)" in played.output, played.output[:3000]
    # No instance past the threshold started: what OOS ran is what the results say ran.
    started = sum(len(loop_items(emulator, execution["ExecutionId"], region)) for region in ("cn-hangzhou", "cn-shanghai")
                  for execution in executions(emulator, region))
    assert started == 1000 - summary["counts"]["Skipped"]


def playbook(tmp_path: Path, emulator, content: str, count: int, **options) -> tuple[Path, Path, list[str]]:
    """A play on localhost that runs ``content`` on ``count`` instances of cn-hangzhou (explicit targets)."""
    ids = sorted(item["id"] for item in emulator.instances() if item["region"] == "cn-hangzhou")[:count]
    path = tmp_path / "oos-play.yml"
    path.write_text(json.dumps([{"name": "oos", "hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": RUN, "alicloud.ecs.run": {"content": content, "engine": "oos", "instance_ids": ids,
                                           "region": "cn-hangzhou", **options}}]}]))
    record = tmp_path / "record.json"
    return path, record, ids


def start(ansible, path: Path, record: Path) -> subprocess.Popen:
    env = dict(ansible.env, **record_env(record))
    return subprocess.Popen([str(Path(sys.executable).parent / "ansible-playbook"), str(path)], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def test_a_killed_controller_leaves_the_execution_running_and_a_rerun_reattaches(ansible, emulator, tmp_path):
    path, record, ids = playbook(tmp_path, emulator, "sleep 2; echo x >> runs; wc -l < runs", 20, concurrency=5)
    process = start(ansible, path, record)
    try:
        [execution] = wait_for(lambda: [item for item in executions(emulator) if item["Status"] == "Running"],
                               "the execution to run")
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert "CancelExecution" not in emulator.counters()
    finished = wait_for(lambda: [item for item in executions(emulator) if item["Status"] in ("Success", "Failed")],
                        "the execution to finish without its controller")
    assert finished[0]["ExecutionId"] == execution["ExecutionId"] and finished[0]["Status"] == "Success"
    again = start(ansible, path, record)
    output = again.communicate(timeout=300)[0]
    assert again.returncode == 0, output[-4000:]
    listed = executions(emulator)
    assert [item["ExecutionId"] for item in listed] == [execution["ExecutionId"]]  # no second execution
    items = loop_items(emulator, execution["ExecutionId"])
    assert sorted(item["LoopItem"] for item in items) == sorted(ids)  # every instance once
    entries = json.loads(record.read_text())
    result = [item for item in entries if item["task"] == RUN][-1]["result"]
    assert result["summary"]["counts"] == {"Success": 20} and result["summary"]["invoke_ids"] == [
        execution["ExecutionId"]]
    assert {item["output"].strip() for item in result["results"].values()} == {"1"}  # ran once on each


def test_wait_false_returns_the_execution_at_once_and_a_rerun_collects_it(ansible, emulator, tmp_path):
    path, record, ids = playbook(tmp_path, emulator, "sleep 1; echo collected", 5, wait=False)
    first = start(ansible, path, record)
    output = first.communicate(timeout=300)[0]
    assert first.returncode == 0, output[-4000:]
    result = [item for item in json.loads(record.read_text()) if item["task"] == RUN][-1]["result"]
    [execution_id] = result["summary"]["invoke_ids"]
    assert result["summary"]["counts"] == {"Pending": 5} and "run the same task again" in result["msg"]
    path.write_text(path.read_text().replace('"wait": false', '"wait": true'))
    # The ClientToken does not depend on wait: the same task with wait: true attaches to that execution.
    collect = start(ansible, path, record)
    output = collect.communicate(timeout=300)[0]
    assert collect.returncode == 0, output[-4000:]
    result = [item for item in json.loads(record.read_text()) if item["task"] == RUN][-1]["result"]
    assert result["summary"]["invoke_ids"] == [execution_id] and result["summary"]["counts"] == {"Success": 5}
    assert all(item["output"].strip() == "collected" for item in result["results"].values())
    assert len(executions(emulator)) == 1


def test_an_interrupt_cancels_the_execution_and_no_instance_starts_after_it(ansible, emulator, tmp_path):
    path, record, ids = playbook(tmp_path, emulator, "sleep 30", 20, concurrency=4)
    process = start(ansible, path, record)
    try:
        [execution] = wait_for(lambda: [item for item in executions(emulator) if item["Status"] == "Running"
                                        and loop_items(emulator, item["ExecutionId"])], "the execution to run")
        os.killpg(process.pid, signal.SIGINT)
        output = process.communicate(timeout=120)[0]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode != 0
    assert f"SIGINT: cancelled execution {execution['ExecutionId']}" in output, output[-4000:]
    assert emulator.counters().get("CancelExecution") == 1
    ended = wait_for(lambda: [item for item in executions(emulator) if item["Status"] == "Cancelled"], "the cancel")
    assert ended[0]["ExecutionId"] == execution["ExecutionId"]
    started = commands(emulator, execution["ExecutionId"])
    time.sleep(3)  # a loop that went on would start the next items within this
    # The first wave (concurrency 4, each sleeping 30 s) had started; nothing after it did.
    assert commands(emulator, execution["ExecutionId"]) == started == 4
    assert {item["Status"] for item in loop_items(emulator, execution["ExecutionId"])} == {"Cancelled"}


def commands(emulator, execution_id: str) -> int:
    """The RunCommands the execution's loop sent (the template names them after the execution)."""
    found = oos(emulator).call("DescribeInvocations", CommandName=execution_id, MaxResults=50)
    return len(found["Invocations"]["Invocation"])


def test_batches_pause_health_check_and_rollback_run_in_oos_too(ansible, emulator, tmp_path):
    ids = sorted(item["id"] for item in emulator.instances() if item["region"] == "cn-hangzhou")[:12]
    unhealthy = ids[5]  # in the second batch
    path, record, _ids = playbook(
        tmp_path, emulator, "echo applied > applied; echo applied", 12, batch_size=4, pause="every",
        pause_continue=True, health_check=f"case \"$(pwd)\" in *{unhealthy}*) exit 1;; esac; cat applied",
        rollback="rm -f applied; echo rolled back", fail_when_stopped=False)
    process = start(ansible, path, record)
    output = process.communicate(timeout=300)[0]
    assert process.returncode == 0, output[-4000:]
    result = [item for item in json.loads(record.read_text()) if item["task"] == RUN][-1]["result"]
    summary, results = result["summary"], result["results"]
    assert summary["batches"] == 3 and summary["batches_done"] == 1, summary
    assert summary["stopped"] == f"the health check of batch 2 failed on {unhealthy}"
    assert results[unhealthy]["status"] == "HealthCheckFailed" and results[unhealthy]["health_check"]["exit_code"] == 1
    assert {results[iid]["status"] for iid in ids[8:]} == {"Skipped"}
    assert sorted(summary["rolled_back"]) == sorted(ids[:8])  # the two batches that were started
    assert all(results[iid]["rollback"]["status"] == "Success" for iid in ids[:8])
    assert "not interactive; pause_continue is set, starting batch 2" in output
    assert "batch 2/3: health check failed on" in output
    # Every phase ran as OOS executions: two batches, two health checks, one rollback; no RunCommand of the controller.
    assert len(summary["invoke_ids"]) == 5 and all(iid.startswith("exec-") for iid in summary["invoke_ids"])
    assert "RunCommand" not in emulator.counters()
