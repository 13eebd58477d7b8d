"""The cloud_assistant connection as ansible loads it: its options read from host variables, the environment
and their documented defaults; the instance id taken from the option or the host address; and what connecting
decides (the invocation's name, audit tags, the PowerShell preferences) or refuses, all before any API call.

ansible's plugin loader runs in a child process (as in test_stdin_delta), so the collection finder it installs
never meets this test run's own imports of the collection."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

COLLECTIONS_ROOT = Path(__file__).resolve().parents[4] / ".build" / "collections"

PROBE = r"""
import json, os, sys
from ansible.plugins.loader import init_plugin_loader
init_plugin_loader([sys.argv[1]])
from ansible.plugins.loader import connection_loader, shell_loader
from ansible.playbook.play_context import PlayContext

OPTIONS = ("instance_id", "region", "access_key", "remote_user", "command_timeout", "wait_margin",
           "poll_first_delay", "poll_max_interval", "audit_tags", "pipelining", "transfer_parallelism",
           "staging_max_age", "staging_max_size", "invocation_name", "become_password_store", "transfer_cache")


def probe(case):
    saved = dict(os.environ)
    os.environ.update(case.get("env", {}))
    try:
        context = PlayContext()
        context.remote_addr = case.get("remote_addr")
        shell = shell_loader.get(case.get("shell", "sh"))
        connection = connection_loader.get("alicloud.ecs.cloud_assistant", context, shell=shell)
        result = {"preferences": list(connection.module_implementation_preferences)}
        try:
            connection.set_options(var_options=case.get("vars", {}))
            result["options"] = {name: connection.get_option(name) for name in OPTIONS}
            result["from_env"] = {name: connection._from_environment(name) for name in ("region", "access_key")}
        except Exception as error:
            result["options_error"] = f"{type(error).__name__}: {error}"
            return result
        try:
            result["instance_id"] = connection._instance_id()
        except Exception as error:
            result["instance_id_error"] = f"{type(error).__name__}: {error}"
        if case.get("connect"):
            try:
                connection._connect()
                options = connection._executor.options
                result["executor"] = {"instance_id": connection._executor.instance_id, "name": options.name,
                                      "tags": options.tags, "username": options.username,
                                      "timeout": options.timeout}
            except Exception as error:
                result["connect_error"] = f"{type(error).__name__}: {error}"
        return result
    finally:
        os.environ.clear()
        os.environ.update(saved)


print(json.dumps([probe(case) for case in json.loads(sys.stdin.read())]))
"""


def run_cases(tmp_path, cases: list[dict]) -> list[dict]:
    """Every case probed in one child process with no credentials, profile or metadata service of this machine."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("ALIBABA_CLOUD_", "ALICLOUD_", "ANSIBLE_ALICLOUD_", "ANSIBLE_REMOTE_USER"))}
    env.update(HOME=str(tmp_path), ANSIBLE_CONFIG=str(tmp_path / "none.cfg"), ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"),
               ALIBABA_CLOUD_CONFIG_FILE=str(tmp_path / "none.json"),
               ALIBABA_CLOUD_CREDENTIALS_FILE=str(tmp_path / "none.ini"),
               ALIBABA_CLOUD_ECS_METADATA_DISABLED="true", ANSIBLE_ALICLOUD_CREDENTIAL_CACHE="off",
               PYTHONPATH=str(COLLECTIONS_ROOT))
    run = subprocess.run([sys.executable, "-c", PROBE, str(COLLECTIONS_ROOT)], input=json.dumps(cases), env=env,
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


@pytest.fixture(scope="module")
def probed(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("connection")
    closed = "http://127.0.0.1:9"  # nothing is called: connecting builds the client, it does not use it
    keys = {"ansible_alicloud_access_key": "LTAI.conn", "ansible_alicloud_secret_key": "s",
            "ansible_alicloud_region": "cn-hangzhou", "ansible_alicloud_endpoint": closed}
    cases = {
        "defaults": {"vars": {"ansible_alicloud_instance_id": "i-defaults"}},
        "vars": {"vars": {"ansible_alicloud_instance_id": "i-vars", "ansible_alicloud_command_timeout": "45",
                          "ansible_alicloud_audit_tags": "no", "ansible_user": "deploy",
                          "ansible_alicloud_region": "cn-shanghai", "ansible_alicloud_wait_margin": "2.5"}},
        "env": {"env": {"ANSIBLE_ALICLOUD_COMMAND_TIMEOUT": "90", "ALICLOUD_REGION": "eu-central-1",
                        "ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAI.env"}, "remote_addr": "i-from-address"},
        "vars_beat_env": {"env": {"ANSIBLE_ALICLOUD_COMMAND_TIMEOUT": "90", "ALICLOUD_REGION": "eu-central-1"},
                          "vars": {"ansible_alicloud_command_timeout": "30", "ansible_alicloud_region": "cn-beijing",
                                   "ansible_alicloud_instance_id": "i-option"},
                          "remote_addr": "i-from-address"},
        "no_instance": {"remote_addr": "web-1.example.com", "connect": True},
        "bad_type": {"vars": {"ansible_alicloud_command_timeout": "soon"}},
        "no_credentials": {"vars": {"ansible_alicloud_instance_id": "i-1", "ansible_alicloud_region": "cn-hangzhou"},
                           "connect": True},
        "connect": {"vars": {**keys, "ansible_alicloud_instance_id": "i-conn", "ansible_play_name": "deploy web",
                             "ansible_user": "deploy", "ansible_alicloud_command_timeout": "120"}, "connect": True},
        "named": {"vars": {**keys, "ansible_alicloud_instance_id": "i-conn", "ansible_alicloud_audit_tags": False,
                           "ansible_alicloud_invocation_name": "n" * 300}, "connect": True},
        "powershell": {"vars": {"ansible_alicloud_instance_id": "i-win"}, "shell": "powershell"},
    }
    return dict(zip(cases, run_cases(tmp_path, list(cases.values()))))


def test_the_documented_defaults_apply_when_nothing_is_set(probed) -> None:
    options = probed["defaults"]["options"]
    assert {name: options[name] for name in ("command_timeout", "wait_margin", "poll_first_delay", "poll_max_interval",
                                             "audit_tags", "pipelining", "transfer_parallelism", "staging_max_age",
                                             "staging_max_size", "become_password_store", "remote_user")} == {
        "command_timeout": 600, "wait_margin": 30, "poll_first_delay": 0.1, "poll_max_interval": 2,
        "audit_tags": True, "pipelining": True, "transfer_parallelism": 16, "staging_max_age": 168,
        "staging_max_size": 512, "become_password_store": "inline", "remote_user": None}
    assert options["transfer_cache"].endswith("/.ansible/alicloud_ecs/chunks") and "~" not in options["transfer_cache"]


def test_host_variables_set_the_options_with_their_types(probed) -> None:
    options = probed["vars"]["options"]
    assert (options["command_timeout"], options["audit_tags"], options["remote_user"], options["region"],
            options["wait_margin"]) == (45, False, "deploy", "cn-shanghai", 2.5)
    assert probed["vars"]["instance_id"] == "i-vars"


def test_environment_variables_set_what_no_host_variable_sets_and_are_known_as_such(probed) -> None:
    env = probed["env"]
    assert (env["options"]["command_timeout"], env["options"]["region"], env["options"]["access_key"]) == (
        90, "eu-central-1", "LTAI.env")
    assert env["from_env"] == {"region": True, "access_key": True}
    beaten = probed["vars_beat_env"]
    assert (beaten["options"]["command_timeout"], beaten["options"]["region"]) == (30, "cn-beijing")
    assert beaten["from_env"]["region"] is False


def test_the_instance_id_comes_from_the_option_else_from_an_address_that_is_one(probed) -> None:
    assert probed["env"]["instance_id"] == "i-from-address"
    assert probed["vars_beat_env"]["instance_id"] == "i-option"  # the option wins over the address
    missing = probed["no_instance"]
    assert missing["instance_id_error"].startswith("AnsibleConnectionFailure: alicloud.ecs.cloud_assistant needs the "
                                                   "instance ID: set ansible_alicloud_instance_id")
    assert missing["connect_error"] == missing["instance_id_error"]  # refused before credentials are looked for


def test_a_value_of_the_wrong_type_is_refused_naming_the_option(probed) -> None:
    assert "command_timeout" in probed["bad_type"]["options_error"]


def test_connecting_without_credentials_fails_listing_where_it_looked(probed) -> None:
    error = probed["no_credentials"]["connect_error"]
    assert error.startswith("AnsibleConnectionFailure: No Alibaba Cloud credentials. Tried, in order: 1. ")
    assert "executor" not in probed["no_credentials"]


def test_connecting_names_the_invocation_after_the_play_and_tags_it_with_the_controller(probed) -> None:
    executor = probed["connect"]["executor"]
    assert (executor["instance_id"], executor["name"], executor["username"], executor["timeout"]) == (
        "i-conn", "ansible: deploy web", "deploy", 120)
    assert set(executor["tags"]) == {"alicloud-ecs:controller-user", "alicloud-ecs:controller-host"}
    assert all(0 < len(value) <= 128 for value in executor["tags"].values())


def test_an_invocation_name_is_cut_to_the_apis_limit_and_audit_tags_can_be_turned_off(probed) -> None:
    executor = probed["named"]["executor"]
    assert executor["name"] == "n" * 128 and executor["tags"] == {}


def test_windows_hosts_prefer_powershell_modules(probed) -> None:
    assert probed["powershell"]["preferences"] == [".ps1", ".exe", ""]
    assert probed["defaults"]["preferences"] != [".ps1", ".exe", ""]
