"""alicloud.ecs.console_output_info end to end: decoded console of several instances, refusals named, bad input."""

from __future__ import annotations

REGION = "cn-shanghai"


def consoles(ids: list[str], name: str = "console", **options) -> dict:
    return {"name": name, "alicloud.ecs.console_output_info": {"region": REGION, "instance_ids": ids, **options}}


def test_several_instances_decoded_in_check_mode(ansible, emulator):
    by_name = {item["name"]: item for item in emulator.instances() if item["region"] == REGION}
    names = ["web-3", "dark-1", "legacy-1"]  # running, agent offline, stopped: the console answers for all
    ids = [by_name[name]["id"] for name in names]
    played = ansible.play([consoles(ids)], check=True)
    assert played.rc == 0, played.output
    result = played.result("console")
    assert [item["instance_id"] for item in result["consoles"]] == ids
    for name, item in zip(names, result["consoles"]):
        assert f"{by_name[name]['hostname']} login: " in item["output"]
        assert "Linux version" in item["output"]
        assert item["last_update_time"].endswith("Z")
        assert result["outputs"][item["instance_id"]] == item["output"]
    assert played.outcome("console") == "ok"


def test_remove_symbols_and_duplicates(ansible, emulator):
    web = emulator.instance_id("web-3")
    played = ansible.play([consoles([web, web], remove_symbols=True)])
    assert played.rc == 0, played.output
    result = played.result("console")
    assert len(result["consoles"]) == 1 and "login: " in result["outputs"][web]


def test_refused_and_unknown_instances_are_named(ansible, emulator):
    [pending] = emulator.control("POST", "instances", {"instances": [
        {"name": "fresh-1", "region": REGION, "status": "Pending"}]})["ids"]
    web = emulator.instance_id("web-3")
    played = ansible.play([
        {**consoles([web, pending], "pending"), "ignore_errors": True},
        {**consoles(["i-doesnotexist000000000"], "unknown"), "ignore_errors": True},
    ])
    refused = played.result("pending")
    assert refused["msg"].startswith(f"{pending}: ") and "IncorrectInstanceStatus" in refused["msg"]
    assert [item["instance_id"] for item in refused["consoles"]] == [web]
    unknown = played.result("unknown")
    assert unknown["msg"].startswith("i-doesnotexist000000000: ") and "NotFound" in unknown["msg"]


def test_bad_input_fails_before_any_call(ansible, emulator):
    emulator.reset_counters()
    played = ansible.play([
        {**consoles([], "none"), "ignore_errors": True},
        {**consoles([""], "blank"), "ignore_errors": True},
    ])
    assert "instance_ids must name at least one instance" in played.result("none")["msg"]
    assert "instance_ids must hold non-empty instance id strings" in played.result("blank")["msg"]
    assert sum(emulator.counters().values()) == 0
