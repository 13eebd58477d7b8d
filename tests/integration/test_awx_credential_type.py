"""The AWX/AAP credential type shipped in extensions/awx: rendered as AWX renders it, then used as a job would.

AWX's rendering (awx/main/models/credential/__init__.py, ``CredentialType.inject_credential``, in the
ansible/awx repository): only the fields a credential holds with a non-empty value are in the Jinja namespace
(unset booleans are False); the ``file`` templates are rendered first, each into a file whose path is
``tower.filename.<label>``; then every ``env`` template is rendered with an ``ImmutableSandboxedEnvironment`` and
set, so a variable whose fields are unset is set to "". ``awx_inject`` does the same here.

Each case then resolves credentials from that environment in-process (which source was found, what STS and the
metadata service were asked), and runs ansible-inventory and a play (the connection on the instances, a module on
localhost) with exactly that environment.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import jinja2.sandbox
import pytest
import yaml

from ansible_collections.alicloud.ecs.plugins.module_utils.auth.credential_chain import (
    CredentialOptions, resolve_credentials,
)
from emulator.testing import EmulatorProcess

AWX = Path(__file__).resolve().parents[2] / "extensions" / "awx"
KEY, SECRET = "LTAI5tAwxCredential", "awx-credential-secret"
ROLE = "acs:ram::1234567890123456:role/awx-deployer"
FLEET = {
    "access_keys": [{"id": KEY, "secret": SECRET}],
    "regions": [{"id": "cn-hangzhou", "zones": ["cn-hangzhou-h"]}],
    "instances": [{"name": "web-1", "tags": {"role": "web"}}, {"name": "web-2", "tags": {"role": "web"}}],
    "roles": [{"arn": ROLE, "trusted": [KEY, "acs:ram::1234567890123456:role/controller-role"]}],
    "instance_role": {"name": "controller-role"},
}
INVENTORY = {"plugin": "alicloud.ecs.instances", "regions": ["cn-hangzhou"], "hostnames": ["instance_name"],
             "keyed_groups": [{"key": "instance_tags.role", "prefix": "role"}],
             "compose": {"ansible_python_interpreter": "'/usr/bin/python3'"}}
PLAY = [{"name": "awx job", "hosts": "role_web", "gather_facts": False, "tasks": [
    {"name": "ping", "ansible.builtin.ping": {}},
    {"name": "module", "alicloud.ecs.instance_info": {"region": "cn-hangzhou"}, "run_once": True,
     "delegate_to": "localhost", "register": "info",
     "vars": {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}},
    {"name": "check", "ansible.builtin.assert": {"that": ["info.instances | length == 2"]}, "run_once": True},
]}]


def load(name: str) -> dict:
    return yaml.safe_load((AWX / name).read_text(encoding="utf-8"))


def awx_inject(inputs: dict[str, str], private_dir: Path) -> dict[str, str]:
    """The environment AWX gives a job for a credential holding ``inputs`` (see the module docstring)."""
    fields = load("credential_type_inputs.yml")["fields"]
    namespace: dict = {name: value for name, value in inputs.items() if value != ""}
    namespace.update({field["id"]: False for field in fields
                      if field["type"] == "boolean" and field["id"] not in inputs})
    sandbox = jinja2.sandbox.ImmutableSandboxedEnvironment()
    injectors = load("credential_type_injectors.yml")
    tower = SimpleNamespace(filename=SimpleNamespace())
    for label, template in injectors.get("file", {}).items():
        path = private_dir / f"env-{label}"
        path.write_text(sandbox.from_string(template).render(**namespace, tower=tower))
        path.chmod(0o660)
        setattr(tower.filename, label.split(".")[1], str(path))
    return {name: sandbox.from_string(template).render(**namespace, tower=tower)
            for name, template in injectors["env"].items()}


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    with EmulatorProcess(fleet=FLEET, state_dir=tmp_path_factory.mktemp("awx-state")) as process:
        yield process


@pytest.fixture
def execution_environment(ansible, emulator, tmp_path) -> dict[str, str]:
    """What the EE has before the credential is injected: no keys, no profile; STS and the metadata service are
    the emulator's (the only variables the real cloud does not need)."""
    for name in list(ansible.env):
        if name.startswith(("ALIBABA_CLOUD_", "ALICLOUD_")) and name != "ALICLOUD_ECS_EMULATOR_TOKEN":
            del ansible.env[name]
    home = tmp_path / "home"
    home.mkdir()
    ansible.env.update({"HOME": str(home), "ALIBABA_CLOUD_STS_ENDPOINT": emulator.endpoint,
                        "ALIBABA_CLOUD_ECS_METADATA_ENDPOINT": emulator.endpoint,
                        "ANSIBLE_ALICLOUD_CREDENTIAL_CACHE": "off"})
    return ansible.env


def user_profile(tmp_path: Path) -> Path:
    """An aliyun CLI configuration baked into the EE, whose profile assumes the role with the key pair."""
    path = tmp_path / "ee-aliyun-config.json"
    path.write_text(json.dumps({"current": "", "profiles": [
        {"name": "ops", "mode": "RamRoleArn", "access_key_id": KEY, "access_key_secret": SECRET,
         "ram_role_arn": ROLE, "ram_session_name": "awx-profile", "region_id": "cn-hangzhou"}]}))
    return path


# case: (the credential's fields, the source the chain must find, the calls that show it was used)
CASES = {
    "keys": ({"access_key_id": KEY, "access_key_secret": SECRET}, "(AK)", {}),
    "profile": ({"profile": "ops", "profile_file": "{config}"}, "profile 'ops' (RamRoleArn)", {"AssumeRole": 1}),
    "assume_role": ({"access_key_id": KEY, "access_key_secret": SECRET, "role_arn": ROLE,
                     "role_session_name": "awx-job"}, "(ChainableRamRoleArn)", {"AssumeRole": 1}),
    "instance_role": ({}, "ECS instance", {"Metadata.Credentials": 1}),
    "assume_role_with_instance_role": ({"role_arn": ROLE}, "(ChainableRamRoleArn)",
                                       {"AssumeRole": 1, "Metadata.Credentials": 1}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_credential_type_works_for_each_source(case, ansible, emulator, execution_environment, tmp_path):
    given, source, calls = CASES[case]
    inputs = {name: value.replace("{config}", str(user_profile(tmp_path))) for name, value in given.items()}
    inputs.update(region_id="cn-hangzhou", endpoint=emulator.endpoint)
    private = tmp_path / "private"
    private.mkdir()
    injected = awx_inject(inputs, private)
    if case == "instance_role":
        # No credential field set: the credential variables are there, but empty, and must count as unset.
        assert injected["ALIBABA_CLOUD_PROFILE"] == injected["ALIBABA_CLOUD_CONFIG_FILE"] == ""
    assert not any(name.endswith(("ACCESS_KEY_ID", "ACCESS_KEY_SECRET")) for name in injected), \
        "keys in the environment would be read before any profile"
    env = {**execution_environment, **injected}

    emulator.reset_counters()
    provider = resolve_credentials(CredentialOptions(), env)
    assert source in provider.description, provider.description
    held = provider.current()
    assert held.access_key_id == KEY if case == "keys" else held.access_key_id.startswith("STS."), held.access_key_id
    counters = emulator.counters()
    for call, count in calls.items():
        assert counters.get(call, 0) == count, counters

    inventory = tmp_path / "prod.alicloud_ecs.yml"
    inventory.write_text(yaml.safe_dump(INVENTORY))
    listed = ansible.inventory("--list", inventory=inventory, env=injected)
    assert listed.rc == 0, listed.output
    assert sorted(json.loads(listed.stdout)["role_web"]["hosts"]) == ["web-1", "web-2"]
    playbook = tmp_path / "job.yml"
    playbook.write_text(yaml.safe_dump(PLAY))
    run = ansible.playbook(playbook, inventory=inventory, env=injected)
    assert run.rc == 0 and "failed=0" in run.stdout and "unreachable=0" in run.stdout, run.output
    assert SECRET not in listed.output + run.output


def test_the_injected_file_is_private_and_names_no_unset_field(tmp_path):
    """AWX writes the profile file 0660 in the job's private directory; unset fields are absent, not "None"."""
    injected = awx_inject({"access_key_id": KEY, "access_key_secret": SECRET}, tmp_path)
    config = json.loads(Path(injected["ALIBABA_CLOUD_CONFIG_FILE"]).read_text())
    (profile,) = config["profiles"]
    assert profile["mode"] == "AK" and config["current"] == profile["name"] == injected["ALIBABA_CLOUD_PROFILE"]
    assert "None" not in json.dumps(config) and "Undefined" not in json.dumps(config)
    assert oct(os.stat(injected["ALIBABA_CLOUD_CONFIG_FILE"]).st_mode & 0o777) == "0o660"


def test_every_field_is_optional_and_documented_once():
    inputs = load("credential_type_inputs.yml")
    assert inputs.get("required", []) == []
    ids = [field["id"] for field in inputs["fields"]]
    assert len(ids) == len(set(ids))
    docs = Path(__file__).resolve().parents[2] / "docs"
    for page in ("awx.md", "credentials.md"):
        text = (docs / page).read_text(encoding="utf-8")
        assert "extensions/awx/credential_type_inputs.yml" in text, page
        assert "fields:" not in text, f"{page} carries a second copy of the credential type"


def test_the_files_ship_in_the_collection_tarball():
    """galaxy.yml's build_ignore keeps extensions/awx in the tarball (test_package builds it and checks the rest)."""
    import fnmatch
    root = AWX.parents[1]
    ignored = yaml.safe_load((root / "galaxy.yml").read_text(encoding="utf-8")).get("build_ignore") or []
    for path in AWX.glob("*.yml"):
        relative = str(path.relative_to(root))
        assert not any(fnmatch.fnmatch(relative, pattern) or relative.startswith(pattern.rstrip("/") + "/")
                       for pattern in ignored), relative
