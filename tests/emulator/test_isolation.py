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
from emulator_helpers import FLEET, output, run

from aliyunsdkcore.request import CommonRequest

from emulator.testing import EmulatorProcess

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


def test_restart_cleans_stale_inits(tmp_path: Path) -> None:
    """A killed emulator leaves inits behind; the next one on the same state dir kills them."""
    state = tmp_path / "state"
    first = EmulatorProcess(fleet=FLEET, state_dir=state).start()
    iid = first.instance_id("web-1")
    assert first.exec(iid, "echo persisted > /root/p")["exit_code"] == 0
    pid = next(i for i in first.instances() if i["id"] == iid)["isolation"]["init_pid"]
    assert first.proc is not None
    first.proc.kill()  # no clean shutdown
    first.proc.wait()
    assert Path(f"/proc/{pid}").exists()
    with EmulatorProcess(fleet=FLEET, state_dir=state) as second:
        assert not Path(f"/proc/{pid}").exists()
        assert second.exec(iid, "cat /root/p")["stdout"] == "persisted\n"


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
        deadline = time.monotonic() + 10
        while fresh.exec(instance_id, f"test -e /etc/{marker}")["exit_code"] != 0:
            assert time.monotonic() < deadline, "the file never arrived in the instance"
    assert not Path(f"/etc/{marker}").exists(), "SendFile wrote onto the host"
