"""The metadata client: token-hardened mode first, the fallback without a token, and what its errors say."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.api.errors import ConfigError
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
