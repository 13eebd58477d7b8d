"""The invocation API: how each Cloud Assistant action's request is built and its answer unwrapped and paged.

Request shapes are checked on the wire form (``flatten_params``), as the SDK sends them. The ClientToken rule
(the same token on a retry, a new one for each new call) is checked against a fake SDK that acts on a request
and then loses the answer, as a dropped connection does.
"""

from __future__ import annotations

import base64
import json

import pytest
from aliyunsdkcore.acs_exception.exceptions import ClientException

from ansible_collections.alicloud.ecs.plugins.module_utils.api.client import (
    CloudClient, flatten_params, resolve_settings,
)
from ansible_collections.alicloud.ecs.plugins.module_utils.api.errors import CloudError
from ansible_collections.alicloud.ecs.plugins.module_utils.api.retries import RetryPolicy
from ansible_collections.alicloud.ecs.plugins.module_utils.engine import invocations_api as api


class FakeClient:
    """Records each call's action and wire parameters; answers from ``answers`` (a callable or a list)."""

    def __init__(self, answers=None) -> None:
        self.calls: list[tuple[str, dict[str, str], dict]] = []
        self.answers = answers if answers is not None else (lambda action, params: {"InvokeId": "t-1"})

    def call(self, action: str, **params) -> dict:
        options = {key: params.pop(key) for key in ("retry", "budget", "product") if key in params}
        self.calls.append((action, flatten_params(params), options))
        if isinstance(self.answers, list):
            answer = self.answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer
        return self.answers(action, params)


def wire(client: FakeClient, index: int = -1) -> dict[str, str]:
    return client.calls[index][1]


def test_run_command_sends_the_content_as_base64_with_its_options() -> None:
    client = FakeClient(lambda action, params: {"InvokeId": "t-1", "CommandId": "c-tmp"})
    content = "printf 'é\\0'\n".encode() + b"\xff"
    started = api.run_command(client, ["i-1", "i-2"], content, name="job", timeout=3, username="u",
                              working_dir="/w", tags={"k": "v"}, termination_mode="ProcessTree",
                              parameters={"a": "b"}, enable_parameter=True, client_token="tok")
    assert started == api.Started("t-1", "c-tmp")
    action, sent, _options = client.calls[0]
    assert action == "RunCommand"
    assert base64.b64decode(sent["CommandContent"]) == content and sent["ContentEncoding"] == "Base64"
    assert sent["Type"] == "RunShellScript" and sent["Name"] == "job"
    assert sent["InstanceId.1"] == "i-1" and sent["InstanceId.2"] == "i-2" and "ResourceTag.1.Key" not in sent
    assert sent["Timeout"] == str(api.MIN_TIMEOUT), "a timeout under the service's minimum is raised to it"
    assert sent["TerminationMode"] == "ProcessTree" and sent["Tag.1.Key"] == "k" and sent["Tag.1.Value"] == "v"
    assert json.loads(sent["Parameters"]) == {"a": "b"} and sent["EnableParameter"] == "true"
    assert sent["ClientToken"] == "tok" and sent["Username"] == "u" and sent["WorkingDir"] == "/w"


def test_unset_options_are_left_out_for_the_service_defaults() -> None:
    client = FakeClient()
    api.run_command(client, ["i-1"], "true")
    sent = wire(client)
    for absent in ("Timeout", "TerminationMode", "Tag.1.Key", "Parameters", "EnableParameter", "Name", "KeepCommand",
                   "RepeatMode", "Frequency", "ContainerId"):
        assert absent not in sent, absent
    assert len(sent["ClientToken"]) == 32


def test_resource_tags_replace_the_instance_ids_and_both_together_are_refused() -> None:
    client = FakeClient()
    api.run_command(client, [], "true", resource_tags={"role": "web"}, repeat_mode="Period", frequency="rate(5m)",
                    keep_command=False)
    sent = wire(client)
    assert sent["ResourceTag.1.Key"] == "role" and sent["ResourceTag.1.Value"] == "web"
    assert not any(key.startswith("InstanceId") for key in sent)
    assert sent["RepeatMode"] == "Period" and sent["Frequency"] == "rate(5m)" and sent["KeepCommand"] == "false"
    with pytest.raises(ValueError, match="instance_ids and resource_tags"):
        api.run_command(client, ["i-1"], "true", resource_tags={"role": "web"})
    assert len(client.calls) == 1, "refused before any call"


def test_invoke_command_names_the_saved_command_and_sends_no_content() -> None:
    client = FakeClient()
    started = api.invoke_command(client, ["i-1"], "c-saved", parameters={"x": "1"}, timeout=120)
    action, sent, _options = client.calls[0]
    assert action == "InvokeCommand" and sent["CommandId"] == "c-saved" and "CommandContent" not in sent
    assert sent["Timeout"] == "120" and json.loads(sent["Parameters"]) == {"x": "1"}
    assert started == api.Started("t-1", "c-saved"), "the saved command's id when the answer names none"


def test_each_call_is_a_new_intent_with_a_new_client_token() -> None:
    client = FakeClient()
    api.run_command(client, ["i-1"], "true")
    api.run_command(client, ["i-1"], "true")
    api.invoke_command(client, ["i-1"], "c-1")
    tokens = {sent["ClientToken"] for _action, sent, _options in client.calls}
    assert len(tokens) == 3


class ActThenDrop:
    """A fake SDK that acts like the service (a known ClientToken replays the first answer) but loses the first
    answer after acting on it."""

    def __init__(self) -> None:
        self.drops = 1
        self.tokens: list[str] = []
        self.runs = 0

    def do_action_with_exception(self, request) -> bytes:
        token = request.get_query_params()["ClientToken"]
        if token not in self.tokens:
            self.runs += 1
        self.tokens.append(token)
        if self.drops:
            self.drops -= 1
            raise ClientException("SDK.HttpError", "('Connection aborted.', RemoteDisconnected())")
        return json.dumps({"InvokeId": "t-0", "CommandId": "c-0"}).encode()


@pytest.mark.parametrize("start", [
    lambda client: api.run_command(client, ["i-1"], "echo once"),
    lambda client: api.invoke_command(client, ["i-1"], "c-1"),
])
def test_a_retry_resends_the_same_client_token(start) -> None:
    sdk = ActThenDrop()
    client = CloudClient(resolve_settings("id", "secret", region="cn-hangzhou", env={}),
                         retry=RetryPolicy(budget=30, sleep=lambda _seconds: None))
    client._sdk = sdk
    assert start(client).invoke_id == "t-0"
    assert len(sdk.tokens) == 2 and sdk.tokens[0] == sdk.tokens[1], "the retry carries the first token"
    assert sdk.runs == 1


def test_stop_invocation_raises_unless_quiet_and_passes_the_call_options() -> None:
    refused = CloudError("InvalidInvokeId.NotFound", "gone")
    client = FakeClient([refused, refused, {}])
    with pytest.raises(CloudError):
        api.stop_invocation(client, "t-1")
    api.stop_invocation(client, "t-1", quiet=True)
    api.stop_invocation(client, "t-1", ["i-1"], retry=True, budget=2.5)
    assert client.calls[0] == ("StopInvocation", {"InvokeId": "t-1"}, {})
    assert client.calls[2] == ("StopInvocation", {"InvokeId": "t-1", "InstanceId.1": "i-1"},
                               {"retry": True, "budget": 2.5})


def listing(*invoke_ids: str, next_token: str = "") -> dict:
    return {"Invocations": {"Invocation": [{"InvokeId": invoke_id, "InvokeInstances": {"InvokeInstance": [
        {"InstanceId": "i-1", "InvocationStatus": "Success"}]}} for invoke_id in invoke_ids]},
        "NextToken": next_token}


def test_describe_invocations_follows_next_token_and_unwraps_each_page() -> None:
    client = FakeClient([listing("t-1", "t-2", next_token="n1"), listing("t-3", next_token="n2"), {}])
    found = list(api.describe_invocations(client, CommandName="run-x"))
    assert [item["InvokeId"] for item in found] == ["t-1", "t-2", "t-3"]
    assert [sent.get("NextToken") for _action, sent, _options in client.calls] == [None, "n1", "n2"]
    assert all(sent["CommandName"] == "run-x" and sent["MaxResults"] == "50"
               for _action, sent, _options in client.calls)
    assert api.invoke_instances(found[0]) == [{"InstanceId": "i-1", "InvocationStatus": "Success"}]
    assert api.invoke_instances({}) == []


def test_one_page_and_one_invocation() -> None:
    client = FakeClient([listing("t-1", next_token="more"), listing(), listing("t-9")])
    items, token = api.describe_invocations_page(client, 5, "start", InvokeStatus="Failed")
    assert [item["InvokeId"] for item in items] == ["t-1"] and token == "more"
    assert wire(client, 0) == {"MaxResults": "5", "NextToken": "start", "InvokeStatus": "Failed"}
    assert api.describe_invocation(client, "t-0") is None
    assert api.describe_invocation(client, "t-9", IncludeOutput=True)["InvokeId"] == "t-9"
    assert wire(client) == {"InvokeId": "t-9", "IncludeOutput": "true"}


def results_page(*instance_ids: str, next_token: str = "") -> dict:
    return {"Invocation": {"InvocationResults": {"InvocationResult": [
        {"InstanceId": instance_id} for instance_id in instance_ids]}, "NextToken": next_token}}


def test_describe_invocation_results_pages_by_the_token_inside_invocation() -> None:
    client = FakeClient([results_page("i-1", next_token="n1"), results_page("i-2"), {}])
    found = list(api.describe_invocation_results(client, InvokeId="t-1", Tag=[{"Key": "k", "Value": "v"}]))
    assert [item["InstanceId"] for item in found] == ["i-1", "i-2"]
    assert wire(client, 0) == {"MaxResults": "50", "InvokeId": "t-1", "Tag.1.Key": "k", "Tag.1.Value": "v"}
    assert wire(client, 1)["NextToken"] == "n1"
    assert list(api.describe_invocation_results(client, InvokeId="t-2")) == [], "an empty answer is no results"


def test_send_file_results_share_the_listing_shape() -> None:
    client = FakeClient([listing("f-1")])
    found = api.describe_send_file_results(client, "f-1")
    assert client.calls[0][0] == "DescribeSendFileResults" and wire(client) == {"InvokeId": "f-1"}
    assert api.invoke_instances(found[0])[0]["InstanceId"] == "i-1"


def test_encode_content_is_the_base64_the_size_limits_count() -> None:
    assert api.encode_content("é") == base64.b64encode("é".encode()).decode() == api.encode_content("é".encode())
