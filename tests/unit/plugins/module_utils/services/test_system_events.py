"""System events for event_info: the filters checked before any call, pending events with the live status paged by
number, the history paged by token, both in batches of 100 instances, and the merged history newest first."""

from __future__ import annotations

import typing as t

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.api.errors import CloudError
from ansible_collections.alicloud.ecs.plugins.module_utils.services.system_events import (
    event_filters, full_status, history_events,
)


def event(number: int, iid: str, published: str, **extra: t.Any) -> dict[str, t.Any]:
    return {"EventId": f"e-{number}", "InstanceId": iid, "EventType": {"Name": "SystemMaintenance.Reboot"},
            "EventCycleStatus": {"Name": "Scheduled"}, "EventPublishTime": published,
            "NotBefore": "2030-01-02T00:00:00Z", "Reason": "host upgrade", "ImpactLevel": "100", **extra}


class FakeEcs:
    """Full status per instance (one pending event each) and a history (event list); 100 ids per call at most."""

    def __init__(self, instance_ids: t.Sequence[str], history: t.Sequence[dict[str, t.Any]] = ()) -> None:
        self.instance_ids = list(instance_ids)
        self.history = list(history)
        self.calls: list[tuple[str, dict[str, t.Any]]] = []

    def call(self, action: str, **params: t.Any) -> dict[str, t.Any]:
        self.calls.append((action, params))
        return getattr(self, action)(**params)

    def DescribeInstancesFullStatus(self, InstanceId: list[str] | None, PageNumber: int, PageSize: int,
                                    **filters: t.Any) -> dict[str, t.Any]:
        if InstanceId is not None and len(InstanceId) > 100 or PageSize > 100:
            raise CloudError("InvalidParameter", "at most 100")
        chosen = self.instance_ids if InstanceId is None else InstanceId
        start = (PageNumber - 1) * PageSize
        rows = [{"InstanceId": iid, "Status": {"Name": "Running", "Code": 1},
                 "HealthStatus": {"Name": "Warning", "Code": 64},
                 "ScheduledSystemEventSet": {"ScheduledSystemEventType": [
                     {k: v for k, v in event(number, iid, "2030-01-01T00:00:00Z").items() if k != "InstanceId"}]}}
                for number, iid in enumerate(chosen[start:start + PageSize])]
        return {"InstanceFullStatusSet": {"InstanceFullStatusType": rows}, "TotalCount": len(chosen)}

    def DescribeInstanceHistoryEvents(self, ResourceId: list[str] | None, MaxResults: int, NextToken: str | None,
                                      InstanceEventCycleStatus: list[str] | None, **filters: t.Any) -> dict[str, t.Any]:
        if ResourceId is not None and len(ResourceId) > 100 or MaxResults > 100:
            raise CloudError("InvalidParameter", "at most 100")
        chosen = [item for item in self.history if ResourceId is None or item["InstanceId"] in ResourceId]
        chosen.sort(key=lambda item: item["EventPublishTime"], reverse=True)  # the API answers newest first
        start = int(NextToken or 0)
        more = start + MaxResults < len(chosen)
        return {"InstanceSystemEventSet": {"InstanceSystemEventType": chosen[start:start + MaxResults]},
                "NextToken": str(start + MaxResults) if more else ""}


def test_filters_become_the_apis_parameters_and_unset_ones_stay_out() -> None:
    assert event_filters([], None, {"start": None, "end": ""}) == {
        "InstanceEventType": None, "EventPublishTime": None, "NotBefore": None}
    assert event_filters(["SystemMaintenance.Reboot"], {"start": "2030-01-01T00:00:00Z"},
                         {"start": "2030-01-01T00:00:00Z", "end": "2030-01-01T00:00:00Z"}) == {
        "InstanceEventType": ["SystemMaintenance.Reboot"], "EventPublishTime": {"Start": "2030-01-01T00:00:00Z"},
        "NotBefore": {"Start": "2030-01-01T00:00:00Z", "End": "2030-01-01T00:00:00Z"}}


@pytest.mark.parametrize("types, publish, not_before, message", [
    (["SystemMaintenance.Reboot"] * 31, None, None, "event_types takes at most 30 event types, got 31"),
    ([""], None, None, "event_types must hold non-empty event type names"),
    ([], {"start": "2030-01-01"}, None, r"publish_time.start must look like 2030-01-01T00:00:00Z \(UTC\), got "
                                        "'2030-01-01'"),
    ([], None, {"end": "2030-01-01T00:00:00+08:00"}, "not_before.end must look like"),
    ([], {"start": "2030-01-02T00:00:00Z", "end": "2030-01-01T00:00:00Z"}, None,
     "publish_time.end must not be earlier than publish_time.start"),
])
def test_bad_filters_are_named_before_any_call(types, publish, not_before, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        event_filters(types, publish, not_before)


def test_pending_events_of_many_instances_are_read_in_batches_of_one_hundred() -> None:
    fleet = [f"i-{number:04d}" for number in range(250)]
    ecs = FakeEcs(fleet)
    filters = event_filters(["SystemMaintenance.Reboot"], None, None)
    rows = full_status(ecs, fleet, filters)
    assert [row["instance_id"] for row in rows] == fleet
    assert [len(params["InstanceId"]) for _action, params in ecs.calls] == [100, 100, 50]
    assert all(params["InstanceEventType"] == ["SystemMaintenance.Reboot"] for _action, params in ecs.calls)
    assert rows[0] == {"instance_id": "i-0000", "status": "Running", "health_status": "Warning", "events": [{
        "event_id": "e-0", "instance_id": "i-0000", "event_type": "SystemMaintenance.Reboot",
        "cycle_status": "Scheduled", "publish_time": "2030-01-01T00:00:00Z", "not_before": "2030-01-02T00:00:00Z",
        "reason": "host upgrade", "impact_level": "100"}]}


def test_without_ids_the_whole_region_is_paged_by_number() -> None:
    ecs = FakeEcs([f"i-{number:04d}" for number in range(230)])
    rows = full_status(ecs, [], event_filters([], None, None))
    assert len(rows) == 230
    assert [(params["InstanceId"], params["PageNumber"]) for _action, params in ecs.calls] == [
        (None, 1), (None, 2), (None, 3)]


def test_the_history_of_several_batches_is_merged_newest_first_with_its_extra_fields() -> None:
    fleet = [f"i-{number:04d}" for number in range(150)]
    history = [event(number, fleet[number * 7 % 150], f"2030-01-{number % 28 + 1:02d}T00:00:00Z",
                     EventFinishTime="2030-02-01T00:00:00Z", ReasonCode="SYSTEM.UPGRADE", ResourceType="instance")
               for number in range(240)]
    ecs = FakeEcs(fleet, history)
    found = history_events(ecs, fleet, ["Executed", "Canceled"], event_filters([], None, None))
    assert len(found) == 240
    times = [item["publish_time"] for item in found]
    assert times == sorted(times, reverse=True)
    assert {len(params["ResourceId"]) for _action, params in ecs.calls} == {100, 50}
    assert all(params["InstanceEventCycleStatus"] == ["Executed", "Canceled"] for _action, params in ecs.calls)
    assert len(ecs.calls) > 2  # the first batch's 160-odd events came over more than one page
    assert {(item["finish_time"], item["reason_code"], item["resource_type"]) for item in found} == {
        ("2030-02-01T00:00:00Z", "SYSTEM.UPGRADE", "instance")}


def test_the_history_of_the_whole_region_needs_no_ids_and_no_cycle_filter() -> None:
    ecs = FakeEcs(["i-1"], [event(1, "i-1", "2030-01-01T00:00:00Z"), event(2, "i-2", "2030-01-05T00:00:00Z")])
    found = history_events(ecs, [], [], event_filters([], None, None))
    assert [item["event_id"] for item in found] == ["e-2", "e-1"]
    assert [(params["ResourceId"], params["InstanceEventCycleStatus"]) for _action, params in ecs.calls] == [
        (None, None)]
