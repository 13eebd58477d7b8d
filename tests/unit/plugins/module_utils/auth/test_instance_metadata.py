"""The metadata client: token-hardened mode first, the fallback without a token, and what its errors say."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.api.errors import ConfigError
from ansible_collections.alicloud.ecs.plugins.module_utils.auth.credential_chain import (
    CredentialOptions, resolve_credentials,
)
from ansible_collections.alicloud.ecs.plugins.module_utils.auth.instance_metadata import MetadataSource

CREDENTIALS = {"Code": "Success", "AccessKeyId": "STS.meta", "AccessKeySecret": "s", "SecurityToken": "t",
               "Expiration": "2099-01-01T00:00:00Z"}


class OldMetadata(BaseHTTPRequestHandler):
    """A service without session tokens (PUT is unknown) that serves one role; it records the requests."""

    seen: list[tuple[str, str, str | None]] = []

    def do_PUT(self) -> None:
        self.seen.append(("PUT", self.path, None))
        self.send_response(404)
        self.end_headers()

    def do_GET(self) -> None:
        self.seen.append(("GET", self.path, self.headers.get("X-aliyun-ecs-metadata-token")))
        body = ("ops-role" if self.path.endswith("/security-credentials/") else json.dumps(CREDENTIALS)).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        return


@pytest.fixture
def old_service():
    server = ThreadingHTTPServer(("127.0.0.1", 0), OldMetadata)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    OldMetadata.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_service_without_tokens_is_asked_without_one(old_service) -> None:
    got = MetadataSource(old_service).fetch()
    assert (got.access_key_id, got.security_token, got.expiration) == ("STS.meta", "t", 4070908800.0)
    assert [entry[:2] for entry in OldMetadata.seen] == [
        ("PUT", "/latest/api/token"), ("GET", "/latest/meta-data/ram/security-credentials/"),
        ("GET", "/latest/meta-data/ram/security-credentials/ops-role")]


def test_the_tokenless_fallback_can_be_forbidden(old_service) -> None:
    with pytest.raises(ConfigError, match="ALIBABA_CLOUD_IMDSV1_DISABLED forbids"):
        MetadataSource(old_service, token_required=True).fetch()


def test_no_answer_says_not_on_ecs() -> None:
    with pytest.raises(ConfigError, match="not on ECS, or its instance has no RAM role attached"):
        MetadataSource("http://127.0.0.1:9").fetch()


def profile_env(tmp_path, which: str, endpoint: str, **extra: str) -> dict[str, str]:
    """An EcsRamRole CLI profile, or (no CLI config) an ecs_ram_role ini section, on the service at ``endpoint``."""
    config, ini = tmp_path / "config.json", tmp_path / "credentials.ini"
    config.write_text(json.dumps({"current": "", "profiles": [{"name": "ecs", "mode": "EcsRamRole",
                                                               "ram_role_name": "ops-role"}]}))
    ini.write_text("[ecs]\ntype = ecs_ram_role\nrole_name = ops-role\n")
    return {"ALIBABA_CLOUD_CONFIG_FILE": str(config if which == "CLI profile" else tmp_path / "none.json"),
            "ALIBABA_CLOUD_CREDENTIALS_FILE": str(ini), "ALIBABA_CLOUD_ECS_METADATA_ENDPOINT": endpoint,
            "ANSIBLE_ALICLOUD_CREDENTIAL_CACHE": "off", **extra}


@pytest.mark.parametrize("which", ["CLI profile", "ini section"])
def test_ecs_role_profiles_obey_imdsv1_disabled_as_the_chain_does(tmp_path, old_service, which) -> None:
    options = CredentialOptions(profile="ecs")
    allowed = resolve_credentials(options, profile_env(tmp_path, which, old_service))
    assert allowed.current().access_key_id == "STS.meta"
    OldMetadata.seen = []
    forbidden = resolve_credentials(options, profile_env(tmp_path, which, old_service,
                                                         ALIBABA_CLOUD_IMDSV1_DISABLED="true"))
    with pytest.raises(ConfigError, match="gave no session token .* ALIBABA_CLOUD_IMDSV1_DISABLED forbids"):
        forbidden.current()
    assert [entry[0] for entry in OldMetadata.seen] == ["PUT"]  # nothing was asked without a token
