"""Run requests, batch status and result shaping of the invocation module."""

from __future__ import annotations

import base64

from ansible_collections.alicloud.ecs.plugins.module_utils.services.invocation_runs import (
    RunRequest, failure_summary, overall_status, shape_record,
)


def test_request_parameters_for_both_actions():
    adhoc = RunRequest(instance_ids=["i-1"], resource_tags={}, content="echo é", parameters={"a": "b"},
                       enable_parameter=True, client_token="tok", tags={"k": "v"}).api_params()
    assert adhoc["Type"] == "RunShellScript" and adhoc["ContentEncoding"] == "Base64"
    assert base64.b64decode(adhoc["CommandContent"]).decode() == "echo é"
    assert adhoc["InstanceId"] == ["i-1"] and "ResourceTag" not in adhoc and adhoc["EnableParameter"] is True
    assert str(adhoc["Parameters"]) == '{"a":"b"}' and adhoc["Tag"] == [{"Key": "k", "Value": "v"}]
    saved = RunRequest(instance_ids=[], resource_tags={"role": "web"}, command_id="c-1", client_token="t").api_params()
    assert saved["CommandId"] == "c-1" and "CommandContent" not in saved and "InstanceId" not in saved
    assert saved["ResourceTag"] == [{"Key": "role", "Value": "web"}]


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
