# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read invocations back: DescribeInvocations for the task view, DescribeInvocationResults for output and history.

Per-instance results come with the invocation list itself (no extra call) unless output or the
history of a periodic task is wanted; only then is each invocation's DescribeInvocationResults read.
"""

from __future__ import annotations

import datetime as dt
import json
import typing as t

from ..api.client import CloudClient
from ..execution.full_output import unframe
from .invocation_runs import decode_output, describe_records, shape_record
from ..engine.invocation_spec import check_resource_tags
from ..engine.invocations_api import describe_invocations_page, invoke_instances

MAX_PAGE = 50
FILTERS = {"invoke_id": "InvokeId", "command_id": "CommandId", "command_name": "CommandName",
           "command_type": "CommandType", "invoke_status": "InvokeStatus", "instance_id": "InstanceId",
           "repeat_mode": "RepeatMode"}
# The service ignores these two when InstanceId is given (docs/api-contract.md#describeinvocations); they are applied here instead.
IGNORED_WITH_INSTANCE = {"command_name": "CommandName", "invoke_status": "InvokeStatus"}


def parse_time(value: str | None, option: str) -> dt.datetime | None:
    """An ISO 8601 time (``2026-01-31T08:00:00Z``); without a zone it is taken as UTC."""
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{option}: {value!r} is not an ISO 8601 time such as 2026-01-31T08:00:00Z") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def query_params(params: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """DescribeInvocations filters for the module's options; ValueError names a bad one."""
    query = {api: params.get(option) for option, api in FILTERS.items() if params.get(option) is not None}
    tags = check_resource_tags(params.get("tags"), 20, "tags")
    if tags:
        query["Tag"] = [{"Key": key, "Value": value} for key, value in tags.items()]
    max_results = params.get("max_results")
    if max_results is not None and not 1 <= max_results <= MAX_PAGE:
        raise ValueError(f"max_results: {max_results} is outside 1..{MAX_PAGE}")
    return query


class InvocationQuery:
    """One listing: its filters, the client-side ones the API lacks, and how much of each result to read."""

    def __init__(self, client: CloudClient, params: t.Mapping[str, t.Any]) -> None:
        self.client = client
        self.query = query_params(params)
        self.after = parse_time(params.get("created_after"), "created_after")
        self.before = parse_time(params.get("created_before"), "created_before")
        self.include_output = bool(params.get("include_output"))
        self.include_history = bool(params.get("include_history"))
        self.instance_id = params.get("instance_id")
        self.extra = {option: params[option] for option in IGNORED_WITH_INSTANCE
                      if self.instance_id and params.get(option) is not None}

    def pages(self, max_results: int | None, next_token: str | None) -> tuple[list[dict[str, t.Any]], str]:
        """The matching invocations, shaped, and the token of the next page ("" at the end).

        With ``max_results`` one page of at most that many is read; without, every page.
        """
        found: list[dict[str, t.Any]] = []
        while True:
            items, next_token = describe_invocations_page(self.client, max_results or MAX_PAGE, next_token,
                                                          **self.query)
            found += [self.shape(item) for item in items if self.wanted(item)]
            if max_results or not next_token:
                return found, next_token

    def wanted(self, item: t.Mapping[str, t.Any]) -> bool:
        """The filters DescribeInvocations cannot apply itself: the time range (⚠ no such API filter in the
        API reference), and command name / status together with an instance id (the API ignores them then)."""
        created = parse_time(item.get("CreationTime") or None, "CreationTime")
        if created and ((self.after and created < self.after) or (self.before and created > self.before)):
            return False
        if "command_name" in self.extra and item.get("CommandName") != self.extra["command_name"]:
            return False
        wanted_status = self.extra.get("invoke_status")
        return wanted_status is None or wanted_status in (item.get("InvocationStatus"), item.get("InvokeStatus"))

    def shape(self, item: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
        tags = (item.get("Tags") or {}).get("Tag") or []
        return {
            "invoke_id": item.get("InvokeId", ""),
            "command_id": item.get("CommandId", ""),
            "command_name": item.get("CommandName", ""),
            "command_type": item.get("CommandType", ""),
            "command_content": decode_output(item.get("CommandContent")).decode("utf-8", errors="replace"),
            "parameters": _json_object(item.get("Parameters")),
            "repeat_mode": item.get("RepeatMode", ""),
            "frequency": item.get("Frequency", ""),
            "timed": bool(item.get("Timed")),
            "timeout": item.get("Timeout"),
            "username": item.get("Username", ""),
            "working_dir": item.get("WorkingDir", ""),
            "container_id": item.get("ContainerId", ""),
            "container_name": item.get("ContainerName", ""),
            "termination_mode": item.get("TerminationMode", ""),
            "creation_time": item.get("CreationTime", ""),
            "status": item.get("InvocationStatus", ""),
            "invoke_status": item.get("InvokeStatus", ""),
            "tags": {tag.get("TagKey", ""): tag.get("TagValue", "") for tag in tags},
            "results": self.results(item),
        }

    def results(self, item: t.Mapping[str, t.Any]) -> list[dict[str, t.Any]]:
        """Per-instance results: from the listing itself, or read with output and/or every past run."""
        if self.include_output or self.include_history:
            records = describe_records(self.client, item["InvokeId"], instance_id=self.instance_id,
                                       include_history=self.include_history)
        else:
            records = [record for record in invoke_instances(item)
                       if not self.instance_id or record.get("InstanceId") == self.instance_id]
        shaped = [shape_record(record, self.own_output(record)) for record in records]
        if not self.include_output:
            for record in shaped:
                del record["output"]
        return shaped

    def own_output(self, record: t.Mapping[str, t.Any]) -> bytes | None:
        """A run of alicloud.ecs.invocation printed a frame: show the script's output it holds instead."""
        raw = decode_output(record.get("Output")) if self.include_output else b""
        return unframe(raw) if raw.endswith(b">>\n") else None


def _json_object(text: str | None) -> dict[str, t.Any]:
    """The Parameters echo is a JSON string (docs/api-contract.md#describeinvocations, #open-points); anything else reads as no parameters."""
    try:
        value = json.loads(text) if isinstance(text, str) and text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
