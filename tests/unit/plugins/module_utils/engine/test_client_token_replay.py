"""A RunCommand whose HTTP response is lost is retried with the same ClientToken and runs exactly once."""

from __future__ import annotations

import json

import pytest
from aliyunsdkcore.acs_exception.exceptions import ClientException

from ansible_collections.alicloud.ecs.plugins.module_utils.api.client import CloudClient, resolve_settings
from ansible_collections.alicloud.ecs.plugins.module_utils.api.errors import CloudError
from ansible_collections.alicloud.ecs.plugins.module_utils.engine.invocations_api import run_command
from ansible_collections.alicloud.ecs.plugins.module_utils.api.retries import RetryPolicy


class ActThenDrop:
    """A fake SDK client that behaves like the service (a ClientToken replays the first answer) but
    loses the response of the first ``drops`` calls after acting on them."""

    def __init__(self, drops: int) -> None:
        self.drops = drops
        self.runs: list[str] = []
        self.tokens: dict[str, str] = {}
        self.requests = 0

    def do_action_with_exception(self, request) -> bytes:
        self.requests += 1
        params = request.get_query_params()
        token = params.get("ClientToken")
        if token is not None and token in self.tokens:
            invoke_id = self.tokens[token]
        else:
            invoke_id = f"t-{len(self.runs)}"
            self.runs.append(params["CommandContent"])
            if token is not None:
                self.tokens[token] = invoke_id
        answer = json.dumps({"InvokeId": invoke_id}).encode()
        if self.drops:
            self.drops -= 1
            raise ClientException("SDK.HttpError", "('Connection aborted.', RemoteDisconnected())")
        return answer


def client_with(fake: ActThenDrop) -> CloudClient:
    client = CloudClient(resolve_settings("id", "secret", region="cn-hangzhou", env={}),
                         retry=RetryPolicy(budget=30, sleep=lambda _seconds: None))
    client._sdk = fake
    return client


def test_a_dropped_response_is_retried_and_the_command_runs_once() -> None:
    fake = ActThenDrop(drops=1)
    invoke_id = run_command(client_with(fake), ["i-1"], "echo once").invoke_id
    assert fake.requests == 2, "the lost answer was asked for again"
    assert len(fake.runs) == 1, "the same ClientToken must not run the command again"
    assert invoke_id == "t-0"


def test_a_call_without_a_client_token_is_never_repeated() -> None:
    fake = ActThenDrop(drops=1)
    with pytest.raises(CloudError, match="SDK.HttpError"):
        client_with(fake).call("RunCommand", CommandContent="echo once", InstanceId=["i-1"])
    assert fake.requests == 1 and len(fake.runs) == 1
