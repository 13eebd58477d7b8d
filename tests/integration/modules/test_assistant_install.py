"""alicloud.ecs.assistant_install end to end: only where needed, reboot and wait, check mode, clear failures."""

from __future__ import annotations

REGION = "cn-shanghai"


def agent_of(emulator, name: str) -> str:
    return next(item["agent"] for item in emulator.instances() if item["name"] == name)


def install(ids: list[str], name: str = "install", **options) -> dict:
    return {"name": name, "alicloud.ecs.assistant_install": {"region": REGION, "instance_ids": ids, **options}}


def test_check_mode_reports_what_would_be_installed(ansible, emulator):
    dark, web = emulator.instance_id("dark-1"), emulator.instance_id("web-3")
    emulator.reset_counters()
    played = ansible.play([install([dark, web], reboot=True)], check=True)
    assert played.rc == 0, played.output
    result = played.result("install")
    assert played.outcome("install") == "changed"
    assert result["installed"] == [dark] and result["already_online"] == [web] and result["rebooted"] == []
    counters = emulator.counters()
    assert "InstallCloudAssistant" not in counters and "RebootInstance" not in counters
    assert agent_of(emulator, "dark-1") == "offline"


def test_stopped_instance_fails_naming_it_before_installing(ansible, emulator):
    dark, legacy = emulator.instance_id("dark-1"), emulator.instance_id("legacy-1")
    emulator.reset_counters()
    played = ansible.play([install([dark, legacy], reboot=True)])
    assert played.rc != 0
    message = played.result("install")["msg"]
    assert f"{legacy} (Stopped)" in message and dark not in message
    assert "InstallCloudAssistant" not in emulator.counters()
    assert agent_of(emulator, "dark-1") == "offline"


def test_unknown_instance_fails_naming_it(ansible, emulator):
    played = ansible.play([install(["i-doesnotexist000000000"])])
    assert played.rc != 0
    assert "not found in the region: i-doesnotexist000000000" in played.result("install")["msg"]


def test_bad_input_fails_before_any_call(ansible, emulator):
    emulator.reset_counters()
    played = ansible.play([
        {**install([], "no ids"), "ignore_errors": True},
        {**install([emulator.instance_id("dark-1")], "bad timeout", wait_timeout=0), "ignore_errors": True},
        {**install(["  "], "blank id"), "ignore_errors": True},
    ])
    assert "instance_ids must name at least one instance" in played.result("no ids")["msg"]
    assert "wait_timeout must be between 1 and 3600 seconds, got 0" in played.result("bad timeout")["msg"]
    assert "instance_ids must hold non-empty instance id strings" in played.result("blank id")["msg"]
    assert sum(emulator.counters().values()) == 0


def test_install_with_reboot_brings_agent_online_then_idempotent(ansible, emulator):
    dark, web = emulator.instance_id("dark-1"), emulator.instance_id("web-3")
    played = ansible.play([install([dark, web], reboot=True, wait_timeout=60)])
    assert played.rc == 0, played.output
    result = played.result("install")
    assert played.outcome("install") == "changed"
    assert result["installed"] == [dark] and result["rebooted"] == [dark] and result["offline"] == []
    assert agent_of(emulator, "dark-1") == "online"
    # The agent really runs commands now: a raw command over the Cloud Assistant connection.
    ran = ansible.run("ansible", "all", "-i", "dark-1,", "-c", "alicloud.ecs.cloud_assistant", "-m", "raw",
                      "-a", "echo agent-ok", "-e", f"ansible_alicloud_instance_id={dark} ansible_alicloud_region={REGION}")
    assert ran.rc == 0 and "agent-ok" in ran.stdout, ran.output
    again = ansible.play([install([dark, web], reboot=True)])
    assert again.rc == 0, again.output
    assert again.outcome("install") == "ok"
    assert again.result("install")["installed"] == [] and sorted(again.result("install")["already_online"]) == sorted([dark, web])


def test_without_reboot_the_wait_fails_naming_the_instance(ansible, emulator):
    db = emulator.instance_id("db-2")
    emulator.set_instance(db, agent="offline")
    played = ansible.play([install([db], wait=True, wait_timeout=2)])
    assert played.rc != 0
    result = played.result("install")
    assert f"the agent is not online after 2 s on: {db}" in result["msg"] and "reboot=true" in result["msg"]
    assert result["installed"] == [db] and result["offline"] == [db] and result["rebooted"] == []
    assert agent_of(emulator, "db-2") == "installed"  # pending a restart, as docs/api-contract.md#installcloudassistant says
    # Without wait (the default when reboot is false) the install is reported and the task succeeds.
    played = ansible.play([install([db])])
    assert played.rc == 0, played.output
    assert played.outcome("install") == "changed" and played.result("install")["offline"] == [db]
