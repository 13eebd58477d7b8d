"""What is UNREACHABLE and what is FAILED, case by case (the table in docs/connection.md), as with ssh.

UNREACHABLE: nothing could run on the instance (endpoint unreachable, credentials refused, instance not
Running, agent offline). FAILED: the command ran and failed, timed out or was stopped, so ignore_errors,
rescue and until handle it.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import yaml

from ansible_collections.alicloud.ecs.plugins.module_utils.api.client import CloudClient, resolve_settings
from emulator.testing import wait_for

CALLBACKS = Path(__file__).resolve().parent / "callbacks"


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_play(ansible, tmp_path, hosts: dict[str, dict], tasks: list[dict], name: str) -> tuple[list[dict], str]:
    inventory = tmp_path / f"{name}.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": hosts, "vars": {
        "ansible_connection": "alicloud.ecs.cloud_assistant", "ansible_python_interpreter": "/usr/bin/python3"}}}))
    playbook = tmp_path / f"{name}-play.yml"
    playbook.write_text(json.dumps([{"name": name, "hosts": "all", "gather_facts": False, "tasks": tasks}]))
    record = tmp_path / f"{name}.json"
    run = ansible.run("ansible-playbook", "-i", str(inventory), str(playbook), "-f", "10", env={
        "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACKS), "ANSIBLE_CALLBACKS_ENABLED": "record", "RECORD_FILE": str(record)})
    return json.loads(record.read_text()), run.output


def outcomes(entries: list[dict], task: str) -> dict[str, tuple[str, dict]]:
    return {entry["host"]: (entry["outcome"], entry["result"]) for entry in entries if entry["task"] == task}


def test_only_an_instance_that_cannot_be_reached_is_unreachable(ansible, emulator, tmp_path) -> None:
    ids = {item["name"]: item for item in emulator.instances()}
    web = {"ansible_alicloud_instance_id": ids["web-1"]["id"], "ansible_alicloud_region": "cn-hangzhou"}
    hosts = {
        "stopped": {"ansible_alicloud_instance_id": ids["legacy-1"]["id"], "ansible_alicloud_region": "cn-shanghai"},
        "agent-offline": {"ansible_alicloud_instance_id": ids["dark-1"]["id"], "ansible_alicloud_region": "cn-shanghai",
                          "ansible_alicloud_command_timeout": 10, "ansible_alicloud_wait_margin": 20},
        "no-endpoint": {**web, "ansible_alicloud_endpoint": f"http://127.0.0.1:{closed_port()}",
                        "ansible_alicloud_retry_budget": 2},
        "wrong-secret": {**web, "ansible_alicloud_secret_key": "not-the-secret"},
        "fine": web,
    }
    entries, output = run_play(ansible, tmp_path, hosts, [
        {"name": "reach", "ansible.builtin.raw": "true"},
    ], "reach")
    seen = outcomes(entries, "reach")
    assert {host: outcome for host, (outcome, _result) in seen.items()} == {
        "stopped": "unreachable", "agent-offline": "unreachable", "no-endpoint": "unreachable",
        "wrong-secret": "unreachable", "fine": "changed"}, output
    stopped = seen["stopped"][1]["msg"]
    assert f"instance {ids['legacy-1']['id']} is Stopped (not Running)" in stopped
    assert "InvalidInstance.NotMatch" in stopped and "request id" in stopped, stopped
    assert "ClientNotResponse" in seen["agent-offline"][1]["msg"]
    assert "SDK.HttpError" in seen["no-endpoint"][1]["msg"] or "cannot reach" in seen["no-endpoint"][1]["msg"]
    assert "not-the-secret" not in output
    assert "SignatureDoesNotMatch" in seen["wrong-secret"][1]["msg"]


def test_a_command_that_ran_is_a_task_failure_that_rescue_and_ignore_errors_handle(ansible, emulator, tmp_path) -> None:
    ids = {item["name"]: item for item in emulator.instances()}
    hosts = {"web": {"ansible_alicloud_instance_id": ids["web-2"]["id"], "ansible_alicloud_region": "cn-hangzhou",
                     "ansible_alicloud_command_timeout": 10}}
    name = f"stopped-from-outside-{time.monotonic_ns()}"
    client = CloudClient(resolve_settings(env=emulator.env()), region="cn-hangzhou")

    def stop_when_running() -> None:
        running = wait_for(lambda: client.call("DescribeInvocations", CommandName=name, InvocationStatus="Running")[
            "Invocations"]["Invocation"], "the task to stop from outside to run")
        client.call("StopInvocation", InvokeId=running[0]["InvokeId"])

    stopper = threading.Thread(target=stop_when_running)
    stopper.start()
    entries, output = run_play(ansible, tmp_path, hosts, [
        {"name": "exits non-zero", "ansible.builtin.raw": "exit 3", "ignore_errors": True},
        {"name": "user missing", "ansible.builtin.raw": "true", "ignore_errors": True,
         "vars": {"ansible_user": "nobody-here"}},
        {"block": [{"name": "times out", "ansible.builtin.raw": "sleep 60"}],
         "rescue": [{"name": "rescued", "ansible.builtin.debug": {"msg": "rescued"}}]},
        {"name": "stopped from outside", "ansible.builtin.raw": "sleep 60", "ignore_errors": True,
         "vars": {"ansible_alicloud_invocation_name": name}},
        {"name": "still reachable", "ansible.builtin.raw": "echo fine"},
    ], "ran")
    stopper.join()
    assert outcomes(entries, "exits non-zero")["web"][0] == "failed"
    assert outcomes(entries, "user missing")["web"][0] == "failed"
    assert "AccountNotExists" in outcomes(entries, "user missing")["web"][1]["msg"]
    outcome, result = outcomes(entries, "times out")["web"]
    assert outcome == "failed" and "ExecutionTimeout" in result["msg"]
    assert "ran longer than its timeout of 10s and was stopped" in result["msg"] and "invocation t-" in result["msg"]
    assert outcomes(entries, "rescued")["web"][0] == "ok"
    outcome, result = outcomes(entries, "stopped from outside")["web"]
    assert outcome == "failed" and "was stopped (StopInvocation)" in result["msg"], output
    assert outcomes(entries, "still reachable")["web"][0] == "changed", output
