"""CloudModule, the wrapper of every alicloud.ecs module, run in-process with real module arguments: the shared
options it adds, no credential lookup until the client is used, a real API call to a local stand-in carrying
the options' key and region, and each kind of failure turned into one clean module result."""

from __future__ import annotations

import json
import threading
import typing as t
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from ansible.module_utils import basic

from ansible_collections.alicloud.ecs.plugins.module_utils.api.errors import CloudError, ConfigError
from ansible_collections.alicloud.ecs.plugins.module_utils.services import cloud_module
from ansible_collections.alicloud.ecs.plugins.module_utils.services.cloud_module import CloudModule

SECRET = "SENTINEL-module-secret"


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No credentials, profile, metadata service or shared state from the machine running the tests."""
    for name in ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALICLOUD_ACCESS_KEY",
                 "ALICLOUD_SECRET_KEY", "ALIBABA_CLOUD_SECURITY_TOKEN", "ALICLOUD_SECURITY_TOKEN",
                 "ALIBABA_CLOUD_PROFILE", "ALICLOUD_PROFILE", "ALIBABA_CLOUD_REGION_ID", "ALICLOUD_REGION",
                 "ALIBABA_CLOUD_ECS_ENDPOINT", "ALICLOUD_ECS_ENDPOINT", "ALIBABA_CLOUD_ROLE_ARN",
                 "ALIBABA_CLOUD_CREDENTIALS_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("ALIBABA_CLOUD_CONFIG_FILE", str(tmp_path / "no-config.json"))
    monkeypatch.setenv("ALIBABA_CLOUD_CREDENTIALS_FILE", str(tmp_path / "no-credentials.ini"))
    monkeypatch.setenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
    monkeypatch.setenv("ANSIBLE_ALICLOUD_CREDENTIAL_CACHE", "off")


def module_args(monkeypatch, args: dict[str, t.Any]) -> None:
    """What ansible hands a module on its stdin, as ansible's own test helper sets it."""
    monkeypatch.setattr(basic, "_ANSIBLE_ARGS", json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode())
    if hasattr(basic, "_ANSIBLE_PROFILE"):
        monkeypatch.setattr(basic, "_ANSIBLE_PROFILE", "legacy")


def result_of(capsys, run: t.Callable[[], t.Any]) -> dict[str, t.Any]:
    """The JSON a module prints when it exits or fails."""
    with pytest.raises(SystemExit):
        run()
    return json.loads(capsys.readouterr().out)


OWN_SPEC = {"name": {"type": "str", "required": True}}


class Api(BaseHTTPRequestHandler):
    """An RPC endpoint answering every action with ``answer`` and recording the query of each request."""

    seen: list[dict[str, str]] = []
    answer: tuple[int, dict[str, t.Any]] = (200, {})

    def do_GET(self) -> None:
        self._reply({key: values[0] for key, values in parse_qs(urlsplit(self.path).query).items()})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = parse_qs(self.rfile.read(length).decode())
        query = parse_qs(urlsplit(self.path).query)
        self._reply({key: values[0] for key, values in {**query, **body}.items()})

    def _reply(self, params: dict[str, str]) -> None:
        self.seen.append(params)
        status, body = self.answer
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        return


@pytest.fixture
def api():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Api.seen, Api.answer = [], (200, {"RequestId": "R-ok", "Regions": {"Region": []}})
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_shared_options_join_the_modules_own_with_their_aliases_and_fallbacks(monkeypatch) -> None:
    monkeypatch.setenv("ALICLOUD_REGION", "cn-beijing")
    monkeypatch.setenv("ANSIBLE_ALICLOUD_RETRY_BUDGET", "7.5")
    module_args(monkeypatch, {"name": "x", "access_key": "LTAI.k", "secret_key": SECRET})
    module = CloudModule(OWN_SPEC)
    assert module.params["name"] == "x" and module.params["region"] == "cn-beijing"
    assert module.params["retry_budget"] == 7.5
    module_args(monkeypatch, {"name": "x", "region_id": "cn-shanghai"})
    assert CloudModule(OWN_SPEC).params["region"] == "cn-shanghai"


def test_a_wrong_option_fails_before_anything_else_naming_it(monkeypatch, capsys) -> None:
    module_args(monkeypatch, {"name": "x", "connect_timeout": "soon"})
    result = result_of(capsys, lambda: CloudModule(OWN_SPEC))
    assert result["failed"] and "connect_timeout" in result["msg"]
    module_args(monkeypatch, {"name": "x", "nmae": "x"})
    result = result_of(capsys, lambda: CloudModule(OWN_SPEC))
    assert result["failed"] and "Unsupported parameters" in result["msg"] and "nmae" in result["msg"]
    module_args(monkeypatch, {})
    result = result_of(capsys, lambda: CloudModule(OWN_SPEC))
    assert result["failed"] and result["msg"] == "missing required arguments: name"


def test_no_credentials_cost_nothing_until_the_client_is_asked_for(monkeypatch, capsys) -> None:
    module_args(monkeypatch, {"name": "x", "region": "cn-hangzhou"})
    module = CloudModule(OWN_SPEC)  # builds: argument checks need no credentials
    result = result_of(capsys, lambda: module.client)
    assert result["failed"] and result["msg"].startswith("No Alibaba Cloud credentials. Tried, in order: 1. ")


def test_a_missing_region_is_named_when_the_client_is_built(monkeypatch, capsys) -> None:
    module_args(monkeypatch, {"name": "x", "access_key": "LTAI.k", "secret_key": SECRET})
    result = result_of(capsys, lambda: CloudModule(OWN_SPEC).client)
    assert result["failed"] and "region" in result["msg"] and SECRET not in json.dumps(result)


def test_the_client_calls_the_endpoint_with_the_options_key_and_region(monkeypatch, api) -> None:
    module_args(monkeypatch, {"name": "x", "access_key": "LTAI.module", "secret_key": SECRET,
                              "region": "cn-shanghai", "endpoint": api, "retry_budget": 0})
    module = CloudModule(OWN_SPEC)
    assert module.client is module.client  # built once
    assert module.client.call("DescribeRegions")["RequestId"] == "R-ok"
    (asked,) = Api.seen
    assert (asked["Action"], asked["AccessKeyId"], asked["RegionId"]) == ("DescribeRegions", "LTAI.module",
                                                                          "cn-shanghai")
    assert SECRET not in json.dumps(asked)


def test_an_api_refusal_inside_failures_is_one_result_with_the_apis_words(monkeypatch, capsys, api) -> None:
    Api.answer = (400, {"RequestId": "R-400", "Code": "InvalidParameter", "Message": "name is bad"})
    module_args(monkeypatch, {"name": "x", "access_key": "LTAI.module", "secret_key": SECRET,
                              "region": "cn-shanghai", "endpoint": api, "retry_budget": 0})
    module = CloudModule(OWN_SPEC)

    def run() -> None:
        with module.failures(changed=False, instances=[]):
            module.client.call("DescribeInstances")

    result = result_of(capsys, run)
    assert result["failed"] and result["changed"] is False and result["instances"] == []
    assert result["error"]["code"] == "InvalidParameter" and result["error"]["request_id"] == "R-400"
    assert result["error"]["action"] == "DescribeInstances"
    assert "DescribeInstances failed: InvalidParameter: name is bad" in result["msg"]
    assert "access key id LTAI.module" in result["msg"] and SECRET not in json.dumps(result)


def test_failures_turn_config_errors_into_a_message_and_let_other_errors_through(monkeypatch, capsys) -> None:
    module_args(monkeypatch, {"name": "x"})
    module = CloudModule(OWN_SPEC)

    def config_error() -> None:
        with module.failures(instance_id="i-1"):
            raise ConfigError("timeout must be at most 86400")

    result = result_of(capsys, config_error)
    assert result == {**result, "failed": True, "msg": "timeout must be at most 86400", "instance_id": "i-1"}
    with pytest.raises(KeyError):
        with module.failures():
            raise KeyError("a bug stays a bug")


def test_fail_cloud_gives_the_error_as_data(monkeypatch, capsys) -> None:
    module_args(monkeypatch, {"name": "x"})
    error = CloudError("Throttling.User", "slow down", action="RunCommand", request_id="R-1", http_status=400)
    result = result_of(capsys, lambda: CloudModule(OWN_SPEC).fail_cloud(error, invoke_id="t-1"))
    assert result["error"] == {"code": "Throttling.User", "message": "slow down", "action": "RunCommand",
                               "request_id": "R-1", "http_status": 400}
    assert result["invoke_id"] == "t-1" and result["msg"] == str(error)


def test_a_path_in_the_result_is_not_described_from_the_controllers_disk(monkeypatch, capsys, tmp_path) -> None:
    """A path these modules return is on an instance; ansible would add the controller's owner and mode."""
    module_args(monkeypatch, {"name": "x"})
    result = result_of(capsys, lambda: CloudModule(OWN_SPEC).exit_json(changed=False, path=str(tmp_path)))
    assert result["path"] == str(tmp_path)
    assert not {"owner", "mode", "size", "uid", "state"} & set(result)


def test_the_secret_is_masked_in_what_the_module_returns(monkeypatch, capsys) -> None:
    module_args(monkeypatch, {"name": "x", "access_key": "LTAI.k", "secret_key": SECRET, "security_token": SECRET})
    result = result_of(capsys, lambda: CloudModule(OWN_SPEC).exit_json(changed=False, echoed=SECRET))
    assert SECRET not in json.dumps(result)


def test_without_the_sdk_the_module_fails_naming_both_packages(monkeypatch, capsys) -> None:
    monkeypatch.setattr(cloud_module, "HAS_SDK", False)
    module_args(monkeypatch, {"name": "x"})
    result = result_of(capsys, lambda: CloudModule(OWN_SPEC))
    assert result["failed"] and "aliyun-python-sdk-core and aliyun-python-sdk-ecs" in result["msg"]
