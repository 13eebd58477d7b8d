from __future__ import annotations

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.execution import reachability
from ansible_collections.alicloud.ecs.plugins.module_utils.api.errors import CloudError


@pytest.mark.parametrize(("code", "status", "unreachable"), [
    ("Throttling", 400, True),                  # still throttled when the retry budget ran out
    ("SDK.HttpError", None, True),              # endpoint refused or timed out
    ("InternalError", 500, True),
    ("SignatureDoesNotMatch", 400, True),
    ("InvalidAccessKeyId.NotFound", 404, True),
    ("InvalidSecurityToken.Expired", 400, True),
    ("Forbidden.RAM", 403, True),
    ("InvalidInstance.NotMatch", 400, True),    # a stopped instance
    ("InvalidInstanceStatus", 400, True),
    ("InvalidParameter.Timeout", 400, False),   # our own bad request: the task's failure
    ("CmdContent.ExceedLimit", 403, False),
])
def test_api_errors_split_by_code(code: str, status: int | None, unreachable: bool) -> None:
    assert reachability.api_error_is_unreachable(CloudError(code, "m", http_status=status)) is unreachable


@pytest.mark.parametrize(("code", "unreachable"), [
    ("ClientNotResponse", True), ("InstanceNotRunning", True), ("DeliveryTimeout", True), ("ClientNotRunning", True),
    ("ExecutionTimeout", False), ("ExecutionInterrupted", False), ("AccountNotExists", False),
    ("ExitCodeNonzero", False), ("TaskConcurrencyLimit", False),
])
def test_agent_codes_split_by_whether_anything_ran(code: str, unreachable: bool) -> None:
    assert reachability.agent_error_is_unreachable(code) is unreachable


class Describing:
    """Stands in for CloudClient: answers DescribeInstances with ``instances`` (or raises)."""

    region = "cn-hangzhou"

    def __init__(self, instances=None, error: CloudError | None = None) -> None:
        self.instances = instances or []
        self.error = error

    def call(self, action: str, **params):
        assert action == "DescribeInstances" and params["budget"] <= 10
        if self.error:
            raise self.error
        return {"Instances": {"Instance": self.instances}}


def test_the_state_of_a_refused_instance_in_plain_words() -> None:
    assert reachability.instance_state(Describing([{"Status": "Stopped"}]), "i-1") == "instance i-1 is Stopped (not Running)"
    assert reachability.instance_state(Describing([]), "i-1") == "instance i-1 does not exist in region cn-hangzhou"
    assert reachability.instance_state(Describing([{"Status": "Running"}]), "i-1") is None
    assert reachability.instance_state(Describing(error=CloudError("Throttling", "m")), "i-1") is None
