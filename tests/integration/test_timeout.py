"""A command that outlives its timeout is stopped on the instance and reported with its InvokeId."""

from __future__ import annotations

import re
from pathlib import Path

from ansible_collections.alicloud.ecs.plugins.module_utils.api.client import CloudClient, resolve_settings

PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"


def test_timeout_stops_the_command_and_names_the_invocation(ansible, emulator, reachable) -> None:
    run = ansible.playbook(PLAYBOOKS / "timeout.yml")
    assert run.rc != 0
    invoke_id = re.search(r"invocation (t-[0-9a-z]+)", run.output)
    assert invoke_id, run.output
    assert "ExecutionTimeout" in run.output
    host = reachable[0]["id"]
    assert "sleep 120" not in emulator.exec(host, "ps -eo args")["stdout"], "the command is still running"

    # The cloud's own record names the play and the controller's user and host (audit trail).
    client = CloudClient(resolve_settings(env=emulator.env()), region=reachable[0]["region"])
    [record] = client.call("DescribeInvocations", InvokeId=invoke_id.group(1))["Invocations"]["Invocation"]
    assert record["CommandName"] == "ansible: A command that outlives its timeout"
    tags = {tag["TagKey"]: tag["TagValue"] for tag in record["Tags"]["Tag"]}
    assert {"alicloud-ecs:controller-user", "alicloud-ecs:controller-host"} <= set(tags)
