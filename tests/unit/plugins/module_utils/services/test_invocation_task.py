"""The invocation module's logic without Ansible: the checked request, lookups, and the outcome it reports.

A fake Cloud Assistant answers by action; each test says which calls a task made (none that writes in check
mode, nothing at all for bad input).
"""

from __future__ import annotations

import base64

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.engine.invocation_spec import RUN_CONTENT_LIMIT
from ansible_collections.alicloud.ecs.plugins.module_utils.services import invocation_task as task

DEFAULTS = {"state": "present", "content": None, "command_id": None, "command_name": None,
            "command_type": "RunShellScript", "instance_ids": None, "instance_tags": None, "parameters": None,
            "username": None, "working_dir": None, "timeout": None, "name": None, "container_id": None,
            "container_name": None, "termination_mode": None, "tags": {}, "client_token": None, "wait": True,
            "wait_timeout": None, "fail_on_error": True, "full_output": True, "invoke_id": None}


def params(**changes):
    return {**DEFAULTS, **changes}


class FakeAssistant:
    """Answers RunCommand, InvokeCommand, DescribeInvocationResults (every instance ends with ``status``),
    DescribeCommands and DescribeInstances (by tag) as the service would."""

    def __init__(self, status: str = "Success", exit_code: int = 0, tagged: list[str] | None = None,
                 commands: list[dict] | None = None) -> None:
        self.status = status
        self.exit_code = exit_code
        self.tagged = tagged or []
        self.commands = commands or []
        self.calls: list[tuple[str, dict]] = []
        self.targets: list[str] = []

    def call(self, action: str, **params) -> dict:
        self.calls.append((action, params))
        if action in ("RunCommand", "InvokeCommand"):
            self.targets = list(params.get("InstanceId") or self.tagged)
            return {"InvokeId": "t-1", "CommandId": "c-tmp" if action == "RunCommand" else params["CommandId"]}
        if action == "DescribeInvocationResults":
            return {"Invocation": {"InvocationResults": {"InvocationResult": [
                {"InstanceId": iid, "InvocationStatus": self.status, "ExitCode": self.exit_code,
                 "Output": base64.b64encode(b"hi\n").decode(), "ErrorCode": "" if self.exit_code == 0 else "Nonzero"}
                for iid in self.targets]}}}
        if action == "DescribeCommands":
            return {"Commands": {"Command": self.commands}}
        if action == "DescribeInstances":
            return {"Instances": {"Instance": [{"InstanceId": iid} for iid in self.tagged]}}
        raise AssertionError(f"unexpected {action}")

    def actions(self) -> list[str]:
        return [action for action, _params in self.calls]


def test_shell_content_is_wrapped_for_full_output_only_when_waited_for_and_on_the_host() -> None:
    request, wrapped, too_large = task.checked_request(params(content="echo hi", instance_ids=["i-1", "i-1"]))
    assert wrapped and not too_large and request.content != "echo hi" and request.instance_ids == ["i-1"]
    assert len(request.client_token) == 32, "a fresh ClientToken when the task names none"
    for changes in ({"wait": False}, {"full_output": False}, {"container_name": "web"},
                    {"command_type": "RunPowerShellScript"}):
        request, wrapped, _too_large = task.checked_request(params(content="echo hi", instance_ids=["i-1"], **changes))
        assert not wrapped and request.content == "echo hi", changes


def test_the_tasks_own_client_token_is_kept() -> None:
    request, _wrapped, _too_large = task.checked_request(params(content="true", instance_ids=["i-1"],
                                                                client_token="my-token"))
    assert request.client_token == "my-token"


def test_content_over_the_limit_is_refused_and_near_it_runs_unwrapped() -> None:
    with pytest.raises(ValueError, match=r"^content: \d+ bytes as Base64"):
        task.checked_request(params(content="x" * RUN_CONTENT_LIMIT, instance_ids=["i-1"]))
    near = "x" * (RUN_CONTENT_LIMIT * 3 // 4 - 3)
    request, wrapped, too_large = task.checked_request(params(content=near, instance_ids=["i-1"]))
    assert too_large and not wrapped and request.content == near


def test_check_mode_resolves_tags_and_writes_nothing() -> None:
    cloud = FakeAssistant(tagged=["i-2", "i-3"])
    request, wrapped, _too_large = task.checked_request(params(content="true", instance_tags={"role": "web"}))
    outcome = task.run_task(cloud, params(content="true"), request, wrapped, print, check_mode=True)
    assert outcome == {"failed": False, "changed": True, "instance_ids": ["i-2", "i-3"],
                       "msg": "would run the content on i-2, i-3"}
    assert cloud.actions() == ["DescribeInstances"]


def test_tags_that_select_nothing_are_an_error_naming_the_option() -> None:
    request, wrapped, _too_large = task.checked_request(params(content="true", instance_ids=["i-1"],
                                                               instance_tags={"role": "none"}))
    with pytest.raises(LookupError, match="^instance_tags: no instance"):
        task.run_task(FakeAssistant(), params(), request, wrapped, print, check_mode=False)


def test_without_wait_the_run_is_started_and_reported_pending() -> None:
    cloud = FakeAssistant()
    given = params(content="true", instance_ids=["i-1"], wait=False)
    request, wrapped, _too_large = task.checked_request(given)
    outcome = task.run_task(cloud, given, request, wrapped, print, check_mode=False)
    assert outcome["status"] == "Pending" and outcome["invoke_id"] == "t-1" and outcome["command_id"] == "c-tmp"
    assert cloud.actions() == ["RunCommand"] and not outcome["failed"]


def test_a_saved_command_by_name_is_invoked_with_its_checked_parameters() -> None:
    cloud = FakeAssistant(commands=[{"CommandId": "c-9", "Name": "deploy",
                                     "ParameterNames": {"ParameterName": ["version"]}}])
    given = params(command_name="deploy", instance_ids=["i-1"], parameters={"version": "2"})
    request, wrapped, _too_large = task.checked_request(given)
    outcome = task.run_task(cloud, given, request, wrapped, print, check_mode=False)
    invoke = dict(cloud.calls)["InvokeCommand"]
    assert invoke["CommandId"] == "c-9" and str(invoke["Parameters"]) == '{"version":"2"}'
    assert outcome["command_id"] == "c-9" and outcome["status"] == "Success" and not outcome["failed"]
    assert outcome["results"][0]["output"] == "hi\n"


def test_a_failed_instance_fails_the_task_unless_told_not_to() -> None:
    for fail_on_error, failed in ((True, True), (False, False)):
        given = params(content="exit 3", instance_ids=["i-1"], full_output=False, fail_on_error=fail_on_error)
        request, wrapped, _too_large = task.checked_request(given)
        outcome = task.run_task(FakeAssistant("Failed", 3), given, request, wrapped, print, check_mode=False)
        assert outcome["failed"] is failed and outcome["status"] == "Failed"
        assert outcome["results"][0]["exit_code"] == 3
    assert outcome["msg"] == "ran the content as t-1: Failed"
