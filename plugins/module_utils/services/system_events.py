# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""System events of instances: pending ones with the live status, and the history, with one set of filters.

DescribeInstancesFullStatus pages by PageNumber only and DescribeInstanceHistoryEvents by NextToken
(docs/api-contract.md#pagination); both take at most 100 instance ids per call, so ids are batched here and
callers never see either limit.
"""

from __future__ import annotations

import calendar
import time
import typing as t

from .assistant_agent import batches
from ..api.client import CloudClient
from ..api.pagination import paginate, paginate_numbered

IDS_PER_CALL = 100  # InstanceId.N of DescribeInstancesFullStatus, ResourceId.N of the history (docs/api-contract.md#instance-apis)
PAGE = 100  # PageSize of DescribeInstancesFullStatus and MaxResults (10–100) of the history
MAX_EVENT_TYPES = 30  # InstanceEventType.N
CYCLE_STATUSES = ("Scheduled", "Avoided", "Executing", "Executed", "Canceled", "Failed", "Inquiring")
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # the API's ISO form, e.g. 2030-01-01T00:00:00Z


def _window(name: str, value: dict[str, t.Any] | None) -> dict[str, str]:
    """``{"Start": ..., "End": ...}`` from ``{start, end}``; raises ValueError naming the option."""
    bounds: dict[str, str] = {}
    parsed: dict[str, float] = {}
    for key, raw in (value or {}).items():
        if not raw:
            continue
        try:
            parsed[key] = calendar.timegm(time.strptime(str(raw), TIME_FORMAT))
        except ValueError:
            raise ValueError(f"{name}.{key} must look like 2030-01-01T00:00:00Z (UTC), got {raw!r}") from None
        bounds[key.capitalize()] = str(raw)
    if "start" in parsed and "end" in parsed and parsed["end"] < parsed["start"]:
        raise ValueError(f"{name}.end must not be earlier than {name}.start")
    return bounds


def event_filters(event_types: t.Sequence[str], publish_time: dict[str, t.Any] | None,
                  not_before: dict[str, t.Any] | None) -> dict[str, t.Any]:
    """API parameters both actions share, checked here so bad input costs no call."""
    if len(event_types) > MAX_EVENT_TYPES:
        raise ValueError(f"event_types takes at most {MAX_EVENT_TYPES} event types, got {len(event_types)}")
    if any(not isinstance(kind, str) or not kind for kind in event_types):
        raise ValueError("event_types must hold non-empty event type names such as SystemMaintenance.Reboot")
    return {
        "InstanceEventType": list(event_types) or None,
        "EventPublishTime": _window("publish_time", publish_time) or None,
        "NotBefore": _window("not_before", not_before) or None,
    }


def _name(value: t.Any) -> str:
    return (value or {}).get("Name", "") if isinstance(value, dict) else str(value or "")


def _event(item: dict[str, t.Any], instance_id: str) -> dict[str, t.Any]:
    return {
        "event_id": item.get("EventId", ""),
        "instance_id": item.get("InstanceId") or instance_id,
        "event_type": _name(item.get("EventType")),
        "cycle_status": _name(item.get("EventCycleStatus")),
        "publish_time": item.get("EventPublishTime", ""),
        "not_before": item.get("NotBefore", ""),
        "reason": item.get("Reason", ""),
        "impact_level": item.get("ImpactLevel", ""),
    }


def _full_status_row(item: dict[str, t.Any]) -> dict[str, t.Any]:
    events = (item.get("ScheduledSystemEventSet") or {}).get("ScheduledSystemEventType") or []
    return {
        "instance_id": item["InstanceId"],
        "status": _name(item.get("Status")),
        "health_status": _name(item.get("HealthStatus")),
        "events": [_event(event, item["InstanceId"]) for event in events],
    }


def _full_status_items(response: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    return (response.get("InstanceFullStatusSet") or {}).get("InstanceFullStatusType") or []


def full_status(client: CloudClient, instance_ids: t.Sequence[str],
                filters: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    """Status, health and pending (not yet finished) events per instance, region-wide when no ids."""
    rows: list[dict[str, t.Any]] = []
    for batch in (list(batches(instance_ids, IDS_PER_CALL)) if instance_ids else [None]):
        rows.extend(_full_status_row(item) for item in paginate_numbered(
            client, "DescribeInstancesFullStatus", _full_status_items, PAGE, InstanceId=batch, **filters))
    return rows


def history_events(client: CloudClient, instance_ids: t.Sequence[str], cycle_statuses: t.Sequence[str],
                   filters: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    """Every event (finished or not) matching the filters, newest publish time first."""
    def items(response: dict[str, t.Any]) -> list[dict[str, t.Any]]:
        return (response.get("InstanceSystemEventSet") or {}).get("InstanceSystemEventType") or []

    found: list[dict[str, t.Any]] = []
    for batch in (list(batches(instance_ids, IDS_PER_CALL)) if instance_ids else [None]):
        for item in paginate(client, "DescribeInstanceHistoryEvents", items, PAGE, ResourceId=batch,
                             InstanceEventCycleStatus=list(cycle_statuses) or None, **filters):
            event = _event(item, "")
            event.update(finish_time=item.get("EventFinishTime", ""), reason_code=item.get("ReasonCode", ""),
                         resource_type=item.get("ResourceType", ""))
            found.append(event)
    # Batches each come newest first; merging them keeps that order for the whole list.
    return sorted(found, key=lambda event: event["publish_time"], reverse=True)
