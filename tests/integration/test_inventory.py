"""ansible-inventory over the emulator: hosts, groups, hostvars, wiring, and clear failures."""

from __future__ import annotations

import json

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def trusted(value):
    """ansible-inventory marks API-provided strings as unsafe ({"__ansible_unsafe": ...}); unwrap them."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {key: trusted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [trusted(item) for item in value]
    return value


def test_lists_reachable_instances_with_groups_and_connection_vars(ansible, reachable) -> None:
    run = ansible.inventory("--list")
    assert run.rc == 0, run.output
    data = trusted(json.loads(run.stdout))
    hostvars = data["_meta"]["hostvars"]
    # The demo inventory filters on status Running and an online agent: the stopped instance and the
    # one whose agent is offline are left out.
    assert {vars_["instance_id"] for vars_ in hostvars.values()} == {item["id"] for item in reachable}
    assert data["role_web"]["hosts"] and data["role_db"]["hosts"]
    for name, vars_ in hostvars.items():
        assert vars_["ansible_connection"] == "alicloud.ecs.cloud_assistant"
        assert vars_["ansible_alicloud_instance_id"] == vars_["instance_id"]
        assert vars_["ansible_alicloud_region"] == vars_["region_id"]
        assert vars_["zone_id"].startswith(vars_["region_id"])
        assert isinstance(vars_["instance_tags"], dict) and "role" in vars_["instance_tags"]
        assert name == vars_["instance_name"]
        assert vars_["cloud_assistant_online"] is True and vars_["cloud_assistant_version"]


def test_wrong_secret_names_key_and_code_but_never_the_secret(ansible, emulator) -> None:
    secret = "this-is-the-wrong-secret"
    # By default ansible only warns about an inventory source it cannot parse; this makes it fatal.
    run = ansible.inventory("--list", env={"ALIBABA_CLOUD_ACCESS_KEY_SECRET": secret,
                                           "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true"})
    assert run.rc != 0
    assert emulator.env()["ALIBABA_CLOUD_ACCESS_KEY_ID"] in run.output
    assert "SignatureDoesNotMatch" in run.output and "secret is wrong" in run.output
    assert secret not in run.output


def test_unknown_access_key_is_reported(ansible) -> None:
    run = ansible.inventory("--list", env={"ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAInobody",
                                           "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true"})
    assert run.rc != 0
    assert "InvalidAccessKeyId.NotFound" in run.output and "LTAInobody" in run.output


def test_bad_hostnames_option_fails_before_any_api_call(ansible, emulator, tmp_path) -> None:
    config = tmp_path / "bad.alicloud_ecs.yml"
    config.write_text("plugin: alicloud.ecs.instances\nhostnames: [nonsense]\n")
    emulator.reset_counters()
    run = ansible.inventory("--list", inventory=config)
    assert "unknown preference 'nonsense'" in run.output
    assert sum(emulator.counters().values()) == 0


def test_playbook_runs_on_discovered_hosts_without_extra_vars(ansible) -> None:
    run = ansible.playbook(REPO_ROOT / "tests" / "integration" / "playbooks" / "ping.yml")
    assert run.rc == 0, run.output
