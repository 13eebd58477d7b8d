"""OOS helpers: template parsing and names, BulkyRunCommand input checks, waiting with progress, and the
per-instance summary built from task executions and invocations (a scripted fake client, no network)."""

from __future__ import annotations

import json

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.api.errors import CloudError
from ansible_collections.alicloud.ecs.plugins.module_utils.services.oos import (
    BULKY, check_start, check_template_name, failure_summary, get_template, parse_template, summarize, template_yaml,
    wait_execution, waiting_tasks,
)


class FakeClient:
    """Answers each action from a list of scripted responses (the last one repeats) and records the calls."""

    def __init__(self, **answers) -> None:
        self.answers = answers
        self.calls: list[tuple[str, dict]] = []

    def call(self, action: str, **params):
        self.calls.append((action, params))
        script = self.answers[action]
        answer = script.pop(0) if len(script) > 1 else script[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_templates_parse_from_dict_json_and_yaml_to_the_same_document() -> None:
    doc = {"FormatVersion": "OOS-2019-06-01", "Tasks": [{"Name": "a", "Action": "ACS::Sleep"}]}
    assert parse_template(doc) == doc
    assert parse_template(json.dumps(doc)) == doc
    assert parse_template("FormatVersion: OOS-2019-06-01\nTasks:\n  - {Name: a, Action: 'ACS::Sleep'}\n") == doc
    assert "FormatVersion: OOS-2019-06-01" in template_yaml(doc) and template_yaml(None) == ""


@pytest.mark.parametrize("content, words", [
    ("[1]", "must be a template mapping"), ({"Tasks": []}, "no FormatVersion"), ("a: [", "neither JSON nor YAML"),
])
def test_bad_templates_are_named(content, words) -> None:
    with pytest.raises(ValueError, match=words):
        parse_template(content)


def test_template_names() -> None:
    check_template_name("my_template-1", own=True)
    check_template_name(BULKY, own=False)
    with pytest.raises(ValueError, match="reserved"):
        check_template_name("ACS-Mine", own=True)
    with pytest.raises(ValueError, match="1 to 200"):
        check_template_name("x" * 201, own=False)


@pytest.mark.parametrize("parameters, mode, safety, words", [
    ({"targets": {"Type": "Tags", "Tags": []}}, "Automatic", None, "commandContent is required"),
    ({"commandContent": "true", "targets": {"Type": "Nope"}}, "Automatic", None, "targets must be"),
    ({"commandContent": "true", "targets": {"Type": "ResourceIds", "ResourceIds": []}}, "Automatic", None, "non-empty"),
    ({"commandContent": "true", "targets": {"Type": "All"}, "rateControl": {"Mode": "Concurrency", "Concurrency": "150%"}},
     "Automatic", None, "rateControl.Concurrency"),
    ({"commandContent": "true", "targets": {"Type": "All"}}, "Debug", "Skip", "only allowed with mode=Automatic"),
])
def test_start_checks(parameters, mode, safety, words) -> None:
    with pytest.raises(ValueError, match=words):
        check_start(BULKY, parameters, mode, safety)


def test_start_checks_accept_good_input_and_leave_other_templates_alone() -> None:
    check_start(BULKY, {"commandContent": "true", "targets": {"Type": "All"},
                        "rateControl": {"Mode": "Batch", "Batch": [1, "50%"], "MaxErrors": "10%"}}, "Automatic", "Skip")
    check_start("my-template", {"anything": 1}, "FailurePause", None)


def test_get_template_is_none_when_missing() -> None:
    client = FakeClient(GetTemplate=[CloudError("EntityNotExists.Template", "gone", action="GetTemplate")])
    assert get_template(client, "nope") is None
    client = FakeClient(GetTemplate=[CloudError("Throttling", "slow down", action="GetTemplate")])
    with pytest.raises(CloudError):
        get_template(client, "busy")


def execution(status: str, counters: dict | None = None, tasks: tuple[str, ...] = ()) -> dict:
    item = {"ExecutionId": "exec-1", "Status": status, "Counters": counters or {}, "TemplateName": BULKY,
            "CurrentTasks": [{"TaskName": name} for name in tasks], "Outputs": '{"commandOutputs": ["hi\\n"]}',
            "Parameters": {"commandContent": "echo hi"}, "StatusMessage": ""}
    return {"Executions": [item]}


def test_wait_reports_each_change_once_and_backs_off(clock) -> None:
    client = FakeClient(ListExecutions=[execution("Started"), execution("Running", {"Total": 2}, ("runCommand",)),
                                        execution("Running", {"Total": 2}, ("runCommand",)),
                                        execution("Success", {"Total": 2, "Success": 2})])
    seen = []
    final, timed_out = wait_execution(client, "exec-1", 60, seen.append, clock=clock, sleep=clock.sleep)
    assert not timed_out and final["Status"] == "Success"
    assert [(s["status"], s["task"]) for s in seen] == [("Started", ""), ("Running", "runCommand"), ("Success", "")]
    assert clock.sleeps == sorted(clock.sleeps) and clock.sleeps[0] == 0.2


def test_wait_times_out_and_ignores_a_stale_waiting_for_the_grace(clock) -> None:
    client = FakeClient(ListExecutions=[execution("Running")])
    final, timed_out = wait_execution(client, "exec-1", 3, lambda seen: None, clock=clock, sleep=clock.sleep)
    assert timed_out and final["Status"] == "Running" and clock.now == pytest.approx(3)
    clock = type(clock)()  # a fresh clock for the next case
    client = FakeClient(ListExecutions=[execution("Waiting")])
    final, timed_out = wait_execution(client, "exec-1", 60, lambda seen: None, grace=2, clock=clock, sleep=clock.sleep)
    assert final["Status"] == "Waiting" and not timed_out and clock.now >= 2
    client = FakeClient(ListExecutions=[execution("Waiting"), execution("Running"), execution("Waiting")])
    final, timed_out = wait_execution(client, "exec-1", 60, lambda seen: None, grace=30, clock=type(clock)(),
                                      sleep=lambda s: None)
    assert final["Status"] == "Waiting" and len(client.calls) == 3  # waiting again after moving on: stop there


def test_summary_joins_task_items_and_invocations_and_names_failures() -> None:
    tasks = {"TaskExecutions": [
        {"TaskExecutionId": "te-0", "TaskName": "getInstance", "Status": "Success", "Outputs": '{"instanceIds": []}'},
        {"TaskExecutionId": "te-1", "TaskName": "runCommand", "Status": "Success", "LoopItem": "i-1",
         "Outputs": '{"invocationOutput": "hi\\n"}'},
        {"TaskExecutionId": "te-2", "TaskName": "runCommand", "Status": "Failed", "LoopItem": "i-2",
         "StatusMessage": "ExitCodeNonzero: the command execution exit code is not zero.",
         "Outputs": '{"invocationOutput": "no\\n"}'}], "NextToken": ""}
    invocations = {"Invocations": {"Invocation": [
        {"InvokeInstances": {"InvokeInstance": [{"InstanceId": "i-2", "ExitCode": 1, "CreationTime": "2026-01-01T00:00:01Z",
                                                 "ErrorCode": "ExitCodeNonzero"}]}},
        {"InvokeInstances": {"InvokeInstance": [{"InstanceId": "i-1", "ExitCode": 0, "CreationTime": "2026-01-01T00:00:01Z"},
                                                {"InstanceId": "i-2", "ExitCode": 9, "CreationTime": "2026-01-01T00:00:00Z"}]}},
    ]}, "NextToken": ""}
    client = FakeClient(ListTaskExecutions=[tasks], DescribeInvocations=[invocations])
    item = execution("Failed")["Executions"][0]
    item["StatusMessage"] = "1 loop items failed; MaxErrors is 0."
    result = summarize(client, item)
    assert result["outputs"] == {"commandOutputs": ["hi\n"]} and [t["name"] for t in result["tasks"]] == ["getInstance"]
    by_id = {i["instance_id"]: i for i in result["instances"]}
    assert (by_id["i-1"]["exit_code"], by_id["i-1"]["output"]) == (0, "hi\n")
    assert (by_id["i-2"]["exit_code"], by_id["i-2"]["status"]) == (1, "Failed")  # the latest invocation wins
    assert ("DescribeInvocations", {"CommandName": "exec-1", "MaxResults": 50, "NextToken": None}) in client.calls
    message = failure_summary(result)
    assert "i-2 (exit code 1: ExitCodeNonzero" in message and "MaxErrors is 0" in message
    assert waiting_tasks(result["loop_items"], None, None) == ["te-2"]
    assert waiting_tasks(result["loop_items"], "runCommand", "i-1") == []
