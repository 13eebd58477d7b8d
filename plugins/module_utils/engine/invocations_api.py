# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cloud Assistant's invocation actions, one function each: every request is built and every answer unwrapped here.

RunCommand and InvokeCommand decide here, once for every caller, how content travels (Base64), how targets,
tags, parameters and timeouts are spelled, and which ClientToken a call carries: the caller's own, or a fresh
one per call. ``CloudClient.call`` retries a call that carries a ClientToken with the same parameters, so a
retry resends the same token (the service then answers with the first InvokeId and runs nothing twice),
while every new call of these functions is a new intent with a new token.

The read actions answer in nested shapes (``Invocations.Invocation[]``, ``Invocation.InvocationResults``
with the NextToken inside ``Invocation``): the unwrapping and the paging live here too, so callers see
plain lists of items. Filters are passed in the API's own names (``CommandName=...``, ``Tag=[...]``).
"""

from __future__ import annotations

import base64
import typing as t
import uuid
from dataclasses import dataclass

from ..api.client import CloudClient, Json
from ..api.errors import CloudError

MIN_TIMEOUT = 10
PAGE_SIZE = 50  # the most DescribeInvocations and DescribeInvocationResults return per page
Item = t.Dict[str, t.Any]


@dataclass(frozen=True)
class Started:
    """What RunCommand / InvokeCommand answer: the invocation, and the command it runs (for RunCommand the
    service's temporary command)."""

    invoke_id: str
    command_id: str


def new_client_token() -> str:
    """A fresh idempotency token: resending the same call with it never runs the command twice."""
    return uuid.uuid4().hex


def encode_content(content: str | bytes) -> str:
    """Content as RunCommand takes it with ContentEncoding=Base64 (any bytes survive; the size limits count this)."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    return base64.b64encode(data).decode("ascii")


def _key_values(pairs: t.Mapping[str, str] | None) -> list[dict[str, str]] | None:
    return [{"Key": key, "Value": value} for key, value in (pairs or {}).items()] or None


def _run_options(
    instance_ids: t.Sequence[str],
    *,
    resource_tags: t.Mapping[str, str] | None = None,
    parameters: t.Mapping[str, str] | None = None,
    timeout: int | None = None,
    username: str | None = None,
    working_dir: str | None = None,
    container_id: str | None = None,
    container_name: str | None = None,
    termination_mode: str | None = None,
    tags: t.Mapping[str, str] | None = None,
    repeat_mode: str | None = None,
    frequency: str | None = None,
    client_token: str | None = None,
) -> dict[str, t.Any]:
    """The parameters RunCommand and InvokeCommand share (None values are left out by the client).

    The API takes one kind of target: instance ids, or ``resource_tags`` (every instance carrying them);
    ``tags`` are the invocation's own tags. ``termination_mode`` ``ProcessTree`` makes a timeout or stop end
    everything the script started, not just the script (the service's default, ``Process``).
    """
    if resource_tags and instance_ids:
        raise ValueError("instance_ids and resource_tags: an invocation targets one kind, not both")
    return {
        "InstanceId": None if resource_tags else list(instance_ids),
        "ResourceTag": _key_values(resource_tags),
        "Parameters": Json(dict(parameters)) if parameters else None,
        "Timeout": None if timeout is None else max(MIN_TIMEOUT, int(timeout)),
        "Username": username,
        "WorkingDir": working_dir,
        "ContainerId": container_id,
        "ContainerName": container_name,
        "TerminationMode": termination_mode,
        "Tag": _key_values(tags),
        "RepeatMode": repeat_mode,
        "Frequency": frequency,
        "ClientToken": client_token or new_client_token(),
    }


def run_command(client: CloudClient, instance_ids: t.Sequence[str], content: str | bytes, *,
                command_type: str = "RunShellScript", name: str | None = None, enable_parameter: bool = False,
                keep_command: bool | None = None, **options: t.Any) -> Started:
    """RunCommand: start ``content`` on the instances (or on those carrying ``resource_tags``).

    ``options`` are those of ``_run_options`` (timeout, username, working_dir, tags, parameters, ...);
    ``timeout`` None is the service's default, a smaller one than MIN_TIMEOUT is raised to it.
    ``enable_parameter`` lets the agent replace {{ACS::…}}, {{oos:…}}, {{oos-secret:…}} and the
    ``parameters`` in the content on the instance.
    """
    response = client.call(
        "RunCommand", Type=command_type, CommandContent=encode_content(content), ContentEncoding="Base64",
        Name=name, EnableParameter=True if enable_parameter else None, KeepCommand=keep_command,
        **_run_options(instance_ids, **options))
    return Started(response["InvokeId"], response.get("CommandId") or "")


def invoke_command(client: CloudClient, instance_ids: t.Sequence[str], command_id: str,
                   **options: t.Any) -> Started:
    """InvokeCommand: start the saved (or public) command ``command_id``; ``options`` as for ``run_command``
    (``timeout`` None: the saved command's own)."""
    response = client.call("InvokeCommand", CommandId=command_id, **_run_options(instance_ids, **options))
    return Started(response["InvokeId"], response.get("CommandId") or command_id)


def stop_invocation(client: CloudClient, invoke_id: str, instance_ids: t.Sequence[str] | None = None, *,
                    quiet: bool = False, retry: bool | None = None, budget: float | None = None) -> None:
    """StopInvocation, of the whole invocation or of ``instance_ids`` only.

    ``quiet``: a stop that fails is not raised (it is sent on the way out of a timeout, whose error matters
    more). ``retry``/``budget`` as for ``CloudClient.call`` (a stop is not retried unless asked: it has no
    ClientToken).
    """
    options = {"retry": retry, "budget": budget, "InstanceId": list(instance_ids or []) or None}
    try:
        client.call("StopInvocation", InvokeId=invoke_id,
                    **{key: value for key, value in options.items() if value is not None})
    except CloudError:
        if not quiet:
            raise


def invocations_of(response: t.Mapping[str, t.Any]) -> list[Item]:
    """The invocations of a DescribeInvocations or DescribeSendFileResults answer."""
    return (response.get("Invocations") or {}).get("Invocation") or []


def invoke_instances(invocation: t.Mapping[str, t.Any]) -> list[Item]:
    """The per-instance records of one listed invocation."""
    return (invocation.get("InvokeInstances") or {}).get("InvokeInstance") or []


def describe_invocations_page(client: CloudClient, max_results: int = PAGE_SIZE, next_token: str | None = None,
                              **filters: t.Any) -> tuple[list[Item], str]:
    """One page of DescribeInvocations: its invocations and the token of the next page ("" after the last)."""
    response = client.call("DescribeInvocations", MaxResults=max_results, NextToken=next_token or None, **filters)
    return invocations_of(response), response.get("NextToken") or ""


def describe_invocations(client: CloudClient, page_size: int = PAGE_SIZE, **filters: t.Any) -> t.Iterator[Item]:
    """Every invocation matching ``filters``, page after page."""
    next_token = ""
    while True:
        items, next_token = describe_invocations_page(client, page_size, next_token, **filters)
        yield from items
        if not next_token:
            return


def describe_invocation(client: CloudClient, invoke_id: str, **options: t.Any) -> Item | None:
    """The invocation ``invoke_id`` (one call, ``options`` such as IncludeOutput added), or None if unknown."""
    found = invocations_of(client.call("DescribeInvocations", InvokeId=invoke_id, **options))
    return found[0] if found else None


def describe_invocation_results(client: CloudClient, page_size: int = PAGE_SIZE,
                                **filters: t.Any) -> t.Iterator[Item]:
    """Every DescribeInvocationResults record matching ``filters`` (InvokeId, InstanceId, Tag, IncludeHistory…),
    across pages: this action keeps its NextToken inside ``Invocation``."""
    next_token: str | None = None
    while True:
        response = client.call("DescribeInvocationResults", MaxResults=page_size, NextToken=next_token, **filters)
        invocation = response.get("Invocation") or {}
        yield from (invocation.get("InvocationResults") or {}).get("InvocationResult") or []
        next_token = invocation.get("NextToken") or None
        if not next_token:
            return


def describe_send_file_results(client: CloudClient, invoke_id: str) -> list[Item]:
    """The file-sending tasks of ``invoke_id``, in DescribeInvocations' shape (``invoke_instances`` reads them)."""
    return invocations_of(client.call("DescribeSendFileResults", InvokeId=invoke_id))
