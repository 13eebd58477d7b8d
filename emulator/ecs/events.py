"""System events (fleet file ``events:`` or the control API) and the two actions that show them:
DescribeInstancesFullStatus (live status + pending events) and DescribeInstanceHistoryEvents."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..clock import iso_seconds, parse_timestamp
from ..errors import ApiError
from ..fleet import CYCLE_STATUSES, EVENT_TYPES, normalize_event
from ..pagination import paginate
from ..protocol import Params

if TYPE_CHECKING:
    from ..handler_context import Services

PENDING = ("Scheduled", "Executing", "Inquiring")  # what DescribeInstancesFullStatus lists
STATUS_CODES = {"Pending": 0, "Running": 1, "Starting": 2, "Stopping": 3, "Stopped": 4}  # ⚠ doc: Running=1


def add_events(emu: Services, instance_id: str, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Control API: append events to an instance; returns its events."""
    def change(record: dict[str, Any]) -> None:
        events = record.get("events", [])
        record["events"] = events + [normalize_event(instance_id, e, len(events) + n) for n, e in enumerate(entries)]
    return emu.instances.modify(instance_id, change)["events"]


def _event(ev: dict[str, Any], with_instance: str | None) -> dict[str, Any]:
    item = {"EventId": ev["id"], "EventType": {"Code": EVENT_TYPES[ev["type"]], "Name": ev["type"]},
            "EventCycleStatus": {"Code": CYCLE_STATUSES[ev["status"]], "Name": ev["status"]},
            "EventPublishTime": iso_seconds(ev["publish_time"]), "NotBefore": iso_seconds(ev["not_before"]),
            "Reason": ev["reason"], "ImpactLevel": ev["impact_level"],
            "ExtendedAttribute": {"Device": "", "DiskId": "", "InactiveDisks": {"InactiveDisk": []}}}
    if with_instance is not None:
        item |= {"InstanceId": with_instance, "ResourceType": "instance", "ReasonCode": "",
                 "EventFinishTime": iso_seconds(ev["finish_time"])}
    return item


def _time_window(p: Params, name: str) -> tuple[float | None, float | None]:
    bounds = []
    for edge in ("Start", "End"):
        raw = p.get(f"{name}.{edge}")
        try:
            bounds.append(parse_timestamp(raw) if raw else None)
        except ValueError:
            raise ApiError("InvalidParameter", f'The specified parameter "{name}.{edge}" is not valid.', 403) from None
    if bounds[0] is not None and bounds[1] is not None and bounds[1] < bounds[0]:
        raise ApiError("InvalidParameter.TimeEndBeforeStart", "The end time must be later than the start time.", 403)
    return bounds[0], bounds[1]


def _matches(ev: dict[str, Any], p: Params, types: list[str], event_ids: list[str]) -> bool:
    if types and ev["type"] not in types:
        return False
    if event_ids and ev["id"] not in event_ids:
        return False
    for name, field in (("EventPublishTime", "publish_time"), ("NotBefore", "not_before")):
        start, end = _time_window(p, name)
        if (start is not None and ev[field] < start) or (end is not None and ev[field] > end):
            return False
    return True


def describe_instances_full_status(emu: Services, p: Params) -> dict[str, Any]:
    """DescribeInstancesFullStatus: status, health and the not-yet-finished events per instance."""
    region = emu.region(p)
    ids = list(dict.fromkeys(p.repeat("InstanceId")))
    if len(ids) > 100:
        raise ApiError("InstanceIdLimitExceeded", "The number of instance IDs exceeds the upper limit.", 403)
    event_ids = p.repeat("EventId")
    if len(event_ids) > 100:
        raise ApiError("EventIdLimitExceeded", "The number of event IDs exceeds the upper limit.", 403)
    types = p.repeat("InstanceEventType") + p.repeat_or_single("EventType")
    wanted = set(ids)
    records = [i for i in emu.instances.in_region(region) if not wanted or i["id"] in wanted]
    if p.get("Status"):
        records = [i for i in records if i["status"] == p.get("Status")]
    health = p.get("HealthStatus")
    items = []
    for inst in records:
        running = inst["status"] == "Running"
        state = ("Ok", 0) if running else ("NotApplicable", 2)  # ⚠ codes of Impaired etc. not documented
        if health and health.lower() != state[0].lower():
            continue
        events = [_event(e, None) for e in inst.get("events", [])
                  if e["status"] in PENDING and _matches(e, p, types, event_ids)]
        if (types or event_ids) and not events:
            continue
        items.append({"InstanceId": inst["id"],
                      "Status": {"Code": STATUS_CODES[inst["status"]], "Name": inst["status"]},
                      "HealthStatus": {"Code": state[1], "Name": state[0]},
                      "ScheduledSystemEventSet": {"ScheduledSystemEventType": events}})
    p = Params({k: v for k, v in p.raw.items() if k not in ("MaxResults", "NextToken")})
    page, counters = paginate(items, p, max_size=100)
    counters.pop("NextToken")
    return {"InstanceFullStatusSet": {"InstanceFullStatusType": page}, **counters}


def describe_instance_history_events(emu: Services, p: Params) -> dict[str, Any]:
    """DescribeInstanceHistoryEvents: every event of the region's instances, newest publish time first."""
    region = emu.region(p)
    resource_type = p.get("ResourceType", "instance")
    if resource_type not in ("instance", "ddh", "managehost"):
        raise ApiError("InvalidResourceType.NotFound", "The specified ResourceType is not found.", 404)
    ids = set(p.repeat("ResourceId") + p.repeat_or_single("InstanceId"))
    types = p.repeat("InstanceEventType") + p.repeat_or_single("EventType")
    cycle = set(p.repeat("InstanceEventCycleStatus") + p.repeat_or_single("EventCycleStatus"))
    event_ids = p.repeat("EventId")
    impact = p.get("ImpactLevel")
    found = []
    for inst in emu.instances.in_region(region) if resource_type == "instance" else []:
        if ids and inst["id"] not in ids:
            continue
        for ev in inst.get("events", []):
            if (cycle and ev["status"] not in cycle) or (impact and ev["impact_level"] != impact):
                continue
            if _matches(ev, p, types, event_ids):
                found.append((ev["publish_time"], _event(ev, inst["id"])))
    found.sort(key=lambda pair: -pair[0])
    page, counters = paginate([item for _when, item in found], p, max_size=100)
    return {"InstanceSystemEventSet": {"InstanceSystemEventType": page}, **counters}
