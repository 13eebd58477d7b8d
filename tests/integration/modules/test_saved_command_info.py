"""alicloud.ecs.saved_command_info end to end: filters, pagination past one page, decoded content."""

from __future__ import annotations

from ansible_collections.alicloud.ecs.plugins.module_utils.api.client import CloudClient, resolve_settings


def test_filters_pages_and_content(ansible, emulator):
    client = CloudClient(resolve_settings(env=emulator.env()))
    created = {}
    for index in range(55):  # more than one page of 50
        name = f"info-{index:02d}"
        created[name] = client.call(
            "CreateCommand", Name=name, Type="RunBatScript" if index == 7 else "RunShellScript",
            CommandContent=f"echo {index}", ContentEncoding="PlainText",
            Tag=[{"Key": "batch", "Value": "odd" if index % 2 else "even"}])["CommandId"]
    played = ansible.play([
        {"name": "all", "alicloud.ecs.saved_command_info": {"name": "info-*"}},
        {"name": "odd", "alicloud.ecs.saved_command_info": {"name": "info-*", "tags": {"batch": "odd"}}},
        {"name": "bat", "alicloud.ecs.saved_command_info": {"command_type": "RunBatScript", "name": "info-*"}},
        {"name": "ids", "alicloud.ecs.saved_command_info": {
            "command_ids": [created["info-03"], created["info-40"], "c-doesnotexist00000000"]}},
        {"name": "exact", "alicloud.ecs.saved_command_info": {"name": "info-12"}},
    ], check=True)
    assert played.rc == 0, played.output
    everything = played.result("all")["commands"]
    assert {item["name"]: item["command_id"] for item in everything} == created
    assert {item["name"] for item in played.result("odd")["commands"]} == {
        f"info-{index:02d}" for index in range(1, 55, 2)}
    assert [item["name"] for item in played.result("bat")["commands"]] == ["info-07"]
    assert {item["name"] for item in played.result("ids")["commands"]} == {"info-03", "info-40"}
    [exact] = played.result("exact")["commands"]
    assert exact["content"] == "echo 12" and exact["tags"] == {"batch": "even"}
    assert exact["command_type"] == "RunShellScript" and exact["parameter_names"] == []
    assert all(played.outcome(task) == "ok" for task in ("all", "odd", "bat", "ids", "exact"))


def test_too_many_tags_fail_before_any_call(ansible, emulator):
    emulator.reset_counters()
    played = ansible.play([{"name": "bad", "alicloud.ecs.saved_command_info": {
        "tags": {f"k{index}": "v" for index in range(21)}}}])
    assert played.rc != 0
    assert "at most 20 are allowed" in played.result("bad")["msg"]
    assert sum(emulator.counters().values()) == 0


def test_the_apis_refusal_is_the_failure_message(ansible, emulator):
    played = ansible.play([{"name": "elsewhere", "alicloud.ecs.saved_command_info": {"region": "xx-nowhere-1"}}])
    assert played.rc != 0
    result = played.result("elsewhere")
    assert "InvalidRegionId.NotFound" in result["msg"] and "DescribeCommands" in result["msg"]
