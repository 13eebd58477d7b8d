"""alicloud.ecs.run when a command asks the Cloud Assistant agent to reboot (exit 194) or power off (exit 193) the
instance: the agent reports the result and then does it (aliyun_assist_client agent/taskengine/host/processor.go
``SideEffect``), the emulator's instances too. The hosts report Rebooted / PoweredOff, not a failure."""

from __future__ import annotations

import pytest

from emulator.testing import EmulatorProcess, wait_for

from fleet_helpers import fleet_play

RUN = "fleet run"
FLEET = {
    "access_keys": [{"id": "LTAI5tPowerExitTests", "secret": "power-exit-tests-secret"}],
    "regions": [{"id": "cn-hangzhou", "name": "China (Hangzhou)", "zones": ["cn-hangzhou-h"]}],
    "instances": [{"name": "power", "region": "cn-hangzhou", "count": 3}],
}
CONTENT = "case $(hostname) in power-1) echo rebooting; exit 194;; power-2) exit 193;; *) echo fine;; esac"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    """Three instances; fast power transitions."""
    with EmulatorProcess(fleet=FLEET, state_dir=tmp_path_factory.mktemp("power-exit"), transition_delay=0.2) as process:
        yield process


def status_of(emulator, name: str) -> str:
    return next(item["status"] for item in emulator.instances() if item["name"] == name)


def instance_id(emulator, name: str) -> str:
    return next(item["id"] for item in emulator.instances() if item["name"] == name)


def test_a_reboot_or_power_off_exit_code_is_reported_as_such(ansible, emulator, tmp_path):
    rebooting = instance_id(emulator, "power-1")
    emulator.exec(rebooting, "setsid sleep 1000 > /dev/null 2>&1 < /dev/null &")  # a reboot ends it
    played = fleet_play(ansible, emulator, tmp_path, [{"name": RUN, "alicloud.ecs.run": {"content": CONTENT}}])
    assert played.rc == 0, played.output
    hosts = played.per_host(RUN)
    assert {host: (result["status"], result["rc"], bool(result.get("failed"))) for host, result in hosts.items()} == {
        "power-1": ("Rebooted", 194, False), "power-2": ("PoweredOff", 193, False), "power-3": ("Success", 0, False)}
    assert hosts["power-1"]["stdout"] == "rebooting\n"
    assert "reboots the instance" in hosts["power-1"]["msg"] and "powers off" in hosts["power-2"]["msg"]
    assert hosts["power-3"]["summary"]["counts"] == {"Rebooted": 1, "PoweredOff": 1, "Success": 1}
    wait_for(lambda: status_of(emulator, "power-2") == "Stopped", "power-2 to power off")

    def rebooted() -> bool:
        return status_of(emulator, "power-1") == "Running" and \
            emulator.exec(rebooting, "pgrep -x sleep || echo none")["stdout"] == "none\n"
    wait_for(rebooted, "power-1 to be back from its reboot")
