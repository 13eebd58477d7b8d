"""Agent behaviour under limits: TerminationMode on timeout/stop, the per-instance task pool, and
RepeatMode=DryRun (validated and recorded, never run). One emulator with ``agent_concurrency=2`` for the module."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from emulator_helpers import FLEET, wait_result

from emulator.testing import EmulatorProcess, wait_for

Api = Callable[..., dict[str, Any]]
# a background child (outliving every wait here) whose pid is written down, then a foreground sleep the timeout or StopInvocation interrupts
SPAWNER = "sleep 300 >/dev/null 2>&1 & echo $! > /tmp/child-{mode}.pid; sleep 30"
# an empty pid would read /proc//stat, which is /proc/stat: the pid must be there before the check means anything
ALIVE = 'p=$(cat /tmp/child-{mode}.pid); [ -n "$p" ] || exit 3; s=$(cut -d" " -f3 /proc/$p/stat 2>/dev/null); ' \
        '[ -n "$s" ] && [ "$s" != Z ] && echo alive || echo gone'


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorProcess]:
    """Overrides conftest's server: at most two tasks at once per instance."""
    with EmulatorProcess(fleet=FLEET, min_timeout=1, delivery_timeout=0.5, progress_interval=0.2,
                         agent_concurrency=2) as proc:
        yield proc


def start(api: Api, instance_id: str, script: str, **params: Any) -> str:
    """RunCommand on one instance, returns the InvokeId."""
    return api("RunCommand", RegionId="cn-hangzhou", Type="RunShellScript", CommandContent=script,
               **{"InstanceId.1": instance_id}, **params)["InvokeId"]


def wait_running(api: Api, *invoke_ids: str) -> None:
    """Until every invocation's record is Running."""
    def running() -> bool:
        return all(api("DescribeInvocationResults", RegionId="cn-hangzhou", InvokeId=invoke_id)["Invocation"][
            "InvocationResults"]["InvocationResult"][0]["InvocationStatus"] == "Running" for invoke_id in invoke_ids)
    wait_for(running, f"{', '.join(invoke_ids)} to run")


def test_termination_mode(emu: EmulatorProcess, api: Api, ids: dict[str, str]) -> None:
    process = start(api, ids["web-1"], SPAWNER.format(mode="Process"), Timeout=3)  # default mode: Process
    wait_child(emu, ids["web-1"], "Process")  # its timeout must come after the child has started
    tree = start(api, ids["web-2"], SPAWNER.format(mode="ProcessTree"), TerminationMode="ProcessTree")
    wait_running(api, tree)
    wait_child(emu, ids["web-2"], "ProcessTree")  # stopped before the child exists, the test would prove nothing
    api("StopInvocation", RegionId="cn-hangzhou", InvokeId=tree)
    assert [r["InvocationStatus"] for r in wait_result(api, process)] == ["Timeout"]
    assert [r["InvocationStatus"] for r in wait_result(api, tree)] == ["Terminated"]
    assert emu.exec(ids["web-1"], ALIVE.format(mode="Process"))["stdout"] == "alive\n"  # the child lives on
    assert child_gone(emu, ids["web-2"], ALIVE.format(mode="ProcessTree"))
    emu.exec(ids["web-1"], "kill $(cat /tmp/child-Process.pid)")
    with pytest.raises(ServerException) as exc:
        start(api, ids["web-1"], "true", TerminationMode="Group")
    assert (exc.value.get_error_code(), exc.value.get_http_status()) == ("InvalidTerminationMode.NotFound", 404)


def wait_child(emu: EmulatorProcess, instance_id: str, mode: str) -> None:
    """Until the script has written its background child's pid (a loaded machine may take a while to start it)."""
    def pid() -> str:
        return emu.exec(instance_id, f"cat /tmp/child-{mode}.pid")["stdout"].strip()
    wait_for(pid, f"the {mode} script's child to start")


def child_gone(emu: EmulatorProcess, instance_id: str, check: str) -> bool:
    """SIGKILL is delivered when the process next runs: on a loaded machine the child may take a moment to go.
    The child sleeps 300 s, so within the 60 s this waits only the kill can have ended it."""
    return bool(wait_for(lambda: emu.exec(instance_id, check)["stdout"] == "gone\n",
                         "the ProcessTree script's child to be killed", timeout=60, step=0.1))


def test_the_third_task_waits_for_a_slot(api: Api, ids: dict[str, str]) -> None:
    """The agent's pool (aliyun_assist_client agent/taskengine/taskpool.go) queues what its workers cannot take:
    with two workers the third task stays Pending, then runs once a slot is free; it is never aborted."""
    busy = [start(api, ids["db-1"], "sleep 30") for _slot in range(2)]
    wait_running(api, *busy)
    extra = start(api, ids["db-1"], "echo waited")
    time.sleep(1)
    [waiting] = api("DescribeInvocationResults", RegionId="cn-hangzhou", InvokeId=extra)["Invocation"][
        "InvocationResults"]["InvocationResult"]
    assert waiting["InvocationStatus"] == "Pending"
    api("StopInvocation", RegionId="cn-hangzhou", InvokeId=busy[0])
    [after] = wait_result(api, extra)
    assert (after["InvocationStatus"], after["ErrorCode"]) == ("Success", "")
    api("StopInvocation", RegionId="cn-hangzhou", InvokeId=busy[1])
    wait_result(api, busy[1])


def test_dry_run_validates_records_and_runs_nothing(emu: EmulatorProcess, api: Api, ids: dict[str, str]) -> None:
    body = api("RunCommand", RegionId="cn-hangzhou", Type="RunShellScript", CommandContent="touch /tmp/dry-ran",
               RepeatMode="DryRun", KeepCommand="true", **{"InstanceId.1": ids["web-1"], "InstanceId.2": ids["db-1"]})
    [inv] = api("DescribeInvocations", RegionId="cn-hangzhou", RepeatMode="DryRun")["Invocations"]["Invocation"]
    assert (inv["InvokeId"], inv["InvocationStatus"], inv["Timed"]) == (body["InvokeId"], "Success", False)
    records = wait_result(api, body["InvokeId"])
    assert [(r["InvocationStatus"], r["Repeats"], r["Output"], r["ExitCode"], r["StartTime"]) for r in records] == [
        ("Success", 0, "", 0, "")] * 2
    assert api("DescribeCommands", RegionId="cn-hangzhou", CommandId=body["CommandId"])["Commands"]["Command"] == []
    saved = api("CreateCommand", RegionId="cn-hangzhou", Name="dry", Type="RunShellScript",
                CommandContent="touch /tmp/dry-ran", ContentEncoding="PlainText")["CommandId"]
    invoked = api("InvokeCommand", RegionId="cn-hangzhou", CommandId=saved, RepeatMode="DryRun",
                  **{"InstanceId.1": ids["web-1"]})["InvokeId"]
    assert [r["InvocationStatus"] for r in wait_result(api, invoked)] == ["Success"]
    [command] = api("DescribeCommands", RegionId="cn-hangzhou", CommandId=saved)["Commands"]["Command"]
    assert command["InvokeTimes"] == 0
    assert emu.exec(ids["web-1"], "test -e /tmp/dry-ran; echo $?")["stdout"] == "1\n"
    with pytest.raises(ServerException) as exc:
        start(api, ids["stopped-1"], "true", RepeatMode="DryRun")
    assert exc.value.get_error_code() == "InvalidInstance.NotMatch"
