"""What an operator sees at -vvv and -vvvv: the invocations a task made, and one line per API call."""

from __future__ import annotations

import re

from test_connection import one_host_inventory, play_file


def test_vvv_names_invocations_and_vvvv_traces_every_api_call(ansible, emulator, reachable, tmp_path) -> None:
    target = reachable[0]
    inventory = one_host_inventory(tmp_path, target)
    playbook = play_file(tmp_path / "echo.yml", [{"name": "Echo", "ansible.builtin.command": "echo hello"}])
    secret = emulator.env()["ALIBABA_CLOUD_ACCESS_KEY_SECRET"]

    vvv = ansible.playbook(playbook, "-vvv", inventory=inventory)
    assert vvv.rc == 0, vvv.output
    invocation = re.compile(rf"<{target['id']}> RunCommand invocation (t-\S+) on {target['id']} in {target['region']}")
    assert invocation.search(vvv.stdout), vvv.stdout
    assert "API RunCommand" not in vvv.stdout

    vvvv = ansible.playbook(playbook, "-vvvv", inventory=inventory)
    assert vvvv.rc == 0, vvvv.output
    assert invocation.search(vvvv.stdout), vvvv.stdout
    for action in ("RunCommand", "DescribeInvocationResults"):
        line = re.compile(rf"<{target['id']}> API {action} {target['region']}: HTTP 2xx, request id \S+, "
                          rf"\d+\.\d{{3}} s, retry \d+")
        assert line.search(vvvv.stdout), vvvv.stdout
    assert secret not in vvvv.output


def test_v_reports_a_long_command_while_it_runs(ansible, reachable, tmp_path) -> None:
    target = reachable[0]
    inventory = one_host_inventory(tmp_path, target)
    playbook = play_file(tmp_path / "slow.yml", [{"name": "Slow", "ansible.builtin.command": "sleep 14"}])
    run = ansible.playbook(playbook, "-v", inventory=inventory)
    assert run.rc == 0, run.output
    assert re.search(rf"<{target['id']}> invocation t-\S+ on {target['id']}: still running after 1\d s", run.stdout), \
        run.stdout
