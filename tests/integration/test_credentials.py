"""Every credential source end to end: CLI profiles of each mode, inventory-source credentials, assumed roles,
renewal through plays that outlive several token lifetimes, and the error messages.

The emulator plays STS and the instance metadata service; no access key is in the environment of these runs.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from emulator.testing import EmulatorProcess

KEY, SECRET = "LTAI5tCredentialTests", "credential-test-secret"
STS_KEY, STS_SECRET, STS_TOKEN = "STS.StaticTests", "static-sts-secret", "static-sts-token"
ROLE = "acs:ram::1234567890123456:role/deployer"
SHORT_ROLE = "acs:ram::1234567890123456:role/short-lived"
UNTRUSTED_ROLE = "acs:ram::1234567890123456:role/untrusted"
PROVIDER = "acs:ram::1234567890123456:oidc-provider/ack-rrsa"
OIDC_TOKEN = "eyJhbGciOiJSUzI1NiJ9.emulator.token"
LIFETIME = 6  # seconds the short-lived role's and the instance role's credentials live
SECRETS = (SECRET, STS_SECRET, STS_TOKEN, OIDC_TOKEN)
FLEET = {
    "access_keys": [{"id": KEY, "secret": SECRET},
                    {"id": STS_KEY, "secret": STS_SECRET, "security_token": STS_TOKEN, "expires": "2099-01-01T00:00:00Z"}],
    "regions": [{"id": "cn-hangzhou", "zones": ["cn-hangzhou-h"]}],
    "instances": [{"name": "web-1", "tags": {"role": "web"}}, {"name": "web-2", "tags": {"role": "web"}}],
    "roles": [{"arn": ROLE, "trusted": [KEY, PROVIDER]},
              {"arn": SHORT_ROLE, "trusted": [KEY], "token_lifetime": LIFETIME},
              {"arn": UNTRUSTED_ROLE, "trusted": []}],
    "oidc_providers": [{"arn": PROVIDER, "tokens": [OIDC_TOKEN]}],
    "instance_role": {"name": "controller-role", "token_lifetime": LIFETIME},
}
INVENTORY = {"plugin": "alicloud.ecs.instances", "regions": ["cn-hangzhou"], "hostnames": ["instance_name"],
             "keyed_groups": [{"key": "instance_tags.role", "prefix": "role"}],
             "compose": {"ansible_python_interpreter": "'/usr/bin/python3'"}}
# Each play: the connection (ping on a group), alicloud.ecs.run, and a module on the controller.
PLAY = [{"name": "credentials", "hosts": "role_web", "gather_facts": False, "tasks": [
    {"name": "ping", "ansible.builtin.ping": {}},
    {"name": "fleet", "alicloud.ecs.run": {"content": "echo fleet-ok"}, "run_once": True, "register": "fleet"},
    {"name": "module", "alicloud.ecs.instance_info": {"region": "cn-hangzhou"}, "run_once": True,
     "delegate_to": "localhost", "register": "info",
     "vars": {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}},
    {"name": "check", "ansible.builtin.assert": {"that": [
        "fleet.summary.succeeded | length == 2", "info.instances | length == 2"]}, "run_once": True},
]}]


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    """Overrides the demo fleet: two instances, roles, an OIDC provider and an instance role."""
    with EmulatorProcess(fleet=FLEET, state_dir=tmp_path_factory.mktemp("credentials-state")) as process:
        yield process


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def keyless(ansible, emulator, tmp_path):
    """The ansible runner without any key in its environment; STS and metadata point at the emulator."""
    for name in ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_SECURITY_TOKEN",
                 "ALICLOUD_ACCESS_KEY", "ALICLOUD_SECRET_KEY", "ALICLOUD_SECURITY_TOKEN", "ALIBABA_CLOUD_PROFILE",
                 "ALICLOUD_PROFILE", "ALIBABA_CLOUD_ROLE_ARN", "ALIBABA_CLOUD_CREDENTIALS_URI"):
        ansible.env.pop(name, None)
    ansible.env.update({
        "ALIBABA_CLOUD_CONFIG_FILE": str(write_profiles(tmp_path)),
        "ALIBABA_CLOUD_CREDENTIALS_FILE": str(tmp_path / "no-credentials.ini"),
        "ALIBABA_CLOUD_STS_ENDPOINT": emulator.endpoint,
        "ALIBABA_CLOUD_ECS_METADATA_ENDPOINT": emulator.endpoint,
        "ANSIBLE_ALICLOUD_CREDENTIAL_CACHE": str(tmp_path / "credential-cache"),
    })
    return ansible


def write_profiles(tmp_path: Path) -> Path:
    """An aliyun CLI configuration with one profile per mode (as `aliyun configure` writes them)."""
    token_file = tmp_path / "oidc-token"
    token_file.write_text(OIDC_TOKEN)
    external = tmp_path / "credential-process"
    external.write_text(f"#!/bin/sh\necho '{json.dumps({'mode': 'AK', 'access_key_id': KEY, 'access_key_secret': SECRET})}'\n")
    external.chmod(0o700)
    profiles = {
        "AK": {"access_key_id": KEY, "access_key_secret": SECRET},
        "StsToken": {"access_key_id": STS_KEY, "access_key_secret": STS_SECRET, "sts_token": STS_TOKEN},
        "RamRoleArn": {"access_key_id": KEY, "access_key_secret": SECRET, "ram_role_arn": ROLE,
                       "ram_session_name": "laptop"},
        "EcsRamRole": {"ram_role_name": "controller-role"},
        "ChainableRamRoleArn": {"source_profile": "AK", "ram_role_arn": ROLE, "ram_session_name": "chained"},
        "OIDC": {"ram_role_arn": ROLE, "oidc_provider_arn": PROVIDER, "oidc_token_file": str(token_file),
                 "ram_session_name": "pod"},
        "External": {"process_command": str(external)},
        "CredentialsURI": {"credentials_uri": "{endpoint}/latest/meta-data/ram/security-credentials/controller-role"},
        "ShortRole": {"mode": "RamRoleArn", "access_key_id": KEY, "access_key_secret": SECRET,
                      "ram_role_arn": SHORT_ROLE, "ram_session_name": "long-play"},
    }
    config = {"current": "", "profiles": [{"name": name, "mode": name, "region_id": "cn-hangzhou", **fields}
                                          for name, fields in profiles.items()]}
    path = tmp_path / "aliyun-config.json"
    path.write_text(json.dumps(config))
    return path


def point_uri_at(ansible, emulator) -> None:
    path = Path(ansible.env["ALIBABA_CLOUD_CONFIG_FILE"])
    path.write_text(path.read_text().replace("{endpoint}", emulator.endpoint))


def write(tmp_path: Path, name: str, content) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(content))
    return path


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


# The calls that show which source was used (beyond the ECS calls every mode makes).
SOURCE_CALLS = {"RamRoleArn": "AssumeRole", "ChainableRamRoleArn": "AssumeRole", "OIDC": "AssumeRoleWithOIDC",
                "EcsRamRole": "Metadata.Credentials", "CredentialsURI": "Metadata.Credentials"}


@pytest.mark.parametrize("mode", ["AK", "StsToken", "RamRoleArn", "EcsRamRole", "ChainableRamRoleArn", "OIDC",
                                  "External", "CredentialsURI"])
def test_a_cli_profile_of_each_mode_drives_inventory_connection_module_and_run(keyless, emulator, tmp_path, mode):
    point_uri_at(keyless, emulator)
    inventory = write(tmp_path, "profile.alicloud_ecs.yml", INVENTORY)
    playbook = write(tmp_path, "play.yml", [{**PLAY[0], "tasks": PLAY[0]["tasks"][1:]}])  # ping: ad hoc, below
    emulator.reset_counters()
    ping = keyless.run("ansible", "-i", str(inventory), "role_web", "-m", "ping", env={"ALIBABA_CLOUD_PROFILE": mode})
    assert ping.rc == 0 and ping.stdout.count("SUCCESS") == 2, ping.output
    run = keyless.playbook(playbook, inventory=inventory, env={"ALIBABA_CLOUD_PROFILE": mode})
    assert run.rc == 0, run.output
    assert "web-1" in run.stdout and "failed=0" in run.stdout
    counters = emulator.counters()
    assert counters.get("RunCommand", 0) >= 3 and counters.get("DescribeInstances", 0) >= 3
    if mode in SOURCE_CALLS:
        assert counters.get(SOURCE_CALLS[mode], 0) >= 1, counters
    assert_no_secret(ping.output + run.output)


@pytest.mark.parametrize("source", [
    {"access_key": KEY, "secret_key": SECRET},
    {"profile": "RamRoleArn"},
    {"access_key": KEY, "secret_key": SECRET, "assume_role_arn": ROLE, "assume_role_session_name": "inventory"},
], ids=["keys", "profile", "assume_role"])
def test_credentials_written_only_in_the_inventory_source_carry_the_play(keyless, emulator, tmp_path, source):
    inventory = write(tmp_path, "keys.alicloud_ecs.yml", {**INVENTORY, **source})
    playbook = write(tmp_path, "play.yml", [{**PLAY[0], "tasks": PLAY[0]["tasks"][:2]}])
    emulator.reset_counters()
    listed = keyless.inventory("--list", "-vvvv", inventory=inventory)
    assert listed.rc == 0, listed.output
    hostvars = json.loads(listed.stdout[listed.stdout.index("\n{") + 1:])["_meta"]["hostvars"]  # after -vvvv lines
    assert set(hostvars) == {"web-1", "web-2"}
    sources = [item["ansible_alicloud_credential_source"] for item in hostvars.values()]
    assert [getattr(value, "get", {}.get)("__ansible_unsafe", value) for value in sources] == [str(inventory)] * 2
    assert_no_secret(listed.output)
    assert KEY not in json.dumps(hostvars)
    run = keyless.playbook(playbook, "-vvvv", inventory=inventory)
    assert run.rc == 0, run.output
    assert "failed=0" in run.stdout and "unreachable=0" in run.stdout
    assert_no_secret(run.output)
    if "assume_role_arn" in source or "profile" in source:
        # Assumed once: by ansible-inventory, whose credentials the playbook run found in the shared cache, and
        # whose parent process handed them to every forked worker.
        assert emulator.counters().get("AssumeRole", 0) == 1


def test_a_per_host_variable_overrides_the_inventory_source(keyless, emulator, tmp_path):
    inventory = write(tmp_path, "keys.alicloud_ecs.yml", {**INVENTORY, "access_key": KEY, "secret_key": SECRET})
    playbook = write(tmp_path, "play.yml", [{**PLAY[0], "tasks": PLAY[0]["tasks"][:1],
                                             "vars": {"ansible_alicloud_assume_role_arn": UNTRUSTED_ROLE}}])
    run = keyless.playbook(playbook, inventory=inventory)
    assert run.rc != 0 and "NoPermission" in run.output and UNTRUSTED_ROLE in run.output, run.output
    assert "Traceback" not in run.output
    assert_no_secret(run.output)


@pytest.mark.parametrize("profile, calls, static", [
    ("ShortRole", "AssumeRole", False), ("EcsRamRole", "Metadata.Credentials", True),
], ids=["assumed-role-inventory-plugin", "instance-role-static-inventory"])
def test_a_play_outliving_several_token_lifetimes_renews_per_lifetime_not_per_task(keyless, emulator, tmp_path,
                                                                                   profile, calls, static):
    """Separate tasks fork separate workers; renewals must follow the clock, shared through the cache. With the
    inventory plugin the workers inherit what ansible's parent resolved; with a static inventory nothing is
    resolved in the parent, and only the 0600 cache keeps each worker from fetching its own set."""
    if static:
        inventory = tmp_path / "static.ini"
        inventory.write_text("[role_web]\n" + "".join(
            f"{name} ansible_alicloud_instance_id={emulator.instance_id(name)}\n" for name in ("web-1", "web-2"))
            + "[role_web:vars]\nansible_connection=alicloud.ecs.cloud_assistant\nansible_alicloud_region=cn-hangzhou\n"
            "ansible_python_interpreter=/usr/bin/python3\n")
        keyless.env["ALIBABA_CLOUD_PROFILE"] = profile
    else:
        inventory = write(tmp_path, "short.alicloud_ecs.yml", {**INVENTORY, "profile": profile})
    pings = 10
    tasks = [{"name": f"ping {number}", "ansible.builtin.ping": {}} for number in range(pings)]
    tasks.insert(pings // 2, {"name": "outlive a token", "ansible.builtin.pause": {"seconds": LIFETIME + 1}})
    playbook = write(tmp_path, "long.yml", [{**PLAY[0], "tasks": tasks}])
    emulator.reset_counters()
    started = time.monotonic()
    run = keyless.playbook(playbook, inventory=inventory)
    elapsed = time.monotonic() - started
    assert run.rc == 0, run.output
    counters = emulator.counters()
    executions = pings * 2
    renewals = counters.get(calls, 0)
    print(f"{calls}: {renewals} in {elapsed:.1f} s of play, {executions} task executions")  # shown with -s
    # At least one renewal (the play outlived a token: first fetch + one after the pause), and at most one per
    # half lifetime of play (the schedule renews every two thirds; the rest is slack for slow fetches under load),
    # however many tasks ran. The bound follows the measured duration, so a slow machine cannot make it fail.
    assert elapsed > LIFETIME and renewals >= 2, (renewals, elapsed)
    assert renewals <= elapsed / (LIFETIME / 2) + 2, (renewals, elapsed)
    assert counters.get("RunCommand", 0) >= executions


def test_each_error_names_what_was_tried_without_a_traceback(keyless, emulator, tmp_path):
    inventory = write(tmp_path, "errors.alicloud_ecs.yml", INVENTORY)
    keyless.env["ANSIBLE_INVENTORY_UNPARSED_FAILED"] = "true"
    dead = {"ALIBABA_CLOUD_ECS_METADATA_ENDPOINT": f"http://127.0.0.1:{closed_port()}",
            "ALIBABA_CLOUD_CONFIG_FILE": str(tmp_path / "missing.json")}
    nothing = keyless.inventory("--list", inventory=inventory, env=dead)
    assert nothing.rc != 0
    text = " ".join(nothing.output.split())
    assert "No Alibaba Cloud credentials. Tried, in order: 1. the access_key and secret_key options" in text
    assert "ALIBABA_CLOUD_PROFILE" in text and "not on ECS" in text

    unknown = keyless.inventory("--list", inventory=inventory, env={"ALIBABA_CLOUD_PROFILE": "staging"})
    assert "no profile 'staging'" in unknown.output and "AK, StsToken, RamRoleArn" in unknown.output

    refused = keyless.inventory("--list", inventory=write(tmp_path, "refused.alicloud_ecs.yml", {
        **INVENTORY, "profile": "AK", "assume_role_arn": UNTRUSTED_ROLE}))
    assert "NoPermission" in refused.output and UNTRUSTED_ROLE in refused.output

    for run in (nothing, unknown, refused):
        assert run.rc != 0 and "Traceback" not in run.output
        assert_no_secret(run.output)
