"""alicloud.ecs.instance_info end to end: filters, agent state, events, and bad input before any call."""

from __future__ import annotations


def test_lists_running_instances_with_agent_state(ansible, emulator):
    played = ansible.play([{
        "name": "running", "alicloud.ecs.instance_info": {
            "filters": {"status": "Running"}, "assistant_status": True, "include_events": True}}])
    assert played.rc == 0, played.output
    result = played.result("running")
    expected = {item["id"]: item for item in emulator.instances()
                if item["status"] == "Running" and item["region"] == emulator.env()["ALIBABA_CLOUD_REGION_ID"]}
    found = {item["instance_id"]: item for item in result["instances"]}
    assert set(found) == set(expected)
    for instance_id, item in found.items():
        assert item["cloud_assistant_online"] == (expected[instance_id]["agent"] == "online")
        assert item["status"] == "Running"
        assert isinstance(item["system_events"], list)
    assert played.outcome("running") == "ok"


def test_tag_filter_and_check_mode(ansible, emulator):
    played = ansible.play([{
        "name": "web", "alicloud.ecs.instance_info": {"filters": {"tags": {"role": "web"}}}}], check=True)
    assert played.rc == 0, played.output
    names = {item["instance_name"] for item in played.result("web")["instances"]}
    expected = {item["name"] for item in emulator.instances()
                if item["tags"].get("role") == "web" and item["region"] == emulator.env()["ALIBABA_CLOUD_REGION_ID"]}
    assert names == expected and names


def test_unknown_filter_fails_before_any_call(ansible, emulator):
    emulator.reset_counters()
    played = ansible.play([{"name": "bad", "alicloud.ecs.instance_info": {"filters": {"colour": "red"}}}])
    assert played.rc != 0
    assert "unknown filter 'colour'" in played.result("bad")["msg"]
    assert sum(emulator.counters().values()) == 0
