"""Inventory options end to end: cache, include/exclude filters, hostnames, prefixes, permissions."""

from __future__ import annotations

import json

from emulator.testing import EmulatorProcess


def listing(ansible, tmp_path, config: str, env: dict[str, str] | None = None):
    path = tmp_path / "test.alicloud_ecs.yml"
    path.write_text("plugin: alicloud.ecs.instances\n" + config)
    run = ansible.inventory("--list", inventory=path, env={"ANSIBLE_INVENTORY_UNPARSED_FAILED": "true", **(env or {})})
    return run, (json.loads(run.stdout) if run.rc == 0 else None)


def unwrap(value):
    """ansible-inventory prints API strings as {"__ansible_unsafe": ...}; the tests compare plain values."""
    if isinstance(value, dict):
        return value["__ansible_unsafe"] if set(value) == {"__ansible_unsafe"} else {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(item) for item in value]
    return value


def test_warm_cache_answers_without_any_api_call(ansible, emulator, tmp_path) -> None:
    config = f"regions: [cn-hangzhou, cn-shanghai]\ncache: true\ncache_plugin: ansible.builtin.jsonfile\n" \
             f"cache_connection: {tmp_path / 'cache'}\ncache_timeout: 600\nhostnames: [instance_name]\n"
    emulator.reset_counters()
    cold, cold_data = listing(ansible, tmp_path, config)
    assert cold.rc == 0, cold.output
    assert sum(emulator.counters().values()) > 0
    emulator.reset_counters()
    warm, warm_data = listing(ansible, tmp_path, config)
    assert warm.rc == 0, warm.output
    assert emulator.counters() == {} or sum(emulator.counters().values()) == 0
    assert warm_data["_meta"]["hostvars"].keys() == cold_data["_meta"]["hostvars"].keys()
    # Another access key must not read this account's cache: it goes to the API (and is refused).
    other, _data = listing(ansible, tmp_path, config, env={"ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAIanotheraccount"})
    assert other.rc != 0 and "InvalidAccessKeyId.NotFound" in other.output


def test_include_and_exclude_filters(ansible, emulator, tmp_path) -> None:
    run, data = listing(ansible, tmp_path, (
        "filters: {status: Running}\n"
        "include_filters:\n  - {instance_name: legacy-1}\n"
        "exclude_filters:\n  - {tags: {role: db}}\n"
        "hostnames: [instance_name]\n"))
    assert run.rc == 0, run.output
    names = set(data["_meta"]["hostvars"])
    stopped = {item["name"] for item in emulator.instances() if item["status"] != "Running"}
    databases = {item["name"] for item in emulator.instances() if item["tags"].get("role") == "db"}
    assert "legacy-1" in names and stopped - databases <= names
    assert not names & databases


def test_hostname_preferences_prefixes_and_hostvar_names(ansible, emulator, tmp_path) -> None:
    run, data = listing(ansible, tmp_path, (
        "filters: {status: Running}\n"
        "hostnames:\n  - tag:Name\n  - {name: instance_name, prefix: region_id, separator: '-'}\n"
        "hostvars_prefix: ecs_\n"
        "keyed_groups:\n  - {key: ecs_instance_tags.role, prefix: role}\n"))
    assert run.rc == 0, run.output
    hostvars = unwrap(data["_meta"]["hostvars"])
    for name, values in hostvars.items():
        assert name == f"{values['ecs_region_id']}-{values['ecs_instance_name']}"
        assert "instance_id" not in values and values["ansible_alicloud_instance_id"] == values["ecs_instance_id"]
    assert data["role_web"]["hosts"]


def test_bad_filter_fails_before_any_api_call(ansible, emulator, tmp_path) -> None:
    emulator.reset_counters()
    run, _data = listing(ansible, tmp_path, "exclude_filters:\n  - {colour: red}\n")
    assert run.rc != 0 and "unknown filter 'colour'" in run.output
    assert sum(emulator.counters().values()) == 0


def test_denied_region_is_skipped_or_fatal_per_strict_permissions(ansible, emulator, tmp_path) -> None:
    config = "regions: [cn-hangzhou, cn-shanghai]\nhostnames: [instance_name]\n"
    denied = EmulatorProcess.error("DescribeInstances", times=1, code="Forbidden.RAM", http_status=403,
                                   message="User not authorized to operate on the specified resource.")
    try:
        emulator.faults(denied)
        lenient, data = listing(ansible, tmp_path, config + "strict_permissions: false\n")
        assert lenient.rc == 0, lenient.output
        assert "skipping region" in lenient.output and "Forbidden.RAM" in lenient.output
        assert 0 < len(data["_meta"]["hostvars"]) < len(emulator.instances())
        emulator.faults(denied)
        strict, _data = listing(ansible, tmp_path, config)
        assert strict.rc != 0 and "Forbidden.RAM" in strict.output and "region cn-" in strict.output
    finally:
        emulator.clear_faults()


def test_pending_system_events_become_groups_and_hostvars(ansible, emulator, reachable, tmp_path) -> None:
    target = reachable[-1]
    emulator.control("POST", f"instances/{target['id']}/events", {"events": [{"type": "SystemMaintenance.Reboot"}]})
    run, data = listing(ansible, tmp_path, "filters: {status: Running}\nhostnames: [instance_name]\ninclude_events: true\n")
    assert run.rc == 0, run.output
    assert data["events_systemmaintenance_reboot"]["hosts"] == [target["name"]]
    assert data["events_pending"]["hosts"] == [target["name"]]
    events = unwrap(data["_meta"]["hostvars"][target["name"]]["system_events"])
    assert events[0]["type"] == "SystemMaintenance.Reboot" and events[0]["status"] == "Scheduled"


def test_duplicated_hosts_are_added_under_every_name_when_allowed(ansible, tmp_path) -> None:
    config = "filters: {status: Running}\nhostnames: [instance_name, instance_id]\n"
    run, single = listing(ansible, tmp_path, config)
    assert run.rc == 0, run.output
    run, double = listing(ansible, tmp_path, config + "allow_duplicated_hosts: true\n")
    assert run.rc == 0, run.output
    assert len(double["_meta"]["hostvars"]) == 2 * len(single["_meta"]["hostvars"])


def test_windows_instances_get_the_powershell_shell_type(ansible, emulator, tmp_path) -> None:
    emulator.control("POST", "instances", [{"name": "win-1", "region": "cn-hangzhou", "os_type": "windows"}])
    run, data = listing(ansible, tmp_path, "filters: {instance_name: 'win-*'}\nhostnames: [instance_name]\n"
                                           "regions: [cn-hangzhou]\n")
    assert run.rc == 0, run.output
    hostvars = unwrap(data["_meta"]["hostvars"])
    assert list(hostvars) == ["win-1"]
    assert hostvars["win-1"]["ansible_shell_type"] == "powershell" and hostvars["win-1"]["os_type"] == "windows"
