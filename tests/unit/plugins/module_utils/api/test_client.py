"""Settings resolution, endpoint handling and parameter encoding of the one client."""

from __future__ import annotations

import time

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.api import client as client_mod
from ansible_collections.alicloud.ecs.plugins.module_utils.api.client import (
    CloudClient, Json, bypasses_proxy, flatten_params, resolve_settings, split_endpoint,
)
from ansible_collections.alicloud.ecs.plugins.module_utils.api.errors import CloudError, ConfigError, is_error_code
from ansible_collections.alicloud.ecs.plugins.module_utils.api.retries import RetryPolicy
from ansible_collections.alicloud.ecs.plugins.module_utils.auth.credential_cache import CredentialCache
from ansible_collections.alicloud.ecs.plugins.module_utils.auth.credentials import (
    Credential, CredentialProvider, StaticSource,
)


def test_explicit_options_win_over_environment() -> None:
    env = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "env-id", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "env-secret",
           "ALIBABA_CLOUD_REGION_ID": "cn-beijing"}
    settings = resolve_settings("opt-id", "opt-secret", region="cn-shanghai", env=env)
    current = settings.credentials.current()
    assert (current.access_key_id, current.access_key_secret, settings.region) == \
        ("opt-id", "opt-secret", "cn-shanghai")


def test_new_environment_names_win_over_old_ones() -> None:
    env = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "new", "ALICLOUD_ACCESS_KEY": "old",
           "ALICLOUD_SECRET_KEY": "old-secret", "ALICLOUD_REGION": "cn-hangzhou",
           "ALICLOUD_SECURITY_TOKEN": "tok", "ALICLOUD_ECS_ENDPOINT": "http://127.0.0.1:9"}
    settings = resolve_settings(env=env)
    current = settings.credentials.current()
    assert settings.access_key_id == "new"
    assert current.access_key_secret == "old-secret"
    assert current.security_token == "tok"
    assert settings.endpoint == "http://127.0.0.1:9"


def test_missing_credentials_and_region_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="credentials"):
        resolve_settings(env={"ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true", "ALIBABA_CLOUD_CONFIG_FILE": "/nonexistent",
                              "ALIBABA_CLOUD_CREDENTIALS_FILE": "/nonexistent"})
    with pytest.raises(ConfigError, match="region"):
        resolve_settings("id", "secret", env={})


def test_secret_never_appears_in_repr() -> None:
    settings = resolve_settings("id", "very-secret", region="r", env={})
    assert "very-secret" not in repr(settings)


@pytest.mark.parametrize("endpoint, expected", [
    ("http://127.0.0.1:8080", ("http", "127.0.0.1:8080")),
    ("ecs.cn-hangzhou.aliyuncs.com", ("https", "ecs.cn-hangzhou.aliyuncs.com")),
    ("https://[::1]:9000/", ("https", "[::1]:9000")),
])
def test_split_endpoint(endpoint, expected) -> None:
    assert split_endpoint(endpoint) == expected


@pytest.mark.parametrize("endpoint", ["ftp://x", "http://host:99999", "http://host/path", "http://"])
def test_bad_endpoints_fail_early(endpoint) -> None:
    with pytest.raises(ConfigError):
        split_endpoint(endpoint)


def test_proxy_bypass_for_loopback_and_no_proxy() -> None:
    assert bypasses_proxy("127.0.0.1:8080", {})
    assert bypasses_proxy("localhost:1", {})
    assert bypasses_proxy("ecs.internal.example:443", {"NO_PROXY": "example,.other"})
    assert not bypasses_proxy("ecs.cn-hangzhou.aliyuncs.com", {"NO_PROXY": "example"})


def test_flatten_params_follows_the_rpc_wire_form() -> None:
    flat = flatten_params({
        "InstanceId": ["i-a", "i-b"], "Tag": [{"Key": "k", "Value": "v"}], "KeepCommand": False,
        "Timeout": 60, "Name": None, "Parameters": Json({"name": "x", "n": 1}),
    })
    assert flat == {"InstanceId.1": "i-a", "InstanceId.2": "i-b", "Tag.1.Key": "k", "Tag.1.Value": "v",
                    "KeepCommand": "false", "Timeout": "60", "Parameters": '{"name":"x","n":1}'}


def test_cloud_error_names_key_and_code() -> None:
    error = CloudError("InvalidAccessKeySecret", "bad", action="DescribeInstances",
                       request_id="R1", http_status=400, access_key_id="LTAIabc")
    text = str(error)
    assert "LTAIabc" in text and "InvalidAccessKeySecret" in text and "DescribeInstances" in text
    assert is_error_code(error, "InvalidAccessKeySecret")
    assert is_error_code(CloudError("Throttling.User", "x"), "Throttling")
    assert not is_error_code(ValueError(), "Throttling")


class FlakySdk:
    """Stands in for AcsClient: fails with the given codes, then answers."""

    def __init__(self, failures: list[str]) -> None:
        self.failures = failures
        self.calls = 0

    def do_action_with_exception(self, request):
        self.calls += 1
        if self.failures:
            from aliyunsdkcore.acs_exception.exceptions import ServerException
            raise ServerException(self.failures.pop(0), "try later", http_status=400, request_id="R")
        return b'{"RequestId": "R", "ok": true}'


def make_client(failures: list[str]):
    settings = resolve_settings("id", "secret", region="cn-hangzhou", endpoint="http://127.0.0.1:1", env={})
    client = client_mod.CloudClient(settings, retry=client_mod.RetryPolicy(budget=30, sleep=lambda _: None))
    client._sdk = FlakySdk(failures)
    return client


def test_reads_are_retried_on_throttling() -> None:
    client = make_client(["Throttling", "ServiceUnavailable"])
    assert client.call("DescribeInstances")["ok"] is True
    assert client._sdk.calls == 3


def test_writes_without_client_token_are_never_retried() -> None:
    client = make_client(["Throttling"])
    with pytest.raises(CloudError, match="Throttling"):
        client.call("RunCommand", Type="RunShellScript")
    assert client._sdk.calls == 1


def test_writes_with_client_token_are_retried() -> None:
    client = make_client(["InternalError"])
    assert client.call("RunCommand", ClientToken="t")["ok"] is True
    assert client._sdk.calls == 2


class FakeTime:
    """A clock that only moves when the policy sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def clock(self) -> float:
        return self.now


def test_retries_last_for_the_budget_in_seconds_then_the_error_comes_through() -> None:
    fake = FakeTime()
    settings = resolve_settings("id", "secret", region="cn-hangzhou", endpoint="http://127.0.0.1:1", env={})
    lines = []
    client = client_mod.CloudClient(settings, retry=client_mod.RetryPolicy(budget=90, sleep=fake.sleep, clock=fake.clock),
                                    log=lambda level, message: lines.append((level, message)))
    client._sdk = FlakySdk(["Throttling"] * 10_000)
    with pytest.raises(CloudError, match="Throttling"):
        client.call("DescribeInstances")
    assert 80 <= fake.now <= 90  # pauses are capped at 10 s, so the last one ends within 10 s of the budget
    assert client._sdk.calls > 10
    retries = [line for line in lines if line[0] == client_mod.RETRY_VERBOSITY]
    assert len(retries) == client._sdk.calls - 1
    assert retries[0][0] == 3 and "DescribeInstances attempt 1 failed with Throttling (request id R)" in retries[0][1]


def test_a_call_can_carry_its_own_budget_and_the_default_is_sized_for_an_outage() -> None:
    fake = FakeTime()
    settings = resolve_settings("id", "secret", region="cn-hangzhou", endpoint="http://127.0.0.1:1", env={})
    assert settings.retry_budget >= 90
    client = client_mod.CloudClient(settings, retry=client_mod.RetryPolicy(budget=90, sleep=fake.sleep, clock=fake.clock))
    client._sdk = FlakySdk(["Throttling"] * 10_000)
    with pytest.raises(CloudError):
        client.call("StopInvocation", retry=True, budget=3)
    assert fake.now <= 3


def test_timeouts_and_budget_are_checked_before_any_call() -> None:
    with pytest.raises(client_mod.ConfigError, match="read_timeout must be at least 1"):
        resolve_settings("id", "secret", region="r", read_timeout=0, env={})
    with pytest.raises(client_mod.ConfigError, match="retry_budget"):
        resolve_settings("id", "secret", region="r", retry_budget=-1, env={})
    settings = resolve_settings("id", "secret", region="r", connect_timeout=3, read_timeout=30, retry_budget=0, env={})
    assert (settings.connect_timeout, settings.read_timeout, settings.retry_budget) == (3, 30, 0)


def test_non_retryable_codes_fail_at_once() -> None:
    client = make_client(["InvalidParameter"])
    with pytest.raises(CloudError):
        client.call("DescribeInstances")
    assert client._sdk.calls == 1


class RecordingSdk:
    """Stands in for AcsClient: keeps the request it was given."""

    def __init__(self) -> None:
        self.request = None

    def do_action_with_exception(self, request):
        self.request = request
        return b'{"RequestId": "R"}'


def test_long_values_ride_in_the_form_body_and_short_ones_in_the_query() -> None:
    client = make_client([])
    client._sdk = RecordingSdk()
    content = "QUJD" * (client_mod.BODY_PARAM_BYTES // 4 + 1)
    client.call("SendFile", Content=content, Name="a b", InstanceId=["i-1"])
    assert client._sdk.request.get_body_params() == {"Content": content}
    assert client._sdk.request.get_query_params() == {"RegionId": "cn-hangzhou", "Name": "a b", "InstanceId.1": "i-1"}


SECRET = "SENTINEL-secret-9f2c"
TOKEN = "SENTINEL/token+7e1d=="


def sts_client(endpoint: str, log=None, **timeouts):
    settings = resolve_settings("LTAIkeyid", SECRET, TOKEN, region="cn-hangzhou", endpoint=endpoint, env={})
    settings = client_mod.Settings(**{**settings.__dict__, **timeouts})
    return client_mod.CloudClient(settings, retry=client_mod.RetryPolicy(budget=0), env={}, log=log)


def assert_no_secret(text: str) -> None:
    from urllib.parse import quote
    for value in (SECRET, TOKEN, quote(TOKEN, safe=""), "Signature=", "SecurityToken"):
        assert value not in text


def closed_port() -> int:
    """A local port nothing listens on (bound once, then released)."""
    import socket
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unreachable_endpoint_names_host_and_reason_only() -> None:
    unused_tcp_port = closed_port()
    lines = []
    client = sts_client(f"http://127.0.0.1:{unused_tcp_port}", log=lambda level, line: lines.append((level, line)))
    with pytest.raises(CloudError) as caught:
        client.call("DescribeInstances")
    text = str(caught.value)
    assert caught.value.code == "SDK.HttpError"
    assert f"cannot reach http://127.0.0.1:{unused_tcp_port}: connection refused" in text
    assert "LTAIkeyid" in text
    assert_no_secret(text + repr(caught.value.to_dict()) + repr(lines))
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_unresolvable_host_says_dns() -> None:
    client = sts_client("http://no-such-host.invalid:8080")
    with pytest.raises(CloudError) as caught:
        client.call("DescribeInstances")
    assert "cannot reach http://no-such-host.invalid:8080: the host name does not resolve (DNS)" in str(caught.value)
    assert_no_secret(str(caught.value))


def test_silent_server_is_a_read_timeout() -> None:
    import socket
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        client = sts_client(f"http://127.0.0.1:{port}", read_timeout=1)
        with pytest.raises(CloudError) as caught:
            client.call("DescribeInstances")
    assert f"cannot reach http://127.0.0.1:{port}: no answer within the read timeout (1 s)" in str(caught.value)
    assert_no_secret(str(caught.value))


@pytest.mark.parametrize("text, reason", [
    ("HTTPSConnectionPool(host='h', port=443): Max retries exceeded with url: /?SecurityToken=x (Caused by "
     "SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed')))",
     "the TLS certificate could not be verified"),
    ("... (Caused by ConnectTimeoutError(<c>, 'Connection to h timed out. (connect timeout=5)'))",
     "the connection timed out (5 s)"),
    ("('Connection aborted.', RemoteDisconnected('Remote end closed connection without response'))",
     "the server closed the connection without an answer"),
    ("... [Errno 101] Network is unreachable", "the network is unreachable"),
    ("something new", "the connection failed"),
])
def test_unreachable_reasons(text, reason) -> None:
    from ansible_collections.alicloud.ecs.plugins.module_utils.api.redaction import unreachable_reason
    assert unreachable_reason(text, 5, 10) == reason


def test_scrub_masks_signed_values_and_secrets_in_any_form() -> None:
    from urllib.parse import quote
    from ansible_collections.alicloud.ecs.plugins.module_utils.api.redaction import scrub
    text = (f"url: /?SecurityToken={quote(TOKEN, safe='')}&Action=X&Signature=abc%3D said {SECRET} and {TOKEN}")
    cleaned = scrub(text, [SECRET, TOKEN, None, "ab"])
    assert_no_secret(cleaned.replace("SecurityToken=********", "").replace("Signature=********", ""))
    assert "Action=X" in cleaned and "SecurityToken=********" in cleaned


class EchoingSdk:
    """Stands in for AcsClient: a server (or proxy) that echoes the request, secrets and all."""

    def do_action_with_exception(self, request):
        from aliyunsdkcore.acs_exception.exceptions import ServerException
        raise ServerException("SDK.UnknownServerError", f"ServerResponseBody: bad gateway for {SECRET} {TOKEN}",
                              http_status=502, request_id="R9")


def test_server_text_loses_secret_values_and_every_call_is_traced() -> None:
    lines = []
    client = sts_client("http://127.0.0.1:1", log=lambda level, line: lines.append((level, line)))
    client._sdk = EchoingSdk()
    with pytest.raises(CloudError) as caught:
        client.call("DescribeInstances")
    assert_no_secret(str(caught.value))
    assert caught.value.http_status == 502
    client._sdk = RecordingSdk()
    regional = client.for_region("cn-beijing")
    regional._sdk = RecordingSdk()
    regional.call("DescribeRegions")
    assert [level for level, _line in lines] == [4, 4]
    assert "API DescribeInstances cn-hangzhou: SDK.UnknownServerError, HTTP 502, request id R9," in lines[0][1]
    assert lines[0][1].endswith("retry 0")
    assert "API DescribeRegions cn-beijing: HTTP 2xx, request id R, " in lines[1][1]


def test_trace_counts_retries() -> None:
    lines = []
    client = make_client(["Throttling", "Throttling"])
    client.log = lambda level, line: lines.append(line) if level == client_mod.TRACE_VERBOSITY else None
    client.call("DescribeInstances")
    assert [line.split(", ")[-1] for line in lines] == ["retry 0", "retry 1", "retry 2"]
    assert lines[0].startswith("API DescribeInstances cn-hangzhou: Throttling, HTTP 400, request id R,")


class InvokingSdk:
    """Stands in for AcsClient: answers every call with an invocation id."""

    def do_action_with_exception(self, request):
        return b'{"RequestId": "R", "InvokeId": "t-abc"}'


def test_invocations_are_named_at_verbosity_three() -> None:
    lines = []
    client = make_client([])
    client.log = lambda level, line: lines.append((level, line))
    client._sdk = InvokingSdk()
    client.call("RunCommand", InstanceId=["i-1", "i-2"], CommandContent="x")
    client.call("SendFile", InstanceId=[f"i-{n}" for n in range(7)], Content="x")
    invocations = [line for level, line in lines if level == 3]
    assert invocations == ["RunCommand invocation t-abc on i-1, i-2 in cn-hangzhou",
                           "SendFile invocation t-abc on i-0, i-1, i-2, i-3, i-4 and 2 more in cn-hangzhou"]


class RoleSource:
    """A renewable source (an assumed role, say): a new STS set per fetch, fresh by our clock."""

    description = "role r assumed with a test key"
    identity = "test:role"

    def __init__(self) -> None:
        self.fetches = 0

    def fetch(self) -> Credential:
        self.fetches += 1
        now = time.time()
        return Credential(f"STS.{self.fetches}", "secret", f"token-{self.fetches}", now + 3600, now)


def expiring_client(provider: CredentialProvider, expired_calls: int) -> tuple[CloudClient, list[str]]:
    """A client whose first ``expired_calls`` requests the API refuses as expired; it records each call's key."""
    settings = resolve_settings(region="cn-hangzhou", endpoint="http://127.0.0.1:1", env={}, inherited=provider)
    client = CloudClient(settings, retry=RetryPolicy(budget=30, sleep=lambda _: None))
    signed: list[str] = []

    def send(action: str, product: str, params: dict[str, str]) -> dict:
        signed.append(provider.current().access_key_id)
        if len(signed) <= expired_calls:
            raise CloudError("InvalidSecurityToken.Expired", "Specified SecurityToken is expired.", action=action,
                             http_status=400, request_id=f"R{len(signed)}")
        return {"RequestId": "ok", "InvokeId": "t-1"}

    client._send = send
    return client, signed


def test_an_expired_token_is_renewed_and_the_call_repeated_once_even_a_write() -> None:
    source = RoleSource()
    client, signed = expiring_client(CredentialProvider(source), expired_calls=1)
    assert client.call("RunCommand", Type="RunShellScript")["InvokeId"] == "t-1"  # never retried otherwise
    assert signed == ["STS.1", "STS.2"] and source.fetches == 2


def test_a_second_expired_refusal_says_what_was_tried() -> None:
    source = RoleSource()
    client, signed = expiring_client(CredentialProvider(source), expired_calls=2)
    with pytest.raises(CloudError, match=r"InvalidSecurityToken.Expired: .*role r assumed with a test key were "
                                         r"refused as expired; the fresh ones were refused as expired too: the "
                                         r"controller's clock is probably far off") as caught:
        client.call("DescribeInstances")
    assert signed == ["STS.1", "STS.2"] and caught.value.request_id == "R2"


def test_fixed_credentials_are_not_renewed_and_the_error_says_so() -> None:
    fixed = CredentialProvider(StaticSource(Credential("STS.fixed", "s", "t"), "the ALIBABA_CLOUD_* variables"))
    client, signed = expiring_client(fixed, expired_calls=5)
    with pytest.raises(CloudError, match=r"the ALIBABA_CLOUD_\* variables were refused as expired; they are fixed "
                                         r"and cannot be renewed: supply a fresh STS token"):
        client.call("DescribeInstances")
    assert signed == ["STS.fixed"]


def test_a_sibling_s_renewal_in_the_shared_cache_is_taken_not_the_refused_set(tmp_path) -> None:
    source = RoleSource()
    cache = CredentialCache(str(tmp_path / "cache"))
    mine, sibling = CredentialProvider(source, cache), CredentialProvider(source, cache)
    refused = mine.current()
    assert sibling.current().access_key_id == refused.access_key_id == "STS.1"  # shared, one fetch
    assert sibling.renew(refused) and sibling.current().access_key_id == "STS.2"
    assert mine.renew(refused) and mine.current().access_key_id == "STS.2" and source.fetches == 2
