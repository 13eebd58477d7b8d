"""alicloud.ecs.assistant_info end to end: agent state per instance, whole region, batching, bad input."""

from __future__ import annotations

REGION = "cn-shanghai"  # the demo fleet's region with a stopped instance (legacy-1) and an offline agent (dark-1)


def region_instances(emulator) -> dict[str, dict]:
    return {item["id"]: item for item in emulator.instances() if item["region"] == REGION}


def test_whole_region_lists_online_and_offline(ansible, emulator):
    played = ansible.play([{"name": "agents", "alicloud.ecs.assistant_info": {"region": REGION}}])
    assert played.rc == 0, played.output
    result = played.result("agents")
    expected = region_instances(emulator)
    assert set(result["instances_by_id"]) == set(expected)
    online = {iid for iid, item in expected.items() if item["status"] == "Running" and item["agent"] == "online"}
    assert set(result["online_ids"]) == online
    assert set(result["offline_ids"]) == set(expected) - online
    assert {emulator.instance_id("dark-1"), emulator.instance_id("legacy-1")} <= set(result["offline_ids"])
    for iid in online:
        assert result["instances_by_id"][iid]["version"], result["instances_by_id"][iid]
    assert result["instances_by_id"][emulator.instance_id("dark-1")]["version"] == ""
    assert played.outcome("agents") == "ok"


def test_given_ids_in_check_mode(ansible, emulator):
    web, dark = emulator.instance_id("web-3"), emulator.instance_id("dark-1")
    played = ansible.play([{"name": "two", "alicloud.ecs.assistant_info": {
        "region": REGION, "instance_ids": [dark, web, dark], "os_type": "Linux"}}], check=True)
    assert played.rc == 0, played.output
    result = played.result("two")
    assert [item["instance_id"] for item in result["instances"]] == [dark, web]
    assert result["online_ids"] == [web] and result["offline_ids"] == [dark]
    assert result["instances_by_id"][web]["os_type"] == "Linux"


def test_unknown_instance_is_the_apis_error(ansible, emulator):
    played = ansible.play([{"name": "nope", "alicloud.ecs.assistant_info": {
        "region": REGION, "instance_ids": ["i-doesnotexist000000000"]}}])
    assert played.rc != 0
    assert "InvalidInstance.NotFound" in played.result("nope")["msg"]


def test_bad_input_fails_before_any_call(ansible, emulator):
    emulator.reset_counters()
    played = ansible.play([
        {"name": "empty id", "alicloud.ecs.assistant_info": {"instance_ids": [""]}, "ignore_errors": True},
        {"name": "bad os", "alicloud.ecs.assistant_info": {"os_type": "Plan9"}, "ignore_errors": True},
    ])
    assert "instance_ids must hold non-empty instance id strings" in played.result("empty id")["msg"]
    assert "os_type" in played.result("bad os")["msg"]
    assert sum(emulator.counters().values()) == 0


def test_many_instances_are_batched_and_paged(ansible, emulator):
    emulator.control("POST", "instances", {"instances": [{"name": "bulk", "region": REGION, "count": 60}]})
    ids = sorted(iid for iid, item in region_instances(emulator).items() if item["name"].startswith("bulk"))
    assert len(ids) == 60
    emulator.reset_counters()
    played = ansible.play([
        {"name": "by id", "alicloud.ecs.assistant_info": {"region": REGION, "instance_ids": ids}},
        {"name": "region", "alicloud.ecs.assistant_info": {"region": REGION}},
    ])
    assert played.rc == 0, played.output
    assert sorted(played.result("by id")["online_ids"]) == ids
    assert set(played.result("region")["instances_by_id"]) == set(region_instances(emulator))
    # 60 ids → batches of 50 and 10; the region's 67 instances → two pages of 50.
    assert emulator.counters()["DescribeCloudAssistantStatus"] == 4
