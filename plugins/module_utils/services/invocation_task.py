# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the ``alicloud.ecs.invocation`` module does once Ansible has parsed its options: check them into a
RunRequest, resolve saved commands and tag targets, start the run, wait, and collect the per-instance results.

It lives here rather than in the module so the module stays a thin shell (options in, result out) and this
logic can be tested without Ansible's module machinery: nothing here exits or fails a module, the caller turns
the outcome into ``exit_json``/``fail_json``.
"""

from __future__ import annotations

import time
import typing as t

from ..api.client import CloudClient
from ..engine.invocation import InvocationTimeout
from ..engine.invocations_api import encode_content, new_client_token
from ..engine.invocation_spec import (
    MAX_INSTANCES, MAX_RESOURCE_TAGS_INVOKE, MAX_RESOURCE_TAGS_RUN, MAX_TASK_TAGS, RUN_CONTENT_LIMIT,
    check_instance_ids, check_parameters, check_resource_tags, check_run_options, placeholders, run_content_size,
)
from ..execution.exec_errors import RemoteExecError
from ..execution.frame import TransportError
from ..execution.full_output import unwrap_output, wrap_script
from .invocation_runs import (
    RunRequest, decode_output, describe_records, failure_summary, find_command, instances_with_tags, overall_status,
    shape_record, start, wait_until_done,
)

WAIT_MARGIN = 60
DEFAULT_TIMEOUT = 60
Warn = t.Callable[[str], None]


def checked_request(params: t.Mapping[str, t.Any]) -> tuple[RunRequest, bool, bool]:
    """The run as the API will get it, whether its content is wrapped, and whether it was too large to be.

    ValueError for bad input. The ClientToken is the task's own (a retried task then runs nothing twice) or
    a fresh one for this run.
    """
    check_run_options(params)
    saved = params["content"] is None
    limit = MAX_RESOURCE_TAGS_INVOKE if saved else MAX_RESOURCE_TAGS_RUN
    request = RunRequest(
        instance_ids=check_instance_ids(params["instance_ids"] or []),
        resource_tags=check_resource_tags(params["instance_tags"], limit),
        content=params["content"], command_id=params["command_id"], command_type=params["command_type"],
        name=params["name"], username=params["username"], working_dir=params["working_dir"],
        timeout=params["timeout"], container_id=params["container_id"], container_name=params["container_name"],
        termination_mode=params["termination_mode"],
        tags=check_resource_tags(params["tags"], MAX_TASK_TAGS, "tags"),
        client_token=params["client_token"] or new_client_token())
    if saved:
        request.parameters = dict(params["parameters"] or {})
        return request, False, False
    names, builtin = placeholders(params["content"])
    request.parameters = check_parameters(params["parameters"], names)
    request.enable_parameter = bool(names or builtin)
    size = run_content_size(encode_content(params["content"]), request.parameters)
    if size > RUN_CONTENT_LIMIT:
        raise ValueError(f"content: {size} bytes as Base64 (with the parameters), at most {RUN_CONTENT_LIMIT} "
                         "are allowed")
    in_container = bool(request.container_id or request.container_name)
    wanted = all((params["full_output"], params["wait"], request.command_type == "RunShellScript", not in_container))
    if not wanted:
        return request, False, False
    wrapped = wrap_script(params["content"])
    if run_content_size(encode_content(wrapped), request.parameters) > RUN_CONTENT_LIMIT:
        return request, False, True
    request.content = wrapped
    return request, True, False


def resolve(client: CloudClient, params: t.Mapping[str, t.Any], request: RunRequest, check_mode: bool) -> None:
    """Saved command and tag lookups (reads only); the saved command's placeholders are checked here.

    LookupError or ValueError, naming the option, when the lookups find nothing usable.
    """
    if request.content is None:
        try:
            command = find_command(client, params["command_id"], params["command_name"])
        except LookupError:
            if params["command_name"] is not None:
                raise
            # Public commands (and their names, which InvokeCommand also takes as CommandId) are not listed
            # among the account's own: the service checks the id and the parameters itself.
            command = {"CommandId": params["command_id"], "unknown": True}
        request.command_id = command["CommandId"]
        names = (command.get("ParameterNames") or {}).get("ParameterName") or []
        if not command.get("unknown") and (request.parameters or names):
            request.parameters = check_parameters(request.parameters, names)
    if request.resource_tags and (request.instance_ids or check_mode):
        tagged = instances_with_tags(client, request.resource_tags)
        if not tagged:
            raise LookupError(f"instance_tags: no instance of the region carries {request.resource_tags}")
        request.instance_ids = list(dict.fromkeys(request.instance_ids + tagged))
        request.resource_tags = {}
    if len(request.instance_ids) > MAX_INSTANCES:
        raise ValueError(f"instance_ids and instance_tags select {len(request.instance_ids)} instances, "
                         f"at most {MAX_INSTANCES} per invocation")


def collect(client: CloudClient, request: RunRequest, invoke_id: str, wrapped: bool, warn: Warn) -> list[dict]:
    """Per-instance results; a wrapped script's whole output is read back from its instance."""
    results = []
    for item in describe_records(client, invoke_id):
        output = None
        if wrapped and item.get("InvocationStatus") in ("Success", "Failed"):
            try:
                output = unwrap_output(client, item["InstanceId"], decode_output(item.get("Output")), request.username)
            except (RemoteExecError, TransportError) as error:
                warn(f"{item['InstanceId']}: the full output could not be read back ({error})")
        result = shape_record(item, output, 0 if output is not None else None)
        if result["dropped"]:
            warn(f"{result['instance_id']}: {result['dropped']} bytes of the output were cut by Cloud "
                 "Assistant (24 KB limit: the start, or the middle of a command that ran over a second)")
        results.append(result)
    return results


def run_task(client: CloudClient, params: t.Mapping[str, t.Any], request: RunRequest, wrapped: bool, warn: Warn,
             check_mode: bool) -> dict[str, t.Any]:
    """Resolve, start and (unless ``wait`` is off) wait for the run; the module's result, with ``failed`` set when
    the module should fail with it (a timeout, or an instance that did not succeed under ``fail_on_error``)."""
    resolve(client, params, request, check_mode)
    what = f"saved command {request.command_id}" if request.command_id else "the content"
    where = ", ".join(request.instance_ids) or f"the instances tagged {request.resource_tags}"
    if check_mode:
        return {"failed": False, "changed": True, "instance_ids": request.instance_ids,
                "msg": f"would run {what} on {where}"}
    invoke_id, command_id = start(client, request)
    done = {"changed": True, "invoke_id": invoke_id, "command_id": command_id}
    if not params["wait"]:
        return {"failed": False, "status": "Pending", "msg": f"started {what} on {where} as {invoke_id}", **done}
    targets = request.instance_ids or [item["InstanceId"] for item in describe_records(client, invoke_id)]
    timeout = (params["timeout"] or DEFAULT_TIMEOUT) + WAIT_MARGIN
    deadline = time.monotonic() + (params["wait_timeout"] or timeout)
    try:
        wait_until_done(client, invoke_id, targets, deadline)
    except InvocationTimeout as error:
        return {"failed": True, "msg": str(error), **done}
    results = collect(client, request, invoke_id, wrapped, warn)
    status = overall_status([item["status"] for item in results])
    failed = failure_summary(results)
    if failed and params["fail_on_error"]:
        return {"failed": True, "msg": f"{invoke_id} did not succeed on {failed}", "status": status,
                "results": results, **done}
    return {"failed": False, "status": status, "results": results, "msg": f"ran {what} as {invoke_id}: {status}",
            **done}
