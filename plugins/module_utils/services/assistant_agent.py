# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Cloud Assistant agent of each instance: its status, and installing it where it is missing.

Shared by ``assistant_info`` and ``assistant_install`` so both read the status the same way and in
batches the API accepts; installing is planned from reads alone, so check mode and a real run agree.
"""

from __future__ import annotations

import time
import typing as t
from dataclasses import dataclass, field

from ..api.client import CloudClient, Json
from .instances import describe_instances
from ..api.pagination import paginate, paginate_numbered

# DescribeCloudAssistantStatus pages hold at most 50 (PageSize and MaxResults, docs/api-contract.md#describecloudassistantstatus); a batch of
# InstanceId.N no larger than a page comes back in one call.
STATUS_PAGE = 50
INSTALL_BATCH = 50  # InstanceId.N of InstallCloudAssistant (docs/api-contract.md#installcloudassistant)
DESCRIBE_IDS_BATCH = 100  # InstanceIds of DescribeInstances (docs/api-contract.md#instance-apis)
OS_TYPES = ("Windows", "Linux", "FreeBSD")
FIRST_POLL = 1.0
MAX_POLL = 5.0


def instance_id_list(value: t.Any, option: str = "instance_ids", required: bool = False) -> list[str]:
    """The ids in ``value`` without duplicates, in order (at least one when ``required``); raises ValueError
    naming ``option``.

    Checked before any call so a typo costs no API request and the message names the option.
    """
    if not isinstance(value, list):
        raise ValueError(f"{option} must be a list of instance ids")
    ids: list[str] = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"{option} must hold non-empty instance id strings, got {item!r}")
        if item.strip() not in ids:
            ids.append(item.strip())
    if required and not ids:
        raise ValueError(f"{option} must name at least one instance")
    return ids


def batches(items: t.Sequence[str], size: int) -> t.Iterator[list[str]]:
    """Consecutive slices of at most ``size`` items (the per-call limits of the API)."""
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


def _agent(item: dict[str, t.Any]) -> dict[str, t.Any]:
    return {
        "instance_id": item["InstanceId"],
        # The SDK model types it as a string; a documented example shows a boolean (docs/api-contract.md#describecloudassistantstatus ⚠).
        "online": str(item.get("CloudAssistantStatus")).lower() == "true",
        "version": item.get("CloudAssistantVersion") or "",
        "os_type": item.get("OSType") or "",
        "last_heartbeat_time": item.get("LastHeartbeatTime") or "",
        "last_invoked_time": item.get("LastInvokedTime") or "",
        "active_task_count": int(item.get("ActiveTaskCount") or 0),
        "invocation_count": int(item.get("InvocationCount") or 0),
        "support_session_manager": str(item.get("SupportSessionManager")).lower() == "true",
    }


def _status_items(response: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    return (response.get("InstanceCloudAssistantStatusSet") or {}).get("InstanceCloudAssistantStatus") or []


def describe_agents(client: CloudClient, instance_ids: t.Sequence[str] = (),
                    os_type: str | None = None) -> list[dict[str, t.Any]]:
    """Agent state of ``instance_ids`` (all instances of the region when empty), optionally of one OS type.

    With ids the API ignores NextToken (docs/api-contract.md#describecloudassistantstatus), so each batch is paged by PageNumber until TotalCount.
    """
    if not instance_ids:
        return [_agent(item) for item in paginate(
            client, "DescribeCloudAssistantStatus", _status_items, STATUS_PAGE, OSType=os_type)]
    agents: list[dict[str, t.Any]] = []
    for batch in batches(instance_ids, STATUS_PAGE):
        agents.extend(_agent(item) for item in paginate_numbered(
            client, "DescribeCloudAssistantStatus", _status_items, STATUS_PAGE, InstanceId=batch, OSType=os_type))
    return agents


@dataclass
class InstallPlan:
    """What installing on a set of instances means, decided from reads only."""

    need: list[str] = field(default_factory=list)  # Running, agent not online: these get the agent
    online: list[str] = field(default_factory=list)
    not_running: dict[str, str] = field(default_factory=dict)  # agent offline but the instance is not Running
    missing: list[str] = field(default_factory=list)  # not instances of the region

    def problem(self) -> str:
        """Why the install cannot go ahead, naming the instances; empty when it can."""
        if self.missing:
            return f"instances not found in the region: {', '.join(self.missing)}"
        if self.not_running:
            named = ", ".join(f"{iid} ({status})" for iid, status in self.not_running.items())
            return (f"the agent can only be installed on Running instances; start these first: {named}")
        return ""


def plan_install(client: CloudClient, instance_ids: t.Sequence[str]) -> InstallPlan:
    """Which of ``instance_ids`` need the agent, and which cannot get it (stopped or unknown)."""
    statuses: dict[str, str] = {}
    for batch in batches(instance_ids, DESCRIBE_IDS_BATCH):
        for item in describe_instances(client, InstanceIds=Json(batch)):
            statuses[item["InstanceId"]] = item.get("Status", "")
    plan = InstallPlan(missing=[iid for iid in instance_ids if iid not in statuses])
    if plan.missing:
        return plan  # DescribeCloudAssistantStatus would fail on them with InvalidInstance.NotFound
    online = {agent["instance_id"] for agent in describe_agents(client, instance_ids) if agent["online"]}
    for iid in instance_ids:
        if iid in online:
            plan.online.append(iid)
        elif statuses[iid] != "Running":
            plan.not_running[iid] = statuses[iid]
        else:
            plan.need.append(iid)
    return plan


def install_agents(client: CloudClient, instance_ids: t.Sequence[str]) -> None:
    """InstallCloudAssistant in batches the API accepts."""
    for batch in batches(instance_ids, INSTALL_BATCH):
        client.call("InstallCloudAssistant", InstanceId=batch)


def reboot_instances(client: CloudClient, instance_ids: t.Sequence[str]) -> None:
    """RebootInstance each one: the API documents that the installed agent starts only after a restart.

    ⚠ That requirement is from the 2021 API reference (docs/api-contract.md#installcloudassistant, [DOC21]); newer pages were not available.
    """
    for iid in instance_ids:
        client.call("RebootInstance", InstanceId=iid)


def wait_online(client: CloudClient, instance_ids: t.Sequence[str], timeout: float,
                sleep: t.Callable[[float], None] = time.sleep,
                clock: t.Callable[[], float] = time.monotonic) -> list[str]:
    """Poll until every agent of ``instance_ids`` is online or ``timeout`` passes; returns those still offline.

    The interval grows from one second to five: a reboot takes tens of seconds on the real cloud, and a
    short first wait keeps a fast emulator run fast.
    """
    deadline = clock() + timeout
    pending = list(instance_ids)
    interval = FIRST_POLL
    while pending:
        online = {agent["instance_id"] for agent in describe_agents(client, pending) if agent["online"]}
        pending = [iid for iid in pending if iid not in online]
        remaining = deadline - clock()
        if not pending or remaining <= 0:
            break
        sleep(min(interval, remaining))
        interval = min(interval * 2, MAX_POLL)
    return pending
