"""External commands and credentials URIs, run through the library for real: what a good answer becomes, and what
each kind of failure says (a failing command, a refusal with a code, a service that is not there)."""

from __future__ import annotations

import json
import shlex
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.auth.errors import CloudError, ConfigError
from ansible_collections.alicloud.ecs.plugins.module_utils.auth.external_sources import ExternalSource, UriSource


def printing(payload: object, exit_code: int = 0) -> str:
    """A command that prints ``payload`` as JSON and exits with ``exit_code``."""
    script = f"import sys; print({json.dumps(json.dumps(payload))}); sys.exit({exit_code})"
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(script)}"


class CredentialsUri(BaseHTTPRequestHandler):
    """A local credentials service answering every GET with ``answer`` (status, JSON body)."""

    answer: tuple[int, dict] = (200, {})

    def do_GET(self) -> None:
        status, body = self.answer
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        return


@pytest.fixture
def uri():
    server = ThreadingHTTPServer(("127.0.0.1", 0), CredentialsUri)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/credentials"
    server.shutdown()
    server.server_close()


def test_an_external_command_gives_its_temporary_set_with_its_expiry() -> None:
    source = ExternalSource(printing({"mode": "StsToken", "access_key_id": "STS.ext", "access_key_secret": "s",
                                      "sts_token": "tok", "expiration": "2099-01-01T00:00:00Z"}), "profile 'ext'")
    got = source.fetch()
    assert (got.access_key_id, got.access_key_secret, got.security_token) == ("STS.ext", "s", "tok")
    assert got.expiration == 4070908800.0
    assert source.identity == f"external:{source.command}"


def test_an_external_command_with_long_lived_keys_gives_a_set_that_never_expires() -> None:
    got = ExternalSource(printing({"mode": "AK", "access_key_id": "LTAI.ext", "access_key_secret": "s"}),
                         "profile 'ext'").fetch()
    assert (got.access_key_id, got.security_token, got.expiration) == ("LTAI.ext", None, None)


def test_a_failing_command_is_named_with_its_profile_and_exit_status() -> None:
    with pytest.raises(ConfigError, match=r"^profile 'ext' in /c.json: failed to execute external command: exit "
                                          r"status 3"):
        ExternalSource(printing({}, exit_code=3), "profile 'ext' in /c.json").fetch()


def test_a_command_printing_no_keys_is_refused() -> None:
    with pytest.raises(ConfigError, match="access_key_id or access_key_secret is empty"):
        ExternalSource(printing({"mode": "AK"}), "profile 'ext'").fetch()


def test_a_credentials_uri_gives_its_set(uri) -> None:
    CredentialsUri.answer = (200, {"Code": "Success", "AccessKeyId": "STS.uri", "AccessKeySecret": "s",
                                   "SecurityToken": "t", "Expiration": "2099-01-01T00:00:00Z"})
    got = UriSource(uri, "ALIBABA_CLOUD_CREDENTIALS_URI").fetch()
    assert (got.access_key_id, got.security_token, got.expiration) == ("STS.uri", "t", 4070908800.0)


def test_a_credentials_uri_refusal_keeps_the_services_code(uri) -> None:
    CredentialsUri.answer = (403, {"Code": "Forbidden", "Message": "not for you", "RequestId": "R-1"})
    with pytest.raises(CloudError) as raised:
        UriSource(uri, "ALIBABA_CLOUD_CREDENTIALS_URI").fetch()
    assert (raised.value.code, raised.value.http_status, raised.value.request_id) == ("Forbidden", 403, "R-1")
    assert "ALIBABA_CLOUD_CREDENTIALS_URI refused: not for you" in str(raised.value)


def test_a_credentials_uri_answering_success_without_a_set_is_a_config_error_without_its_query(uri) -> None:
    """Not a refusal with the code "Success"; and the query of the URI (which may hold a token) is left out."""
    CredentialsUri.answer = (200, {"Code": "Success"})
    with pytest.raises(ConfigError) as raised:
        UriSource(uri + "?token=secret-in-query", "ALIBABA_CLOUD_CREDENTIALS_URI").fetch()
    assert str(raised.value) == f"ALIBABA_CLOUD_CREDENTIALS_URI: error retrieving credentials from {uri}"


def test_a_credentials_uri_failing_without_a_code_says_its_status(uri) -> None:
    CredentialsUri.answer = (500, {"error": "backend down"})
    with pytest.raises(ConfigError) as raised:
        UriSource(uri + "?token=secret-in-query", "profile 'uri'").fetch()
    text = str(raised.value)
    assert text.startswith(f"profile 'uri': error refreshing credentials from {uri}") and "http_code=500" in text
    assert "secret-in-query" not in text and "backend down" not in text


def test_a_credentials_uri_that_does_not_answer_names_only_its_scheme_and_host() -> None:
    with pytest.raises(ConfigError) as raised:
        UriSource("http://127.0.0.1:9/creds?token=secret-in-query", "profile 'uri'").fetch()
    text = str(raised.value)
    assert text.startswith("profile 'uri': ") and "secret-in-query" not in text
