"""Isolation: each instance has its own root filesystem, hostname and PID namespace; stop/start keeps files."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from emulator_helpers import FLEET, KEY_ID, SECRET, output, run, sdk_call, wait_result

from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import CommonRequest

from emulator.testing import EmulatorProcess, wait_for

Api = Callable[..., dict[str, Any]]

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="namespace isolation needs root")


def test_health_reports_namespace_mode(emu: EmulatorProcess) -> None:
    assert emu.health()["isolation"] == "namespace"


def test_file_in_etc_stays_on_its_instance(emu: EmulatorProcess, api: Api, ids: dict[str, str]) -> None:
    marker = f"emulator-{uuid.uuid4().hex}"
    [r] = run(api, [ids["web-1"]], f"echo {marker} > /etc/{marker}; cat /etc/{marker}")
    assert output(r) == f"{marker}\n"
    assert emu.exec(ids["web-1"], f"cat /etc/{marker}")["stdout"] == f"{marker}\n"
    assert emu.exec(ids["web-2"], f"test -e /etc/{marker}")["exit_code"] == 1
    assert not Path(f"/etc/{marker}").exists()


def test_hostname_and_pid_namespace(emu: EmulatorProcess, api: Api, ids: dict[str, str]) -> None:
    records = run(api, [ids["web-1"], ids["web-2"]], "hostname; cat /proc/1/cmdline | tr '\\0\\n' '  '; echo; ps -e | wc -l")
    by_id = {r["InstanceId"]: output(r).splitlines() for r in records}
    assert by_id[ids["web-1"]][0] == "web-1" and by_id[ids["web-2"]][0] == "web-2"
    for lines in by_id.values():
        assert "os.wait()" in lines[1]  # PID 1 is the instance's reaper, not the host's init
        assert int(lines[2]) < 10       # only the instance's own processes are visible


def test_the_hostname_resolves_inside_the_instance(emu: EmulatorProcess, ids: dict[str, str]) -> None:
    """Cloud images list their hostname in /etc/hosts; without it sudo warns "unable to resolve host" on every call."""
    out = emu.exec(ids["web-1"], "getent hosts \"$(hostname)\"")
    assert out["exit_code"] == 0 and "web-1" in out["stdout"], out


def test_state_dir_is_hidden_inside(emu: EmulatorProcess, ids: dict[str, str]) -> None:
    out = emu.exec(ids["web-1"], f"ls -A {emu.state_dir.resolve()}")
    assert out["stdout"].strip() == ""


def test_stop_start_keeps_files_and_restarts_init(emu: EmulatorProcess, api: Api, ids: dict[str, str]) -> None:
    emu.exec(ids["db-1"], "echo kept > /root/kept; sleep 300 >/dev/null 2>&1 &")
    before = next(i for i in emu.instances() if i["id"] == ids["db-1"])["isolation"]["init_pid"]
    emu.set_instance(ids["db-1"], status="Stopped")
    assert not Path(f"/proc/{before}").exists()
    emu.set_instance(ids["db-1"], status="Running")
    out = emu.exec(ids["db-1"], "cat /root/kept; pgrep -c sleep || true")
    assert out["stdout"].split() == ["kept", "0"]


def test_a_crashed_emulator_s_instances_and_commands_run_on_and_the_next_one_takes_them_over(tmp_path: Path) -> None:
    """A killed API process leaves instances and their commands running, as an outage of the real control plane
    does; the next emulator on the same state dir adopts the inits, follows the commands to their real results
    (also one that ended while nothing watched) and does new work in the same instances."""
    state = tmp_path / "state"
    first = EmulatorProcess(fleet=FLEET, state_dir=state).start()
    client = AcsClient(KEY_ID, SECRET, "cn-hangzhou", proxy={"http": "", "https": ""})

    def api(action: str, **params: Any) -> dict[str, Any]:
        return sdk_call(client, first.endpoint, action, **{"RegionId": "cn-hangzhou", **params})

    def started(iid: str, script: str) -> str:
        return api("RunCommand", Type="RunShellScript", CommandContent=script, **{"InstanceId.1": iid})["InvokeId"]

    try:
        iid = first.instance_id("web-1")
        assert first.exec(iid, "echo persisted > /root/p")["exit_code"] == 0
        pid = next(i for i in first.instances() if i["id"] == iid)["isolation"]["init_pid"]
        slow = started(iid, "sleep 4; echo slow done; exit 3")
        quick = started(iid, "sleep 1; echo quick done")
        # polled often, so the crash comes while the quick one still runs
        wait_for(lambda: api("DescribeInvocationResults", InvokeId=slow)["Invocation"]["InvocationResults"][
            "InvocationResult"][0]["InvocationStatus"] == "Running", "the slow command to run", step=0.05)
        first.crash()
        assert Path(f"/proc/{pid}").exists()
        time.sleep(2)  # the quick one ends while no emulator runs
        first.start()
        assert next(i for i in first.instances() if i["id"] == iid)["isolation"]["init_pid"] == pid
        assert first.exec(iid, "cat /root/p")["stdout"] == "persisted\n"
        [quick_result] = wait_result(api, quick)
        assert (quick_result["InvocationStatus"], output(quick_result)) == ("Success", "quick done\n")
        [slow_result] = wait_result(api, slow)
        assert (slow_result["InvocationStatus"], slow_result["ExitCode"], output(slow_result)) == (
            "Failed", 3, "slow done\n")
        [again] = wait_result(api, started(iid, "cat /root/p; hostname"))
        assert output(again) == "persisted\nweb-1\n"
        sent = api("SendFile", **{"InstanceId.1": iid}, Name="f", TargetDir="/root", Content="after the restart")
        wait_for(lambda: first.exec(iid, "cat /root/f 2>/dev/null")["stdout"] == "after the restart",
                 f"the file sent after the restart to arrive ({sent['InvokeId']})")
    finally:
        first.stop()
    assert not Path(f"/proc/{pid}").exists()


def test_host_mode_is_flagged(tmp_path: Path) -> None:
    with EmulatorProcess(fleet=FLEET, state_dir=tmp_path / "s", isolation="none") as host:
        assert host.health()["isolation"] == "none"
        iid = host.instance_id("web-1")
        out = host.exec(iid, "pwd")
        assert out["stdout"].strip().startswith(str((tmp_path / "s").resolve()))


def test_cli_run_passes_environment_and_exit_code(tmp_path: Path) -> None:
    script = ("import os, sys; print(os.environ['ALIBABA_CLOUD_ECS_ENDPOINT']); "
              "print(os.environ['ALIBABA_CLOUD_REGION_ID']); sys.exit(7)")
    done = subprocess.run([sys.executable, "-m", "emulator", "run", "--state-dir", str(tmp_path / "s"), "--",
                           sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[2], check=False)
    assert done.returncode == 7, done.stderr
    endpoint, region = done.stdout.split()
    assert endpoint.startswith("http://127.0.0.1:") and region == "cn-hangzhou"


def test_file_sent_to_a_fresh_instance_never_lands_on_the_host(client: Any) -> None:
    """Regression: a SendFile that started an instance raced the init's chroot and wrote to the host.

    A cold emulator makes the window widest, so this starts its own.
    """
    marker = f"emulator-first-{uuid.uuid4().hex}"
    with EmulatorProcess(fleet=FLEET) as fresh:
        instance_id = fresh.instances()[0]["id"]
        request = CommonRequest(domain=fresh.endpoint.removeprefix("http://"), version="2014-05-26",
                                action_name="SendFile")
        request.set_method("POST")
        for key, value in {"RegionId": fresh.instances()[0]["region"], "InstanceId.1": instance_id,
                           "Name": marker, "TargetDir": "/etc", "Content": "x"}.items():
            request.add_query_param(key, value)
        client.do_action_with_exception(request)
        wait_for(lambda: fresh.exec(instance_id, f"test -e /etc/{marker}")["exit_code"] == 0,
                 "the file to arrive in the instance")
    assert not Path(f"/etc/{marker}").exists(), "SendFile wrote onto the host"
