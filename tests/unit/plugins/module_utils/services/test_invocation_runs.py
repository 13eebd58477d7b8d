"""Run requests, batch status and result shaping of the invocation module."""

from __future__ import annotations

import base64

from ansible_collections.alicloud.ecs.plugins.module_utils.api.client import flatten_params
from ansible_collections.alicloud.ecs.plugins.module_utils.services.invocation_runs import (
    RunRequest, failure_summary, overall_status, shape_record, start,
)


class Recorder:
    """Records each call's action and wire parameters."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str]]] = []

    def call(self, action: str, **params) -> dict:
        self.calls.append((action, flatten_params(params)))
        return {"InvokeId": "t-1", "CommandId": "c-tmp"} if action == "RunCommand" else {"InvokeId": "t-2"}


def test_request_parameters_for_both_actions():
    client = Recorder()
    adhoc = RunRequest(instance_ids=["i-1"], resource_tags={}, content="echo é", parameters={"a": "b"},
                       enable_parameter=True, client_token="tok", tags={"k": "v"})
    assert start(client, adhoc) == ("t-1", "c-tmp")
    action, sent = client.calls[0]
    assert action == "RunCommand" and sent["Type"] == "RunShellScript" and sent["ContentEncoding"] == "Base64"
    assert base64.b64decode(sent["CommandContent"]).decode() == "echo é" and sent["ClientToken"] == "tok"
    assert sent["InstanceId.1"] == "i-1" and "ResourceTag.1.Key" not in sent and sent["EnableParameter"] == "true"
    assert sent["Parameters"] == '{"a":"b"}' and sent["Tag.1.Key"] == "k" and sent["Tag.1.Value"] == "v"
    saved = RunRequest(instance_ids=[], resource_tags={"role": "web"}, command_id="c-1", client_token="t")
    assert start(client, saved) == ("t-2", "c-1")
    action, sent = client.calls[1]
    assert action == "InvokeCommand" and sent["CommandId"] == "c-1" and "CommandContent" not in sent
    assert not any(key.startswith("InstanceId") for key in sent)
    assert sent["ResourceTag.1.Key"] == "role" and sent["ResourceTag.1.Value"] == "web"


def test_overall_status_and_failure_summary():
    assert overall_status(["Success", "Running"]) == "Running"
    assert overall_status(["Success", "Cancelled"]) == "Success"
    assert overall_status(["Failed", "Aborted"]) == "Failed"
    assert overall_status(["Success", "Timeout"]) == "PartialFailed"
    assert overall_status(["Terminated"]) == "Stopped"
    results = [shape_record({"InstanceId": "i-1", "InvocationStatus": "Success", "ExitCode": 0}),
               shape_record({"InstanceId": "i-2", "InvocationStatus": "Failed", "ExitCode": 3,
                             "ErrorCode": "ExitCodeNonzero"}),
               shape_record({"InstanceId": "i-3", "InvocationStatus": "Aborted", "ErrorCode": "ClientNotResponse"})]
    assert failure_summary(results) == "i-2 (Failed, exit 3: ExitCodeNonzero), i-3 (Aborted: ClientNotResponse)"


def test_shape_record_reads_both_result_views():
    listed = shape_record({"InstanceId": "i-1", "FinishTime": "2026-01-01T00:00:01Z", "Dropped": 3,
                           "Output": base64.b64encode("ä\n".encode()).decode()})
    assert listed["finish_time"] == "2026-01-01T00:00:01Z" and listed["output"] == "ä\n" and listed["dropped"] == 3
    full = shape_record({"InstanceId": "i-1", "FinishedTime": "x", "Dropped": 3}, b"all", 0)
    assert full["finish_time"] == "x" and full["output"] == "all" and full["dropped"] == 0
