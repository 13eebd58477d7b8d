"""alicloud.ecs.event_info end to end: pending events with status, history with filters, paging, bad input."""

from __future__ import annotations

import pytest

REBOOT = {"type": "SystemMaintenance.Reboot", "not_before": "2030-01-01T00:00:00Z",
          "publish_time": "2029-12-01T00:00:00Z", "reason": "host maintenance"}
PAST = {"type": "SystemFailure.Reboot", "status": "Executed", "publish_time": "2025-01-01T00:00:00Z",
        "not_before": "2025-01-01T01:00:00Z", "finish_time": "2025-01-01T01:05:00Z"}
EXPIRY = {"type": "InstanceExpiration.Stop", "not_before": "2031-01-01T00:00:00Z",
          "publish_time": "2029-06-01T00:00:00Z"}


@pytest.fixture(scope="module")
def scheduled(emulator) -> dict[str, str]:
    """Events on the default region's instances, through the emulator's control API; returns name → id."""
    ids = {name: emulator.instance_id(name) for name in ("web-1", "web-2", "db-1")}
    emulator.control("POST", f"instances/{ids['web-1']}/events", {"events": [REBOOT, PAST]})
    emulator.control("POST", f"instances/{ids['db-1']}/events", {"events": [EXPIRY]})
    return ids


def events(**options) -> dict:
    return {"name": "events", "alicloud.ecs.event_info": options}


def test_pending_events_with_status_and_history(ansible, emulator, scheduled):
    played = ansible.play([events()])
    assert played.rc == 0, played.output
    result = played.result("events")
    region = emulator.env()["ALIBABA_CLOUD_REGION_ID"]
    expected = {item["id"]: item["status"] for item in emulator.instances() if item["region"] == region}
    assert {row["instance_id"]: row["status"] for row in result["instances"]} == expected
    pending = {(event["instance_id"], event["event_type"]) for event in result["pending_events"]}
    assert pending == {(scheduled["web-1"], "SystemMaintenance.Reboot"), (scheduled["db-1"], "InstanceExpiration.Stop")}
    reboot = next(event for event in result["pending_events"] if event["instance_id"] == scheduled["web-1"])
    assert reboot["cycle_status"] == "Scheduled" and reboot["not_before"] == "2030-01-01T00:00:00Z"
    assert reboot["reason"] == "host maintenance" and reboot["event_id"].startswith("e-")
    assert [event["event_type"] for event in result["history_events"]] == [
        "SystemMaintenance.Reboot", "InstanceExpiration.Stop", "SystemFailure.Reboot"]
    past = result["history_events"][-1]
    assert past["cycle_status"] == "Executed" and past["finish_time"] == "2025-01-01T01:05:00Z"
    assert played.outcome("events") == "ok"


def test_filters_in_check_mode(ansible, emulator, scheduled):
    played = ansible.play([
        {**events(event_types=["SystemMaintenance.Reboot"]), "name": "by type"},
        {**events(full_status=False, cycle_statuses=["Executed"]), "name": "executed"},
        {**events(full_status=False, publish_time={"start": "2029-01-01T00:00:00Z", "end": "2029-07-01T00:00:00Z"}),
         "name": "published"},
        {**events(instance_ids=[scheduled["db-1"]], not_before={"start": "2030-06-01T00:00:00Z"}), "name": "db"},
    ], check=True)
    assert played.rc == 0, played.output
    by_type = played.result("by type")
    assert [(e["instance_id"], e["event_type"]) for e in by_type["pending_events"]] == [
        (scheduled["web-1"], "SystemMaintenance.Reboot")]
    assert [e["event_type"] for e in by_type["history_events"]] == ["SystemMaintenance.Reboot"]
    executed = played.result("executed")
    assert "instances" not in executed and "pending_events" not in executed
    assert [e["event_type"] for e in executed["history_events"]] == ["SystemFailure.Reboot"]
    assert [e["event_type"] for e in played.result("published")["history_events"]] == ["InstanceExpiration.Stop"]
    db = played.result("db")
    assert [row["instance_id"] for row in db["instances"]] == [scheduled["db-1"]]
    assert [e["event_type"] for e in db["pending_events"]] == ["InstanceExpiration.Stop"]
    assert [e["instance_id"] for e in db["history_events"]] == [scheduled["db-1"]]


def test_bad_input_fails_before_any_call(ansible, emulator):
    emulator.reset_counters()
    played = ansible.play([
        {**events(publish_time={"start": "2030-01-01 00:00"}), "name": "format", "ignore_errors": True},
        {**events(not_before={"start": "2030-01-02T00:00:00Z", "end": "2030-01-01T00:00:00Z"}), "name": "order",
         "ignore_errors": True},
        {**events(event_types=[f"T{n}" for n in range(31)]), "name": "types", "ignore_errors": True},
        {**events(cycle_statuses=["Done"]), "name": "cycle", "ignore_errors": True},
        {**events(instance_ids=[""]), "name": "ids", "ignore_errors": True},
    ])
    assert "publish_time.start must look like 2030-01-01T00:00:00Z" in played.result("format")["msg"]
    assert "not_before.end must not be earlier than not_before.start" in played.result("order")["msg"]
    assert "event_types takes at most 30 event types, got 31" in played.result("types")["msg"]
    assert "cycle_statuses" in played.result("cycle")["msg"]
    assert "instance_ids" in played.result("ids")["msg"]
    assert sum(emulator.counters().values()) == 0


def test_many_instances_and_events_are_paged(ansible, emulator, scheduled):
    region = emulator.env()["ALIBABA_CLOUD_REGION_ID"]
    emulator.control("POST", "instances", {"instances": [{"name": "bulk", "region": region, "count": 110}]})
    many = [{"type": "SystemMaintenance.Redeploy", "not_before": "2032-01-01T00:00:00Z",
             "publish_time": f"2029-01-01T00:{n // 60:02d}:{n % 60:02d}Z"} for n in range(105)]
    emulator.control("POST", f"instances/{scheduled['web-2']}/events", {"events": many})
    emulator.reset_counters()
    played = ansible.play([
        {**events(history=False), "name": "region"},
        {**events(full_status=False, instance_ids=[scheduled["web-2"]]), "name": "web-2"},
    ])
    assert played.rc == 0, played.output
    total = len([item for item in emulator.instances() if item["region"] == region])
    assert total > 100 and len(played.result("region")["instances"]) == total
    web2 = next(row for row in played.result("region")["instances"] if row["instance_id"] == scheduled["web-2"])
    assert len(web2["events"]) == 105
    history = played.result("web-2")["history_events"]
    assert len(history) == 105 and len({e["event_id"] for e in history}) == 105
    assert history[0]["publish_time"] == "2029-01-01T00:01:44Z"
    counters = emulator.counters()
    assert counters["DescribeInstancesFullStatus"] == 2 and counters["DescribeInstanceHistoryEvents"] == 2


def test_the_apis_refusal_is_the_failure_message(ansible, emulator):
    played = ansible.play([events(region="xx-nowhere-1")])
    assert played.rc != 0
    result = played.result("events")
    assert "InvalidRegionId.NotFound" in result["msg"] and "DescribeInstancesFullStatus" in result["msg"]
