"""Sentinel credentials on every error path: no secret, token or signed URL in any output or file.

The secrets only ever live in the environment here, so any file or output that holds one got it from the
collection. Add new credential sources to SENTINELS (and their variables to ``sentinel_env``).
"""

from __future__ import annotations

import json
import socket
import sys
import threading
from pathlib import Path

import pytest

SENTINELS = {
    "access key secret": "SENTINEL-secret-4b7d",
    "STS token": "SENTINEL-token-9c2e",
    "OIDC token": "SENTINEL-oidc-61fa",
}
# Variables that would pick a credential source ahead of the one a test means (empty counts as unset).
UNSET_SOURCES = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "",
                 "ALIBABA_CLOUD_SECURITY_TOKEN": "", "ALICLOUD_ACCESS_KEY": "", "ALICLOUD_SECRET_KEY": "",
                 "ALICLOUD_SECURITY_TOKEN": "", "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true"}
# One task per module (and the run action): the least each needs to make its first API call.
MODULE_TASKS = {
    "assistant_info": {},
    "assistant_install": {"instance_ids": ["i-sentinel"]},
    "console_output_info": {"instance_ids": ["i-sentinel"]},
    "event_info": {},
    "instance_info": {},
    "invocation": {"content": "true", "instance_ids": ["i-sentinel"]},
    "invocation_info": {},
    "oos_execution": {"template_name": "sentinel"},
    "oos_parameter": {"name": "sentinel", "value": "SENTINEL-parameter-value-5d2e"},
    "oos_template": {"name": "sentinel", "content": "FormatVersion: OOS-2019-06-01\nTasks: []\n"},
    "run": {"content": "true", "instance_ids": ["i-sentinel"]},
    "saved_command": {"name": "sentinel", "content": "true"},
    "saved_command_info": {},
    "scheduled_job": {"name": "sentinel", "content": "true", "instance_ids": ["i-sentinel"],
                      "schedule": {"rate": "5m"}},
    "send_file": {"instance_ids": ["i-sentinel"], "target_dir": "/tmp", "name": "f", "content": "x"},
}
QUICK_MODULES = ("instance_info", "invocation", "send_file", "run")


def test_every_module_is_driven() -> None:
    modules = {path.stem for path in (Path(__file__).resolve().parents[2] / "plugins" / "modules").glob("*.py")}
    assert set(MODULE_TASKS) == modules - {"__init__"}


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def silent_endpoint():
    """An endpoint that accepts connections and never answers (every call ends in a read timeout)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.5)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    listener.close()


def sentinel_env(tmp_path: Path, endpoint: str, key_id: str = "LTAIsentinel",
                 secret: str = SENTINELS["access key secret"], token: str | None = SENTINELS["STS token"]) -> dict:
    env = {
        "ALIBABA_CLOUD_ACCESS_KEY_ID": key_id, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": secret,
        "ALIBABA_CLOUD_ECS_ENDPOINT": endpoint, "ANSIBLE_ALICLOUD_RETRY_BUDGET": "0",
        "ANSIBLE_ALICLOUD_CONNECT_TIMEOUT": "2", "ANSIBLE_ALICLOUD_READ_TIMEOUT": "1",
        # ansible's own log file and home (~/.ansible) are per test, so what lands there is searched too
        "ANSIBLE_LOG_PATH": str(tmp_path / "ansible.log"), "HOME": str(tmp_path / "home"),
    }
    if token:
        env["ALIBABA_CLOUD_SECURITY_TOKEN"] = token
    return env


def playbook(tmp_path: Path, instance_id: str, region: str, modules: tuple[str, ...]) -> tuple[Path, Path]:
    """Every chosen module (on the controller), then a ping through the connection."""
    inventory = tmp_path / "hosts.json"
    inventory.write_text(json.dumps({"all": {"hosts": {
        "localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
        "target": {"ansible_connection": "alicloud.ecs.cloud_assistant", "ansible_alicloud_instance_id": instance_id,
                   "ansible_alicloud_region": region}}}}))
    tasks = [{"name": f"module {name}", f"alicloud.ecs.{name}": MODULE_TASKS[name], "ignore_errors": True,
              **({"run_once": True} if name == "run" else {})} for name in modules]
    play = tmp_path / "play.yml"
    play.write_text(json.dumps([
        {"name": "modules", "hosts": "localhost", "gather_facts": False, "tasks": tasks},
        {"name": "connection", "hosts": "target", "gather_facts": False,
         "tasks": [{"name": "ping", "ansible.builtin.ping": {}}]},
    ]))
    return inventory, play


def assert_no_sentinel(tmp_path: Path, *outputs: str) -> None:
    for label, value in SENTINELS.items():
        for output in outputs:
            assert value not in output, f"the {label} was shown:\n{output}"
        holders = [str(path) for path in tmp_path.rglob("*") if path.is_file() and value.encode() in path.read_bytes()]
        assert not holders, f"the {label} was written to {holders}"


def drive(ansible, tmp_path: Path, env: dict, modules: tuple[str, ...], instance_id: str, region: str) -> str:
    """ansible-inventory with the instances plugin, then the modules and the connection, all at -vvvv."""
    listing = ansible.inventory("--list", "-vvvv", env={**env, "ALIBABA_CLOUD_REGION_ID": region})
    inventory, play = playbook(tmp_path, instance_id, region, modules)
    run = ansible.playbook(play, "-vvvv", inventory=inventory, env={**env, "ALIBABA_CLOUD_REGION_ID": region})
    assert run.rc != 0  # the ping cannot succeed on any of these paths
    assert_no_sentinel(tmp_path, listing.output, run.output)
    return listing.output + run.output


def test_refused_endpoint_every_module(ansible, reachable, tmp_path) -> None:
    port = closed_port()
    output = drive(ansible, tmp_path, sentinel_env(tmp_path, f"http://127.0.0.1:{port}"), tuple(MODULE_TASKS),
                   reachable[0]["id"], reachable[0]["region"])
    reach = f"cannot reach http://127.0.0.1:{port}: connection refused"
    # each module, the action, the inventory and the connection said why, in those words
    assert output.count(reach) >= len(MODULE_TASKS) + 2, output
    assert "UNREACHABLE" in output


@pytest.mark.parametrize("path", ["dns failure", "timeout"])
def test_unreachable_endpoints(ansible, reachable, tmp_path, silent_endpoint, path) -> None:
    endpoint, reason = {"dns failure": ("http://no-such-host.invalid:8080", "does not resolve"),
                        "timeout": (silent_endpoint, "no answer within the read timeout")}[path]
    output = drive(ansible, tmp_path, sentinel_env(tmp_path, endpoint), QUICK_MODULES,
                   reachable[0]["id"], reachable[0]["region"])
    assert reason in output, output


@pytest.mark.parametrize("path", ["wrong secret", "foreign token"])
def test_refused_credentials(ansible, emulator, reachable, tmp_path, path) -> None:
    real = emulator.env()
    if path == "wrong secret":
        env = sentinel_env(tmp_path, real["ALIBABA_CLOUD_ECS_ENDPOINT"], real["ALIBABA_CLOUD_ACCESS_KEY_ID"])
    else:  # the account's own key and secret with a token that is not theirs
        env = sentinel_env(tmp_path, real["ALIBABA_CLOUD_ECS_ENDPOINT"], real["ALIBABA_CLOUD_ACCESS_KEY_ID"],
                           real["ALIBABA_CLOUD_ACCESS_KEY_SECRET"])
    output = drive(ansible, tmp_path, env, QUICK_MODULES, reachable[0]["id"], reachable[0]["region"])
    assert real["ALIBABA_CLOUD_ACCESS_KEY_ID"] in output  # the key ID is named, to recognise the credential
    assert real["ALIBABA_CLOUD_ACCESS_KEY_SECRET"] not in output


@pytest.mark.parametrize("source", ["assume role from a CLI profile", "OIDC"])
def test_credential_sources_behind_an_unreachable_sts(ansible, reachable, tmp_path, tmp_path_factory, source) -> None:
    """The secrets sit in files outside the searched directory; STS (AssumeRole, AssumeRoleWithOIDC) refuses
    connections, and so does the API endpoint."""
    where = tmp_path_factory.mktemp("secret-sources")
    sts = f"http://127.0.0.1:{closed_port()}"
    env = {**sentinel_env(tmp_path, f"http://127.0.0.1:{closed_port()}", token=None), **UNSET_SOURCES,
           "ALIBABA_CLOUD_STS_ENDPOINT": sts}
    if source == "OIDC":
        (where / "oidc-token").write_text(SENTINELS["OIDC token"])
        env.update({"ALIBABA_CLOUD_ROLE_ARN": "acs:ram::123456789012:role/sentinel",
                    "ALIBABA_CLOUD_OIDC_PROVIDER_ARN": "acs:ram::123456789012:oidc-provider/sentinel",
                    "ALIBABA_CLOUD_OIDC_TOKEN_FILE": str(where / "oidc-token")})
    else:
        (where / "config.json").write_text(json.dumps({"current": "ops", "profiles": [{
            "name": "ops", "mode": "RamRoleArn", "access_key_id": "LTAIsentinel",
            "access_key_secret": SENTINELS["access key secret"], "ram_role_arn": "acs:ram::123456789012:role/sentinel",
            "ram_session_name": "sentinel", "expired_seconds": 900, "region_id": reachable[0]["region"]}]}))
        env["ALIBABA_CLOUD_CONFIG_FILE"] = str(where / "config.json")
    output = drive(ansible, tmp_path, env, QUICK_MODULES, reachable[0]["id"], reachable[0]["region"])
    assert f"cannot reach {sts}" in output, output  # the source was used, up to its STS call
