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


def test_pending_events_are_listed_per_instance(ansible, emulator):
    web1 = emulator.instance_id("web-1")
    emulator.control("POST", f"instances/{web1}/events", {"events": [{
        "type": "SystemMaintenance.Reboot", "not_before": "2030-01-01T00:00:00Z",
        "publish_time": "2029-12-01T00:00:00Z", "reason": "host maintenance"}]})
    played = ansible.play([{"name": "events", "alicloud.ecs.instance_info": {
        "filters": {"instance_ids": [web1]}, "include_events": True}}])
    assert played.rc == 0, played.output
    [instance] = played.result("events")["instances"]
    [event] = instance["system_events"]
    assert (event["type"], event["status"], event["not_before"], event["reason"]) == (
        "SystemMaintenance.Reboot", "Scheduled", "2030-01-01T00:00:00Z", "host maintenance")
    assert event["id"].startswith("e-") and "cloud_assistant_online" not in instance


def test_the_apis_refusal_is_the_failure_message(ansible, emulator):
    played = ansible.play([{"name": "bad status", "alicloud.ecs.instance_info": {"filters": {"status": "Sleeping"}}}])
    assert played.rc != 0
    result = played.result("bad status")
    assert "InvalidStatus.NotFound" in result["msg"] and "DescribeInstances" in result["msg"]
    assert result["error"]["code"] == "InvalidStatus.NotFound"


def test_bad_filters_fail_before_any_call(ansible, emulator):
    cases = {
        "colour": ({"colour": "red"}, "unknown filter 'colour'"),
        "tags": ({"tags": {f"k{index}": "v" for index in range(21)}}, "filters.tags must be a dict of at most 20"),
        "ids": ({"instance_ids": "i-one"}, "filters.instance_ids must be a list of at most 100 ids"),
        "many ids": ({"instance_ids": [f"i-{index}" for index in range(101)]}, "at most 100 ids"),
    }
    emulator.reset_counters()
    played = ansible.play([{"name": name, "alicloud.ecs.instance_info": {"filters": filters}, "ignore_errors": True}
                           for name, (filters, _message) in cases.items()])
    for name, (_filters, message) in cases.items():
        assert played.outcome(name) == "failed" and message in played.result(name)["msg"], (name, played.result(name))
    assert sum(emulator.counters().values()) == 0
