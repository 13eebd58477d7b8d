"""alicloud.ecs.invocation end to end: runs that change the instance, failures, timeouts, full output, stop."""

from __future__ import annotations

import base64

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.api.client import CloudClient, resolve_settings

MODULE = "alicloud.ecs.invocation"


def api(emulator, region: str | None = None) -> CloudClient:
    """A client of the collection's own, for setting up saved commands and reading back invocations."""
    return CloudClient(resolve_settings(env=emulator.env(), region=region))


def raw(text: str) -> str:
    """Content with Cloud Assistant ``{{ placeholders }}``, kept away from Ansible's own templating."""
    return "{% raw %}" + text + "{% endraw %}"


def local_reachable(emulator, reachable) -> list[str]:
    region = emulator.env()["ALIBABA_CLOUD_REGION_ID"]
    return [item["id"] for item in reachable if item["region"] == region]


def test_check_mode_runs_nothing(ansible, emulator, reachable):
    target = local_reachable(emulator, reachable)[0]
    emulator.exec(target, "rm -f /root/check-mode")
    emulator.reset_counters()
    played = ansible.play([{"name": "try", MODULE: {"content": "touch /root/check-mode", "instance_ids": [target]}}],
                          check=True)
    assert played.rc == 0, played.output
    result = played.result("try")
    assert played.outcome("try") == "changed"
    assert result["instance_ids"] == [target] and "would run" in result["msg"]
    calls = emulator.counters()
    assert not {"RunCommand", "InvokeCommand", "StopInvocation"} & set(calls), calls
    assert emulator.exec(target, "test -e /root/check-mode")["exit_code"] == 1


def test_runs_on_every_instance_and_again(ansible, emulator, reachable):
    targets = local_reachable(emulator, reachable)
    assert len(targets) >= 2
    for target in targets:
        emulator.exec(target, "rm -f /root/runs.log")
    task = {"name": "run", MODULE: {"content": "hostname >> /root/runs.log; echo to-stderr >&2; cat /root/runs.log",
                                    "instance_ids": targets, "name": "append-hostname", "tags": {"purpose": "test"}}}
    first = ansible.play([task])
    assert first.rc == 0, first.output
    result = first.result("run")
    assert first.outcome("run") == "changed" and result["status"] == "Success"
    assert {item["instance_id"] for item in result["results"]} == set(targets)
    for item in result["results"]:
        hostname = emulator.exec(item["instance_id"], "hostname")["stdout"].strip()
        assert item["exit_code"] == 0 and item["dropped"] == 0 and item["start_time"] and item["finish_time"]
        assert item["output"] == f"to-stderr\n{hostname}\n"
        assert emulator.exec(item["instance_id"], "cat /root/runs.log")["stdout"] == f"{hostname}\n"
    # Running is changing: a second run runs again (idempotence is the script's business).
    second = ansible.play([task])
    assert second.rc == 0 and second.outcome("run") == "changed"
    assert second.result("run")["invoke_id"] != result["invoke_id"]
    for target in targets:
        assert len(emulator.exec(target, "cat /root/runs.log")["stdout"].splitlines()) == 2


def test_parameters_user_and_working_dir(ansible, emulator, reachable):
    target = local_reachable(emulator, reachable)[0]
    played = ansible.play([{"name": "params", MODULE: {
        "content": raw("echo \"{{greeting}} from {{ ACS::InstanceId }} in $(pwd) as $(id -un)\""),
        "parameters": {"greeting": "hello 'world'"}, "instance_ids": [target], "working_dir": "/tmp",
        "timeout": 30}}])
    assert played.rc == 0, played.output
    output = played.result("params")["results"][0]["output"]
    assert output.startswith(f"hello 'world' from {target} in /tmp as root")


def test_tag_targeting_alone_and_with_ids(ansible, emulator):
    region = emulator.env()["ALIBABA_CLOUD_REGION_ID"]
    web = {item["id"] for item in emulator.instances() if item["region"] == region and item["tags"].get("role") == "web"}
    db = emulator.instance_id("db-1")
    emulator.reset_counters()
    tagged = ansible.play([{"name": "tags", MODULE: {"content": "echo tagged", "instance_tags": {"role": "web"}}}])
    assert tagged.rc == 0, tagged.output
    assert {item["instance_id"] for item in tagged.result("tags")["results"]} == web
    assert "DescribeInstances" not in emulator.counters()  # ResourceTag: the service resolves the tags
    both = ansible.play([{"name": "both", MODULE: {
        "content": "echo both", "instance_tags": {"role": "web"}, "instance_ids": [db]}}])
    assert both.rc == 0, both.output
    assert {item["instance_id"] for item in both.result("both")["results"]} == web | {db}
    none = ansible.play([{"name": "none", MODULE: {
        "content": "true", "instance_tags": {"role": "nothing"}, "instance_ids": [db]}}])
    assert none.rc != 0 and "no instance of the region carries" in none.result("none")["msg"]


def test_full_output_as_another_user(ansible, emulator, reachable):
    target = local_reachable(emulator, reachable)[0]
    played = ansible.play([{"name": "user", MODULE: {
        "content": "id -un; seq 1 30000 | sha256sum; seq 1 30000", "username": "nobody", "working_dir": "/tmp",
        "instance_ids": [target]}}])
    assert played.rc == 0, played.output
    output = played.result("user")["results"][0]["output"]
    numbers = "".join(f"{number}\n" for number in range(1, 30001))
    assert output.startswith("nobody\n") and output.endswith(numbers) and len(output) > 24576


def test_same_client_token_never_runs_twice(ansible, emulator, reachable):
    target = local_reachable(emulator, reachable)[0]
    emulator.exec(target, "rm -f /root/token.log")
    task = {"name": "once", MODULE: {"content": "echo ran >> /root/token.log", "instance_ids": [target],
                                     "client_token": "invocation-test-token-1"}}
    first = ansible.play([task])
    second = ansible.play([task])
    assert first.rc == 0 and second.rc == 0, second.output
    assert first.result("once")["invoke_id"] == second.result("once")["invoke_id"]
    assert emulator.exec(target, "cat /root/token.log")["stdout"] == "ran\n"


def test_failing_instance_fails_the_task_naming_it(ansible, emulator, reachable):
    targets = local_reachable(emulator, reachable)[:2]
    played = ansible.play([{"name": "fail", MODULE: {
        "content": raw(f"echo partial; [ {{{{ACS::InstanceId}}}} = {targets[1]} ] && exit 7; exit 0"),
        "instance_ids": targets}}])
    assert played.rc != 0
    result = played.result("fail")
    assert played.outcome("fail") == "failed"
    assert targets[1] in result["msg"] and result["invoke_id"] in result["msg"] and "exit 7" in result["msg"]
    assert targets[0] not in result["msg"]
    assert result["status"] == "PartialFailed"
    by_id = {item["instance_id"]: item for item in result["results"]}
    assert by_id[targets[1]]["status"] == "Failed" and by_id[targets[1]]["exit_code"] == 7
    assert by_id[targets[1]]["error_code"] == "ExitCodeNonzero" and by_id[targets[1]]["output"] == "partial\n"
    assert by_id[targets[0]]["status"] == "Success"


def test_fail_on_error_false_reports_unreachable_instance(ansible, emulator):
    region = "cn-shanghai"
    dark = emulator.instance_id("dark-1")
    up = emulator.instance_id("web-3")
    played = ansible.play([{"name": "tolerant", MODULE: {
        "content": "echo fine", "instance_ids": [up, dark], "fail_on_error": False, "region": region}}])
    assert played.rc == 0, played.output
    result = played.result("tolerant")
    by_id = {item["instance_id"]: item for item in result["results"]}
    assert by_id[up]["status"] == "Success" and by_id[up]["output"] == "fine\n"
    assert by_id[dark]["status"] == "Aborted" and by_id[dark]["error_code"] == "ClientNotResponse"
    assert result["status"] == "PartialFailed" and played.outcome("tolerant") == "changed"


def test_wait_timeout_stops_the_run_and_names_it(ansible, emulator, reachable):
    target = local_reachable(emulator, reachable)[0]
    emulator.exec(target, "rm -f /root/late")
    emulator.reset_counters()
    played = ansible.play([{"name": "slow", MODULE: {
        "content": "sleep 20; touch /root/late", "instance_ids": [target], "timeout": 60,
        "termination_mode": "ProcessTree", "wait_timeout": 3}}])
    assert played.rc != 0
    result = played.result("slow")
    assert result["invoke_id"] in result["msg"] and "StopInvocation" in result["msg"]
    assert emulator.counters().get("StopInvocation") == 1
    found = api(emulator).call("DescribeInvocations", InvokeId=result["invoke_id"])["Invocations"]["Invocation"]
    assert found[0]["InvocationStatus"] in ("Stopped", "Stopping")
    assert emulator.exec(target, "test -e /root/late")["exit_code"] == 1


def test_full_output_past_the_cap_is_byte_exact(ansible, emulator, reachable):
    target = local_reachable(emulator, reachable)[0]
    leftovers = "ls -d /tmp/.alicloud-ecs-spool.* /tmp/.alicloud-ecs-run.* 2>/dev/null"
    before = emulator.exec(target, leftovers)["stdout"]
    played = ansible.play([{"name": "big", MODULE: {
        "content": "head -c 76800 /dev/urandom | base64 -w 100 > /root/big.txt; cat /root/big.txt; "
                   "echo tail-on-stderr >&2",
        "instance_ids": [target]}}])
    assert played.rc == 0, played.output
    item = played.result("big")["results"][0]
    expected = emulator.exec(target, "cat /root/big.txt")["stdout"] + "tail-on-stderr\n"
    assert len(expected) > 100 * 1024
    assert item["output"] == expected and item["dropped"] == 0
    # the script and the spooled pages are gone from the instance once read
    assert emulator.exec(target, leftovers)["stdout"] == before


def test_saved_command_by_name_reports_dropped_output(ansible, emulator, reachable):
    target = local_reachable(emulator, reachable)[0]
    script = "seq 1 {{count}}"
    api(emulator).call("CreateCommand", Name="invocation-test-seq", Type="RunShellScript", EnableParameter=True,
                       CommandContent=base64.b64encode(script.encode()).decode())
    played = ansible.play([{"name": "saved", MODULE: {
        "command_name": "invocation-test-seq", "parameters": {"count": "10000"}, "instance_ids": [target]}}])
    assert played.rc == 0, played.output
    result = played.result("saved")
    item = result["results"][0]
    full = "".join(f"{number}\n" for number in range(1, 10001))
    assert item["dropped"] == len(full) - len(item["output"]) > 0
    assert full.endswith(item["output"])
    assert any("were cut" in warning for warning in result.get("warnings", []))
    assert result["command_id"].startswith("c-")
    missing = ansible.play([{"name": "missing", MODULE: {"command_name": "no-such-command", "instance_ids": [target]}}])
    assert missing.rc != 0 and "command_name 'no-such-command': no such saved command" in missing.result("missing")["msg"]
    unknown_id = ansible.play([{"name": "unknown", MODULE: {"command_id": "c-doesnotexist", "instance_ids": [target]}}])
    assert unknown_id.rc != 0 and "InvalidCmdId.NotFound" in unknown_id.result("unknown")["msg"]


@pytest.mark.parametrize("options, message", [
    ({"content": "true", "instance_ids": [f"i-{n}" for n in range(101)]}, "at most 100"),
    ({"content": raw("echo {{who}}"), "instance_ids": ["i-x"], "parameters": {"whom": "x"}}, "'whom' is not a placeholder"),
    ({"content": raw("echo {{who}}"), "instance_ids": ["i-x"]}, "no value for placeholder(s) who"),
    ({"content": raw("echo {{who}}"), "instance_ids": ["i-x"], "parameters": {"who": 3}}, "must be a string"),
    ({"content": "true", "instance_ids": ["i-x"], "timeout": 5}, "timeout: 5 s is outside 10..86400"),
    ({"content": "true", "instance_tags": {"acs:x": "1"}}, "may not start with acs:"),
    ({"content": "x" * 20000, "instance_ids": ["i-x"]}, "at most 24576"),
    ({"content": "true", "instance_ids": ["i-x"], "client_token": "é"}, "client_token"),
    ({"content": "true", "command_name": "x", "instance_ids": ["i-x"]}, "mutually exclusive"),
    ({"content": "true"}, "instance_ids, instance_tags"),
    ({"state": "stopped"}, "invoke_id"),
])
def test_bad_input_fails_before_any_call(ansible, emulator, options, message):
    emulator.reset_counters()
    played = ansible.play([{"name": "bad", MODULE: options}])
    assert played.rc != 0
    assert message in played.result("bad")["msg"]
    assert sum(emulator.counters().values()) == 0


def test_stop_is_idempotent(ansible, emulator, reachable):
    target = local_reachable(emulator, reachable)[0]
    started = ansible.play([{"name": "start", MODULE: {
        "content": "sleep 60", "instance_ids": [target], "wait": False, "termination_mode": "ProcessTree"}}])
    assert started.rc == 0, started.output
    invoke_id = started.result("start")["invoke_id"]
    assert started.result("start")["status"] == "Pending"
    stop = {"name": "stop", MODULE: {"state": "stopped", "invoke_id": invoke_id}}
    checked = ansible.play([stop], check=True)
    assert checked.outcome("stop") == "changed" and "would stop" in checked.result("stop")["msg"]
    first = ansible.play([stop])
    assert first.rc == 0, first.output
    assert first.outcome("stop") == "changed"
    again = ansible.play([stop])
    assert again.rc == 0 and again.outcome("stop") == "ok", again.output
    assert again.result("stop")["status"] == "Stopped"
    unknown = ansible.play([{"name": "stop", MODULE: {"state": "stopped", "invoke_id": "t-doesnotexist"}}])
    assert unknown.rc != 0 and "no such invocation" in unknown.result("stop")["msg"]
