# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start a Cloud Assistant run (RunCommand or InvokeCommand), wait for it, and shape its results.

The waiting itself is the invocation engine's (invocation.py); this file adds what a module needs
on top: every run option of the API, saved commands found by name, tag targeting, and per-instance
records with their times, in the snake_case shape the modules return.
"""

from __future__ import annotations

import base64
import typing as t
from dataclasses import dataclass, field

from ..api.client import CloudClient
from .instances import describe_instances
from ..engine.invocation import TERMINAL_STATUSES, wait_for_results
from ..engine.invocations_api import (
    describe_invocation, describe_invocation_results, invoke_command, invoke_instances, run_command, stop_invocation,
)
from ..api.pagination import paginate

COMMANDS_PAGE = 50
STOPPED_CLASS = frozenset({"Cancelled", "Terminated"})
FAILED_CLASS = frozenset({"Invalid", "Aborted", "Failed", "Timeout", "Error"})
LIVE_ORDER = ("Stopping", "Running", "Pending", "Scheduled")


@dataclass
class RunRequest:
    """One run as the API takes it: ad-hoc ``content`` (RunCommand) or a saved ``command_id`` (InvokeCommand)."""

    instance_ids: list[str]
    resource_tags: dict[str, str]
    content: str | None = None
    command_id: str | None = None
    command_type: str = "RunShellScript"
    parameters: dict[str, str] = field(default_factory=dict)
    enable_parameter: bool = False
    name: str | None = None
    username: str | None = None
    working_dir: str | None = None
    timeout: int | None = None
    container_id: str | None = None
    container_name: str | None = None
    termination_mode: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    client_token: str = ""

    def options(self) -> dict[str, t.Any]:
        """What RunCommand and InvokeCommand share, as ``invocations_api`` takes it."""
        return {"resource_tags": self.resource_tags, "parameters": self.parameters, "timeout": self.timeout,
                "username": self.username, "working_dir": self.working_dir, "container_id": self.container_id,
                "container_name": self.container_name, "termination_mode": self.termination_mode,
                "tags": self.tags, "client_token": self.client_token}


def start(client: CloudClient, request: RunRequest) -> tuple[str, str]:
    """Start the run and return its InvokeId and CommandId; the ClientToken makes a resent call run nothing twice."""
    ids = [] if request.resource_tags else request.instance_ids
    if request.command_id:
        started = invoke_command(client, ids, request.command_id, **request.options())
    else:
        started = run_command(client, ids, request.content or "", command_type=request.command_type,
                              name=request.name, enable_parameter=request.enable_parameter, **request.options())
    return started.invoke_id, started.command_id


def find_command(client: CloudClient, command_id: str | None = None, name: str | None = None) -> dict[str, t.Any]:
    """The saved command with this id or exact name; LookupError when there is none or the name is ambiguous."""
    found = list(paginate(client, "DescribeCommands",
                          lambda response: (response.get("Commands") or {}).get("Command") or [],
                          COMMANDS_PAGE, CommandId=command_id, Name=name))
    if name is not None:  # the Name filter also matches prefixes when it ends with *
        found = [item for item in found if item.get("Name") == name]
    what = f"command_id {command_id}" if command_id else f"command_name {name!r}"
    if not found:
        raise LookupError(f"{what}: no such saved command in this region")
    if len(found) > 1:
        ids = ", ".join(item["CommandId"] for item in found)
        raise LookupError(f"{what}: {len(found)} saved commands have this name ({ids}); use command_id")
    return found[0]


def instances_with_tags(client: CloudClient, tags: t.Mapping[str, str]) -> list[str]:
    """Ids of the region's instances carrying every one of ``tags`` (what ResourceTag targeting selects)."""
    found = describe_instances(client, Tag=[{"Key": key, "Value": value} for key, value in tags.items()])
    return [item["InstanceId"] for item in found]


def describe_records(client: CloudClient, invoke_id: str | None = None, *, instance_id: str | None = None,
                     include_history: bool = False, **filters: t.Any) -> list[dict[str, t.Any]]:
    """Every DescribeInvocationResults record matching, across pages (pagination sits inside ``Invocation``)."""
    return list(describe_invocation_results(client, InvokeId=invoke_id, InstanceId=instance_id,
                                            IncludeHistory=include_history or None, **filters))


def wait_until_done(client: CloudClient, invoke_id: str, instance_ids: t.Sequence[str], deadline: float) -> None:
    """Poll until every instance is done; on the deadline the engine stops the run and raises InvocationTimeout."""
    wait_for_results(client, invoke_id, list(instance_ids), deadline=deadline)


def decode_output(raw: str | None) -> bytes:
    return base64.b64decode(raw) if raw else b""


def shape_record(item: t.Mapping[str, t.Any], output: bytes | None = None, dropped: int | None = None) -> dict[str, t.Any]:
    """One per-instance record in the modules' shape; ``output``/``dropped`` override the API's (full output).

    Both result views are accepted: DescribeInvocationResults says FinishedTime, DescribeInvocations
    FinishTime.
    """
    data = decode_output(item.get("Output")) if output is None else output
    return {
        "instance_id": item.get("InstanceId", ""),
        "status": item.get("InvocationStatus", ""),
        "exit_code": item.get("ExitCode"),
        "output": data.decode("utf-8", errors="replace"),
        "dropped": int(item.get("Dropped") or 0) if dropped is None else dropped,
        "error_code": item.get("ErrorCode") or "",
        "error_info": item.get("ErrorInfo") or "",
        "repeats": item.get("Repeats"),
        "start_time": item.get("StartTime") or "",
        "finish_time": item.get("FinishedTime") or item.get("FinishTime") or "",
        "stop_time": item.get("StopTime") or "",
    }


def overall_status(statuses: t.Sequence[str]) -> str:
    """The batch status of docs/api-contract.md#invocation-statuses, from the per-instance ones (same precedence as the emulator's ⚠)."""
    for live in LIVE_ORDER:
        if live in statuses:
            return live
    if not statuses or all(item in STOPPED_CLASS for item in statuses):
        return "Stopped"
    if all(item == "Success" or item in STOPPED_CLASS for item in statuses):
        return "Success"
    if all(item in FAILED_CLASS or item in STOPPED_CLASS for item in statuses):
        return "Failed"
    return "PartialFailed"


def failure_summary(results: t.Sequence[t.Mapping[str, t.Any]]) -> str:
    """``i-1 (Failed, exit 2: ExitCodeNonzero), i-2 (Aborted: ClientNotResponse)`` for a failure message."""
    parts = []
    for item in results:
        if item["status"] == "Success":
            continue
        detail = item["status"]
        if item["status"] == "Failed":
            detail += f", exit {item['exit_code']}"
        if item["error_code"]:
            detail += f": {item['error_code']}"
        parts.append(f"{item['instance_id']} ({detail})")
    return ", ".join(parts)


def stop_run(client: CloudClient, invoke_id: str, instance_ids: t.Sequence[str], check_mode: bool) -> tuple[bool, str]:
    """Stop what is still pending, scheduled or running of ``invoke_id``; (changed, batch status after).

    A run whose instances have all finished is left alone, so stopping twice changes nothing.
    """
    invocation = _invocation(client, invoke_id)
    instances = invoke_instances(invocation)
    unknown = sorted(set(instance_ids) - {item["InstanceId"] for item in instances})
    if unknown:
        raise LookupError(f"instance_ids: {', '.join(unknown)} not part of invocation {invoke_id}")
    chosen = [item for item in instances if not instance_ids or item["InstanceId"] in instance_ids]
    live = [item for item in chosen if item.get("InvocationStatus") not in TERMINAL_STATUSES]
    if not live or check_mode:
        return bool(live), invocation.get("InvocationStatus", "")
    stop_invocation(client, invoke_id, instance_ids)
    return True, _invocation(client, invoke_id).get("InvocationStatus", "")


def _invocation(client: CloudClient, invoke_id: str) -> dict[str, t.Any]:
    found = describe_invocation(client, invoke_id)
    if found is None:
        raise LookupError(f"invoke_id {invoke_id}: no such invocation in this region")
    return found
