"""An STS token the API refuses as expired, and an instance role that must not be read without a session token.

The emulator answers ``InvalidSecurityToken.Expired`` through its fault plan (as it does for an issued STS token
past its expiry, which here would need the controller's clock set back): a renewable source is renewed and the
call repeated once, a second refusal and fixed credentials are reported plainly. EcsRamRole profiles obey
ALIBABA_CLOUD_IMDSV1_DISABLED as the credential chain does.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from emulator.testing import EmulatorProcess

KEY, SECRET = "LTAI5tExpiryTests", "expiry-test-secret"
STS_KEY, STS_SECRET, STS_TOKEN = "STS.ExpiryTests", "expiry-sts-secret", "expiry-sts-token"
ROLE = "acs:ram::1234567890123456:role/deployer"
FLEET = {
    "access_keys": [{"id": KEY, "secret": SECRET},
                    {"id": STS_KEY, "secret": STS_SECRET, "security_token": STS_TOKEN, "expires": "2099-01-01T00:00:00Z"}],
    "regions": [{"id": "cn-hangzhou", "zones": ["cn-hangzhou-h"]}],
    "instances": [{"name": "web-1"}],
    "roles": [{"arn": ROLE, "trusted": [KEY]}],
    "instance_role": {"name": "controller-role", "token_required": True},
}
PROFILES = {
    "Role": {"mode": "RamRoleArn", "access_key_id": KEY, "access_key_secret": SECRET, "ram_role_arn": ROLE,
             "ram_session_name": "expiry"},
    "Sts": {"mode": "StsToken", "access_key_id": STS_KEY, "access_key_secret": STS_SECRET, "sts_token": STS_TOKEN},
    "Ecs": {"mode": "EcsRamRole", "ram_role_name": "controller-role"},
}
INFO = [{"name": "info", "alicloud.ecs.instance_info": {"region": "cn-hangzhou"}, "register": "info"}]


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    with EmulatorProcess(fleet=FLEET, state_dir=tmp_path_factory.mktemp("expiry-state")) as process:
        yield process


@pytest.fixture
def profiled(ansible, emulator, tmp_path):
    """The ansible runner with no key in its environment, only the profiles above; STS and metadata are the
    emulator's."""
    for name in ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_SECURITY_TOKEN"):
        ansible.env.pop(name, None)
    config = tmp_path / "aliyun-config.json"
    config.write_text(json.dumps({"current": "", "profiles": [
        {"name": name, "region_id": "cn-hangzhou", **fields} for name, fields in PROFILES.items()]}))
    ansible.env.update({"ALIBABA_CLOUD_CONFIG_FILE": str(config),
                        "ALIBABA_CLOUD_CREDENTIALS_FILE": str(tmp_path / "no-credentials.ini"),
                        "ALIBABA_CLOUD_STS_ENDPOINT": emulator.endpoint,
                        "ALIBABA_CLOUD_ECS_METADATA_ENDPOINT": emulator.endpoint,
                        "ANSIBLE_ALICLOUD_CREDENTIAL_CACHE": str(tmp_path / "credential-cache")})
    emulator.clear_faults()
    emulator.reset_counters()
    yield ansible
    emulator.clear_faults()


def expire(emulator: EmulatorProcess, times: int) -> None:
    """The next ``times`` DescribeInstances calls are refused as if their token had expired."""
    emulator.faults(emulator.error("DescribeInstances", times=times, code="InvalidSecurityToken.Expired",
                                   http_status=400, message="Specified SecurityToken is expired."))


def test_a_renewable_source_is_renewed_and_the_call_repeated(profiled, emulator) -> None:
    expire(emulator, times=1)
    played = profiled.play(INFO, env={"ALIBABA_CLOUD_PROFILE": "Role"})
    assert played.rc == 0, played.output
    assert [item["instance_name"] for item in played.result("info")["instances"]] == ["web-1"]
    counters = emulator.counters()
    assert counters["DescribeInstances"] == 2 and counters["AssumeRole"] == 2, counters  # the repeat, fresh set


def test_a_second_refusal_fails_clearly(profiled, emulator) -> None:
    expire(emulator, times=2)
    played = profiled.play(INFO, env={"ALIBABA_CLOUD_PROFILE": "Role"})
    assert played.rc != 0
    text = " ".join(played.output.split())
    assert "InvalidSecurityToken.Expired" in text, played.output
    assert "profile 'Role' (RamRoleArn)" in text and "the fresh ones were refused as expired too" in text, played.output
    assert "controller's clock" in text
    assert emulator.counters()["DescribeInstances"] == 2  # once repeated, never more


def test_fixed_sts_credentials_are_not_repeated_and_the_error_says_why(profiled, emulator) -> None:
    expire(emulator, times=1)
    played = profiled.play(INFO, env={"ALIBABA_CLOUD_PROFILE": "Sts"})
    assert played.rc != 0
    text = " ".join(played.output.split())
    assert "they are fixed and cannot be renewed: supply a fresh STS token" in text, played.output
    assert STS_TOKEN not in played.output and STS_SECRET not in played.output
    assert emulator.counters()["DescribeInstances"] == 1


class Tokenless(BaseHTTPRequestHandler):
    """A metadata service that knows no session tokens (PUT is unknown), and would give its role to anyone."""

    seen: list[str] = []

    def do_PUT(self) -> None:
        self.seen.append("PUT")
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        self.seen.append("GET")
        self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        return


def test_an_ecs_role_profile_obeys_imdsv1_disabled(profiled, emulator) -> None:
    disabled = {"ALIBABA_CLOUD_PROFILE": "Ecs", "ALIBABA_CLOUD_IMDSV1_DISABLED": "true"}
    played = profiled.play(INFO, env=disabled)  # the emulator's service hands out session tokens
    assert played.rc == 0, played.output
    assert emulator.counters()["Metadata.Token"] >= 1
    server = ThreadingHTTPServer(("127.0.0.1", 0), Tokenless)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Tokenless.seen = []
    try:
        refused = profiled.play(INFO, env={**disabled, "ALIBABA_CLOUD_ECS_METADATA_ENDPOINT":
                                           f"http://127.0.0.1:{server.server_address[1]}"})
    finally:
        server.shutdown()
    assert refused.rc != 0
    assert "ALIBABA_CLOUD_IMDSV1_DISABLED forbids asking without one" in " ".join(refused.output.split())
    assert Tokenless.seen and "GET" not in Tokenless.seen  # the role was never asked for without a token
