# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""OOS (2019-06-01) for the oos_template and oos_execution modules: templates compared by meaning, executions
started, watched and summarised per task and per instance.

Everything that can be checked locally (names, modes, the public template's parameters) is checked here
before the first API call, so bad input never costs a request.
"""

from __future__ import annotations

import json
import re
import time
import typing as t

from ansible.module_utils.common.yaml import HAS_YAML, yaml_dump, yaml_load

from ..api.client import CloudClient, Json
from ..api.errors import CloudError, is_error_code
from ..api.pagination import paginate
from ..engine.invocations_api import describe_invocations, invoke_instances

BULKY = "ACS-ECS-BulkyRunCommand"
TERMINAL = ("Success", "Failed", "Cancelled")
NAME = re.compile(r"^[A-Za-z0-9_-]{1,200}$")
COMMAND_LIMIT = 16384  # docs/api-contract.md#oos: commandContent MaxLength
NOTIFY_TYPES = {"approve": "Approve", "reject": "Reject", "retry": "RetryTask", "skip": "SkipTask"}


def check_template_name(name: str, *, own: bool) -> None:
    """Template names are 1–200 of ``[A-Za-z0-9_-]``; names starting ACS- or ALIYUN belong to Alibaba Cloud."""
    if not NAME.match(name):
        raise ValueError(f"name {name!r} must be 1 to 200 characters of letters, digits, '_' and '-'")
    if own and name.upper().startswith(("ACS-", "ALIYUN")):
        raise ValueError(f"name {name!r} is reserved: names starting with ACS- or ALIYUN are Alibaba Cloud's")


def parse_template(content: t.Any, origin: str = "content") -> dict[str, t.Any]:
    """A template given as a dict or as JSON/YAML text → the document; it must be a mapping with FormatVersion."""
    doc = content
    if isinstance(content, (str, bytes)):
        text = content.decode() if isinstance(content, bytes) else content
        try:
            doc = json.loads(text)
        except ValueError:
            if not HAS_YAML:
                raise ValueError(f"{origin} is not JSON and PyYAML is missing to read it as YAML") from None
            try:
                doc = yaml_load(text)
            except Exception as error:  # pyyaml's own error types
                raise ValueError(f"{origin} is neither JSON nor YAML: {error}") from None
    if not isinstance(doc, dict):
        raise ValueError(f"{origin} must be a template mapping, got {type(doc).__name__}")
    if "FormatVersion" not in doc:
        raise ValueError(f"{origin} has no FormatVersion (e.g. OOS-2019-06-01)")
    return doc


def template_yaml(doc: dict[str, t.Any] | None) -> str:
    """The document as YAML for a diff ('' when there is none)."""
    if doc is None:
        return ""
    if HAS_YAML:
        return yaml_dump(doc, default_flow_style=False, sort_keys=False, allow_unicode=True)
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def get_template(client: CloudClient, name: str, version: str | None = None) -> dict[str, t.Any] | None:
    """GetTemplate → the template as a result dict with its parsed ``content``; None when it does not exist."""
    try:
        response = client.call("GetTemplate", product="oos", TemplateName=name, TemplateVersion=version)
    except CloudError as error:
        if is_error_code(error, "EntityNotExists"):
            return None
        raise
    meta = response.get("Template", {})
    text = response.get("Content", "")
    try:
        content: t.Any = parse_template(text)
    except ValueError:
        content = text  # a template the service holds is never refused for reading
    return {
        "name": meta.get("TemplateName", name), "template_id": meta.get("TemplateId", ""),
        "version": meta.get("TemplateVersion", ""), "format": meta.get("TemplateFormat", ""),
        "description": meta.get("Description", ""), "share_type": meta.get("ShareType", ""),
        "tags": meta.get("Tags") or {}, "hash": meta.get("Hash", ""), "content": content,
    }


def check_rate_control(rate: t.Any) -> None:
    """rateControl of the public template (docs/api-contract.md#oos): Mode Concurrency|Batch, counts as numbers or 'N%'."""
    if not isinstance(rate, dict):
        raise ValueError("parameters.rateControl must be a dict")
    if rate.get("Mode") not in ("Concurrency", "Batch"):
        raise ValueError("parameters.rateControl.Mode must be Concurrency or Batch")
    counts = [("MaxErrors", rate.get("MaxErrors", 0)), ("Concurrency", rate.get("Concurrency", 1))]
    counts += [("Batch", value) for value in rate.get("Batch") or []]
    for key, value in counts:
        if not re.fullmatch(r"\d+%?", str(value).strip()) or (str(value).endswith("%") and int(str(value)[:-1]) > 100):
            raise ValueError(f"parameters.rateControl.{key} must be a whole number or a percentage 'N%' (0-100), "
                             f"got {value!r}")
    if rate.get("BatchPauseOption") not in (None, "Automatic", "FirstBatchPause", "EveryBatchPause"):
        raise ValueError("parameters.rateControl.BatchPauseOption must be Automatic, FirstBatchPause or EveryBatchPause")


def check_bulky_parameters(parameters: dict[str, t.Any]) -> None:
    """The public template's required inputs and limits, so a doomed StartExecution is never sent."""
    content = parameters.get("commandContent")
    if not isinstance(content, str) or not content:
        raise ValueError(f"parameters.commandContent is required by {BULKY}")
    if len(content) > COMMAND_LIMIT:
        raise ValueError(f"parameters.commandContent is {len(content)} characters; {BULKY} allows at most {COMMAND_LIMIT}")
    targets = parameters.get("targets")
    if not isinstance(targets, dict) or targets.get("Type") not in ("ResourceIds", "Tags", "ResourceGroup", "All"):
        raise ValueError("parameters.targets must be a dict whose Type is ResourceIds, Tags, ResourceGroup or All")
    if targets["Type"] == "ResourceIds" and not (isinstance(targets.get("ResourceIds"), list) and targets["ResourceIds"]):
        raise ValueError("parameters.targets.ResourceIds must be a non-empty list of instance ids")
    if targets["Type"] == "ResourceIds" and len(targets["ResourceIds"]) > 1000:
        raise ValueError(f"parameters.targets.ResourceIds has {len(targets['ResourceIds'])} ids; a loop takes at most 1000")
    if "rateControl" in parameters:
        check_rate_control(parameters["rateControl"])


def check_start(template_name: str, parameters: dict[str, t.Any], mode: str, safety_check: str | None) -> None:
    """Everything about a StartExecution that can be refused locally."""
    check_template_name(template_name, own=False)
    if safety_check == "Skip" and mode != "Automatic":
        raise ValueError("safety_check=Skip is only allowed with mode=Automatic")
    if template_name == BULKY:
        check_bulky_parameters(parameters)


def start_execution(client: CloudClient, *, template_name: str, parameters: dict[str, t.Any],
                    **options: t.Any) -> dict[str, t.Any]:
    """StartExecution; ``options`` are API names (TemplateVersion, Mode, LoopMode, SafetyCheck, Description,
    ClientToken, Tags). A ClientToken makes a retried start return the first execution."""
    tags = options.pop("Tags", None)
    response = client.call("StartExecution", product="oos", TemplateName=template_name, Parameters=Json(parameters),
                           Tags=Json(tags) if tags else None, **options)
    return response["Execution"]


def get_execution(client: CloudClient, execution_id: str) -> dict[str, t.Any] | None:
    """ListExecutions(ExecutionId) → the execution, or None (an unknown id lists nothing)."""
    found = client.call("ListExecutions", product="oos", ExecutionId=execution_id).get("Executions") or []
    return found[0] if found else None


def task_executions(client: CloudClient, execution_id: str) -> list[dict[str, t.Any]]:
    """Every task execution, loop items included (ListTaskExecutions, all pages)."""
    return list(paginate(client, "ListTaskExecutions", lambda r: r.get("TaskExecutions") or [], 100, product="oos",
                         ExecutionId=execution_id, IncludeChildTaskExecution=True))


def instance_invocations(client: CloudClient, execution_id: str, **filters: t.Any) -> dict[str, dict[str, t.Any]]:
    """The Cloud Assistant side of each instance: the template's RunCommand is named after the execution
    (docs/api-contract.md#oos), so one DescribeInvocations(CommandName) lists every item's exit code and error. The
    latest invocation of an instance wins (a retried item runs again). ``filters`` narrow the listing (InvokeStatus).
    """
    found: dict[str, dict[str, t.Any]] = {}
    for invocation in describe_invocations(client, CommandName=execution_id, **filters):
        for item in invoke_instances(invocation):
            known = found.get(item.get("InstanceId", ""))
            if known is None or item.get("CreationTime", "") >= known.get("CreationTime", ""):
                found[item.get("InstanceId", "")] = item
    return found


def parse_json(text: t.Any) -> t.Any:
    """Outputs/Properties arrive as JSON strings; anything unparsable is kept as it came."""
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text) if text else {}
    except ValueError:
        return text


def task_view(item: dict[str, t.Any]) -> dict[str, t.Any]:
    """A TaskExecution in the module's snake_case, Outputs parsed."""
    return {"task_execution_id": item.get("TaskExecutionId", ""), "name": item.get("TaskName", ""),
            "action": item.get("TaskAction", ""), "status": item.get("Status", ""),
            "status_message": item.get("StatusMessage", ""), "outputs": parse_json(item.get("Outputs", "")),
            "loop_item": item.get("LoopItem", ""), "start_date": item.get("StartDate", ""),
            "end_date": item.get("EndDate", "")}


def _output_text(outputs: t.Any) -> str:
    """A loop item's ``invocationOutput`` (the template decodes the command's Base64 output itself)."""
    text = outputs.get("invocationOutput", "") if isinstance(outputs, dict) else ""
    return text if isinstance(text, str) else json.dumps(text)


def instance_results(tasks: list[dict[str, t.Any]], invocations: dict[str, dict[str, t.Any]]) -> list[dict[str, t.Any]]:
    """One entry per loop item of the public template: status and output from the task execution, exit code and
    Cloud Assistant error from the invocation."""
    results = []
    for task in tasks:
        if not task["loop_item"]:
            continue
        invocation = invocations.get(task["loop_item"], {})
        results.append({"instance_id": task["loop_item"], "status": task["status"],
                        "status_message": task["status_message"], "output": _output_text(task["outputs"]),
                        "exit_code": invocation.get("ExitCode"), "error_code": invocation.get("ErrorCode", ""),
                        "error_info": invocation.get("ErrorInfo", ""),
                        "task_execution_id": task["task_execution_id"]})
    return results


def summarize(client: CloudClient, execution: dict[str, t.Any]) -> dict[str, t.Any]:
    """The module's view of an execution: outputs parsed, tasks and (for the public template) instances."""
    tasks = [task_view(item) for item in task_executions(client, execution["ExecutionId"])]
    result = {
        "execution_id": execution["ExecutionId"], "status": execution.get("Status", ""),
        "status_message": execution.get("StatusMessage", ""), "template_name": execution.get("TemplateName", ""),
        "template_version": execution.get("TemplateVersion", ""), "mode": execution.get("Mode", ""),
        "counters": execution.get("Counters") or {}, "outputs": parse_json(execution.get("Outputs", "")),
        "parameters": parse_json(execution.get("Parameters", {})), "tasks": [t_ for t_ in tasks if not t_["loop_item"]],
        "loop_items": [t_ for t_ in tasks if t_["loop_item"]],
    }
    if result["template_name"] == BULKY:
        result["instances"] = instance_results(tasks, instance_invocations(client, execution["ExecutionId"]))
    return result


def failure_summary(result: dict[str, t.Any]) -> str:
    """Why an execution failed, naming the failed instances (or tasks) and their exit codes."""
    failed = [i for i in result.get("instances", []) if i["status"] == "Failed"]
    if failed:
        named = ", ".join(f"{i['instance_id']} (exit code {i['exit_code']}"
                          f"{': ' + i['status_message'] if i['status_message'] else ''})" for i in failed)
        what = f"failed instances: {named}"
    else:
        tasks = [t_ for t_ in result["tasks"] + result["loop_items"] if t_["status"] == "Failed"]
        what = "failed tasks: " + (", ".join(f"{t_['name']} ({t_['status_message']})" for t_ in tasks) or "none reported")
    reason = f": {result['status_message']}" if result["status_message"] else ""
    return f"execution {result['execution_id']} ended {result['status']}{reason}; {what}"


def wait_execution(client: CloudClient, execution_id: str, timeout: float,
                   observe: t.Callable[[dict[str, t.Any]], None], *, grace: float = 0.0,
                   clock: t.Callable[[], float] = time.monotonic,
                   sleep: t.Callable[[float], None] = time.sleep) -> tuple[dict[str, t.Any], bool]:
    """Poll ListExecutions until the execution ends or waits for a notification → (execution, timed_out).

    ``observe`` sees each observation whose status, current task or counters changed, so a caller can log
    progress. The interval grows from 0.2 s to 5 s: short executions answer fast, long ones cost few calls.
    Right after a notification the execution may still show the Waiting it was released from: ``grace``
    seconds of Waiting are ignored unless another status was seen first."""
    started = clock()
    deadline = started + timeout
    interval = 0.2
    last: tuple[t.Any, ...] | None = None
    moved = False
    while True:
        execution = get_execution(client, execution_id)
        if execution is None:
            raise ValueError(f"execution {execution_id} does not exist")
        current = tuple(task.get("TaskName", "") for task in execution.get("CurrentTasks") or [])
        seen = (execution.get("Status"), current, json.dumps(execution.get("Counters") or {}, sort_keys=True))
        if seen != last:
            observe({"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "status": seen[0],
                     "task": ",".join(sorted(set(current))), "counters": execution.get("Counters") or {}})
            last = seen
        status = execution.get("Status")
        moved = moved or status != "Waiting"
        if status in TERMINAL or (status == "Waiting" and (moved or clock() - started >= grace)):
            return execution, False
        if clock() >= deadline:
            return execution, True
        sleep(min(interval, max(0.0, deadline - clock())))
        interval = min(interval * 1.5, 5.0)


def waiting_tasks(tasks: list[dict[str, t.Any]], task_name: str | None, loop_item: str | None) -> list[str]:
    """Failed task executions a RetryTask/SkipTask can settle, narrowed by task name and loop item."""
    failed = [task for task in tasks if task["status"] == "Failed"]
    return [task["task_execution_id"] for task in failed
            if (not task_name or task["name"] == task_name) and (not loop_item or task["loop_item"] == loop_item)]
