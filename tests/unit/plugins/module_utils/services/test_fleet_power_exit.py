"""A command that exits with the Cloud Assistant agent's power-off or reboot code (aliyun_assist_client
agent/taskengine/host/processor_unix.go: 193 / 194; processor_windows.go: 3009 / 3010) is reported as that."""

from __future__ import annotations

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.services.fleet import (
    Target, host_outcome, host_result, run_status, summarize,
)


@pytest.mark.parametrize(("status", "code", "command_type", "expected"), [
    ("Failed", 194, "RunShellScript", "Rebooted"), ("Failed", 193, "RunShellScript", "PoweredOff"),
    ("Failed", 3010, "RunPowerShellScript", "Rebooted"), ("Failed", 3009, "RunBatScript", "PoweredOff"),
    ("Failed", 3010, "RunShellScript", "Failed"), ("Failed", 194, "RunBatScript", "Failed"),
    ("Timeout", 194, "RunShellScript", "Timeout"), ("Success", 0, "RunShellScript", "Success"),
])
def test_the_agents_power_exit_codes(status: str, code: int, command_type: str, expected: str) -> None:
    assert run_status(status, code, command_type) == expected


def test_a_rebooting_host_is_not_failed_and_not_counted_as_failed() -> None:
    result = host_result(Target("web-1", "i-1", "cn-hangzhou"), 1, "Rebooted", exit_code=194, invoke_id="t-1")
    summary = summarize({"web-1": result}, ["t-1"], 1, 1)
    outcome = host_outcome(result, summary, fail_when_stopped=True)
    assert (outcome["failed"], outcome["changed"], outcome["rc"]) == (False, True, 194)
    assert outcome["msg"] == "the command exited 194 on instance i-1: the Cloud Assistant agent reboots the instance"
    assert (summary["succeeded"], summary["failed"]) == (["web-1"], [])
