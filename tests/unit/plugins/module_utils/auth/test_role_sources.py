"""Assumed roles: the STS endpoint chosen, STS's limits checked before any call, and AssumeRole / OIDC run through
the alibabacloud-credentials library against a local STS stand-in that records what it was asked and can refuse."""

from __future__ import annotations

import json
import threading
import typing as t
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.auth.credentials import (
    Credential, CredentialProvider, StaticSource,
)
from ansible_collections.alicloud.ecs.plugins.module_utils.auth.errors import CloudError, ConfigError
from ansible_collections.alicloud.ecs.plugins.module_utils.auth.role_sources import (
    AssumeRoleSource, OidcSource, RoleSpec, StsEndpoint,
)

ROLE = "acs:ram::1234567890123456:role/deployer"


class Sts(BaseHTTPRequestHandler):
    """Answers AssumeRole (GET, query) and AssumeRoleWithOIDC (POST, form) with a set, or with ``refuse``."""

    seen: list[dict[str, str]] = []
    refuse: dict[str, t.Any] | None = None

    def _answer(self, params: dict[str, str]) -> None:
        self.seen.append(params)
        if self.refuse is not None:
            status, body = 403, dict(self.refuse)
        else:
            status, body = 200, {"RequestId": "R-ok", "Credentials": {
                "AccessKeyId": "STS.assumed", "AccessKeySecret": "assumed-secret", "SecurityToken": "assumed-token",
                "Expiration": "2099-01-01T00:00:00Z"}}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._answer({key: values[0] for key, values in parse_qs(urlsplit(self.path).query).items()})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode())
        query = parse_qs(urlsplit(self.path).query)
        self._answer({key: values[0] for key, values in {**query, **form}.items()})

    def log_message(self, *args) -> None:
        return


@pytest.fixture
def sts():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Sts)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Sts.seen, Sts.refuse = [], None
    yield StsEndpoint(endpoint=f"http://127.0.0.1:{server.server_address[1]}")
    server.shutdown()
    server.server_close()


def keys(key_id: str = "LTAI.base", token: str | None = None) -> CredentialProvider:
    return CredentialProvider(StaticSource(Credential(key_id, "base-secret", token), "the test keys"))


@pytest.mark.parametrize("endpoint, host", [
    (StsEndpoint(), "sts.aliyuncs.com"),
    (StsEndpoint(region="cn-shanghai"), "sts.cn-shanghai.aliyuncs.com"),
    (StsEndpoint(region="cn-shanghai", vpc=True), "sts-vpc.cn-shanghai.aliyuncs.com"),
    (StsEndpoint(vpc=True), "sts-vpc.aliyuncs.com"),
    (StsEndpoint(endpoint="sts.example.com", region="cn-shanghai"), "sts.example.com"),
    (StsEndpoint(endpoint="https://sts.example.com:8443/"), "sts.example.com:8443"),
    (StsEndpoint(endpoint="http://127.0.0.1:9000"), "http://127.0.0.1:9000"),
])
def test_the_explicit_endpoint_wins_then_the_regional_or_vpc_one_then_the_central_one(endpoint, host) -> None:
    assert endpoint.host() == host
    assert endpoint.shown() == (host if host.startswith("http://") else f"https://{host}")


@pytest.mark.parametrize("bad", ["ftp://sts.example.com", "https://sts.example.com/path", "http://"])
def test_an_endpoint_that_is_not_a_host_is_refused_with_the_option_name(bad: str) -> None:
    with pytest.raises(ConfigError, match="sts_endpoint must look like http"):
        StsEndpoint(endpoint=bad).host()


@pytest.mark.parametrize("spec, message", [
    (RoleSpec("role/deployer"), "assume_role_arn must look like acs:ram::<account id>:role/<name>"),
    (RoleSpec(ROLE, session_name="a"), "assume_role_session_name must be 2 to 64"),
    (RoleSpec(ROLE, session_name="has space"), "assume_role_session_name must be 2 to 64"),
    (RoleSpec(ROLE, duration=899), "assume_role_duration must be between 900 and 43200 seconds, got 899"),
    (RoleSpec(ROLE, duration=43201), "between 900 and 43200"),
    (RoleSpec(ROLE, external_id="x"), "assume_role_external_id must be 2 to 1224"),
    (RoleSpec(ROLE, policy="p" * 2049), "assume_role_policy must be at most 2048 characters, got 2049"),
])
def test_stss_limits_are_checked_before_any_call(spec: RoleSpec, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        spec.validate()
    with pytest.raises(ConfigError, match=message):
        AssumeRoleSource(keys(), spec, StsEndpoint())  # building the source is enough


def test_the_identity_tells_policies_apart_without_holding_one() -> None:
    one = RoleSpec(ROLE, policy='{"Statement": "secret-bucket"}').identity()
    other = RoleSpec(ROLE, policy='{"Statement": "other"}').identity()
    assert one != other and "secret-bucket" not in one
    assert RoleSpec(ROLE).identity() == RoleSpec(ROLE).identity()


def test_assume_role_signs_with_the_base_keys_and_returns_the_assumed_set(sts) -> None:
    source = AssumeRoleSource(keys(token="base-token"), RoleSpec(ROLE, "ops", 1800, "ext-1", '{"Version": "1"}'),
                              sts)
    got = source.fetch()
    assert (got.access_key_id, got.access_key_secret, got.security_token) == (
        "STS.assumed", "assumed-secret", "assumed-token")
    assert got.expiration == 4070908800.0  # 2099-01-01T00:00:00Z
    (asked,) = Sts.seen
    assert {key: asked.get(key) for key in ("Action", "RoleArn", "RoleSessionName", "DurationSeconds",
                                            "ExternalId", "Policy", "AccessKeyId", "SecurityToken")} == {
        "Action": "AssumeRole", "RoleArn": ROLE, "RoleSessionName": "ops", "DurationSeconds": "1800",
        "ExternalId": "ext-1", "Policy": '{"Version": "1"}', "AccessKeyId": "LTAI.base",
        "SecurityToken": "base-token"}
    assert asked.get("Signature")
    assert source.identity.endswith(f"|{sts.host()}|static:LTAI.base")
    assert source.description == "role acs:ram::1234567890123456:role/deployer assumed with the test keys"


def test_a_refusal_names_the_role_and_the_services_code_never_the_keys(sts) -> None:
    Sts.refuse = {"RequestId": "R-403", "Code": "NoPermission", "Message": "You are not authorized to assume"}
    with pytest.raises(CloudError) as raised:
        AssumeRoleSource(keys(), RoleSpec(ROLE), sts).fetch()
    error = raised.value
    assert (error.code, error.action, error.request_id, error.http_status) == (
        "NoPermission", "AssumeRole", "R-403", 403)
    text = str(error)
    assert f"assuming role {ROLE} (with the test keys) refused: You are not authorized" in text
    assert "base-secret" not in text and "Signature" not in text


def test_an_sts_endpoint_that_does_not_answer_says_where_without_the_signed_url(sts) -> None:
    closed = StsEndpoint(endpoint="http://127.0.0.1:9")
    with pytest.raises(ConfigError) as raised:
        AssumeRoleSource(keys(), RoleSpec(ROLE), closed).fetch()
    assert "cannot reach http://127.0.0.1:9" in str(raised.value)
    assert "Signature" not in str(raised.value) and "LTAI.base" not in str(raised.value)


def test_oidc_sends_the_token_file_and_returns_the_assumed_set(sts, tmp_path) -> None:
    token = tmp_path / "token"
    token.write_text("eyJ.oidc.token")
    source = OidcSource(RoleSpec(ROLE, "pod"), "acs:ram::1:oidc-provider/ack", str(token), sts, "RRSA")
    assert source.fetch().access_key_id == "STS.assumed"
    (asked,) = Sts.seen
    assert {key: asked.get(key) for key in ("Action", "RoleArn", "OIDCProviderArn", "OIDCToken",
                                            "RoleSessionName")} == {
        "Action": "AssumeRoleWithOIDC", "RoleArn": ROLE, "OIDCProviderArn": "acs:ram::1:oidc-provider/ack",
        "OIDCToken": "eyJ.oidc.token", "RoleSessionName": "pod"}


def test_a_missing_oidc_token_file_is_named_before_any_call(sts, tmp_path) -> None:
    source = OidcSource(RoleSpec(ROLE), "acs:ram::1:oidc-provider/ack", str(tmp_path / "absent"), sts, "RRSA")
    with pytest.raises(ConfigError, match=f"RRSA: the OIDC token file {tmp_path / 'absent'} does not exist"):
        source.fetch()
    assert Sts.seen == []
