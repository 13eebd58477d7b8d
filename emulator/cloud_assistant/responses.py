"""Command actions: parse/validate parameters, call the model, render the documented shapes (docs/api-contract.md, a section per action)."""
from __future__ import annotations

import base64
import json
import time
from typing import TYPE_CHECKING, Any

from ..clock import iso_seconds
from ..errors import ApiError
from ..pagination import paginate
from ..protocol import Params
from . import commands, frequency, validate
from .status import COARSE, batch_coarse, batch_status

if TYPE_CHECKING:
    from ..handler_context import Services

TYPES = ("RunShellScript", "RunBatScript", "RunPowerShellScript")
REPEAT_MODES = ("Once", "Period", "NextRebootOnly", "EveryReboot", "DryRun")
LIVE = frozenset({"Pending", "Scheduled", "Running", "Stopping"})  # a schedule in these states is still Timed
SHELL_FOR_OS = {"linux": ("RunShellScript",), "windows": ("RunBatScript", "RunPowerShellScript")}


def run_command(emu: Services, p: Params) -> dict[str, Any]:
    """RunCommand (docs/api-contract.md#runcommand)."""
    region = emu.region(p)
    ctype = p.require("Type")
    if ctype not in TYPES:
        raise ApiError("InvalidCmdType.NotFound", "The specified command type does not exist.", 404)
    raw = p.require("CommandContent")
    content, b64 = validate.decode_content(raw, (p.get("ContentEncoding") or "").lower() == "base64",
                                           "CmdContent.DecodeError", "The CommandContent can not be base64 decoded.")
    enable = p.boolean("EnableParameter")
    if enable:  # too many placeholders fail the count check before any value is looked for, as in CreateCommand
        commands.check_parameter_count(content)
    values = validate.parameters(p, enable, content)
    size = len(b64) + (len(base64.b64encode(json.dumps(values).encode())) if values else 0)
    if size > (18432 if p.boolean("KeepCommand") else 24576):
        raise ApiError("CmdContent.ExceedLimit", "The length of the command content exceeds the upper limit.", 403)
    if p.boolean("KeepCommand") and enable:
        commands.parameter_names(content)  # a kept command's placeholders must be valid before anything runs
    ids = target_ids(emu, region, p)
    name = validate.max_len(p, "Name", 128, "CmdName.ExceedLimit", "The length of the command name exceeds the limit.")
    desc = validate.max_len(p, "Description", 512, "CmdDesc.ExceedLimit", "The length of the description exceeds the limit.")
    options = run_options(p)
    timeout = validate.timeout(p, emu.options, emu.options.min_timeout)
    check_frequency(emu, options, timeout)
    targets = check_targets(emu, region, ids, ctype)
    spec = {"type": ctype, "name": name, "description": desc, "content_b64": b64,
            "script_b64": base64.b64encode(validate.substitute(content, values)).decode(),
            "parameters": values, "enable_parameter": enable, "timeout": timeout, **options}
    result = emu.ca.run_command(region, spec, targets)
    if p.boolean("KeepCommand") and options["repeat_mode"] != "DryRun":  # a dry run creates nothing
        commands.save(emu, region, result["CommandId"], {
            "name": name, "type": ctype, "content_b64": b64, "enable_parameter": enable, "timeout": timeout,
            "description": desc, "working_dir": options["working_dir"], "launcher": options["launcher"],
            "tags": []})
        commands.count_invocation(emu, result["CommandId"])
    return result


def invoke_command(emu: Services, p: Params) -> dict[str, Any]:
    """InvokeCommand (docs/api-contract.md#invokecommand): run a saved command; Timeout/WorkingDir/Launcher override it for this run only."""
    region = emu.region(p)
    command = commands.load(emu, region, p.require("CommandId"))
    content = base64.b64decode(command["content_b64"])
    values = validate.parameters(p, command["enable_parameter"], content)
    size = len(command["content_b64"]) + (len(base64.b64encode(json.dumps(values).encode())) if values else 0)
    if size > commands.KEEP_LIMIT:
        raise ApiError("CmdContent.ExceedLimit", "The length of the command content exceeds the upper limit.", 403)
    ids = target_ids(emu, region, p)
    options = run_options(p)
    timeout = validate.timeout(p, emu.options, emu.options.min_timeout) if p.get("Timeout") else command["timeout"]
    check_frequency(emu, options, timeout)
    targets = check_targets(emu, region, ids, command["type"])
    spec = {"type": command["type"], "name": command["name"], "description": command["description"],
            "content_b64": command["content_b64"],
            "script_b64": base64.b64encode(validate.substitute(content, values)).decode(), "parameters": values,
            "enable_parameter": command["enable_parameter"], "timeout": timeout,
            **options, "working_dir": options["working_dir"] or command["working_dir"],
            "launcher": options["launcher"] or command["launcher"]}
    result = emu.ca.run_command(region, spec, targets, command["id"])
    if options["repeat_mode"] != "DryRun":
        commands.count_invocation(emu, command["id"])
    return {"InvokeId": result["InvokeId"]}


def run_options(p: Params) -> dict[str, Any]:
    """How to run, shared by RunCommand and InvokeCommand: user, directory, schedule, termination, tags."""
    workdir = validate.max_len(p, "WorkingDir", 200, "InvalidParameter.WorkingDir",
                               'The specified parameter "WorkingDir" is not valid.', 400)
    user = validate.max_len(p, "Username", 255, "Username.ExceedLimit", "The length of username exceeds the limit.")
    launcher = validate.max_len(p, "Launcher", 1024, "InvalidLauncher.LengthLimitExceeded",
                                "The length of launcher exceeds the limit.")
    repeat_mode = "Period" if p.get("Frequency") else (p.get("RepeatMode") or "Once")
    if repeat_mode not in REPEAT_MODES:
        raise ApiError("InvalidRepeatMode.NotFound", "The specified repeat mode does not exist.", 404)
    if repeat_mode == "Period" and not p.get("Frequency"):
        raise ApiError("MissingParam.Frequency", "The parameter frequency is missing or empty.")
    termination = p.get("TerminationMode", "")
    if termination not in ("", "Process", "ProcessTree"):
        raise ApiError("InvalidTerminationMode.NotFound", "The specified termination mode does not exist.", 404)
    return {"username": user or "root", "working_dir": workdir, "repeat_mode": repeat_mode,
            "frequency": p.get("Frequency", ""), "launcher": launcher, "termination_mode": termination,
            "tags": validate.tags(p), "container_id": p.get("ContainerId", ""),
            "container_name": p.get("ContainerName", ""), "oss_output_delivery": p.get("OssOutputDelivery", "")}


def check_frequency(emu: Services, options: dict[str, Any], timeout: int) -> None:
    """A Period task's Frequency must parse and respect the minimum intervals (InvalidParam.Frequency)."""
    if options["repeat_mode"] == "Period":
        frequency.parse(options["frequency"], timeout, time.time(), emu.options.period_min)


def check_targets(emu: Services, region: str, ids: list[str], ctype: str) -> list[dict[str, Any]]:
    """Resolve the instances and check the command type fits each one's OS."""
    targets = emu.ca.targets(region, ids, "The specified instance does not exist.")
    for inst in targets:
        if ctype not in SHELL_FOR_OS.get(inst["os_type"], ()):
            raise ApiError("InvalidInstance.NotMatch", "The specified instance type does not match the command.")
    return targets


def target_ids(emu: Services, region: str, p: Params) -> list[str]:
    """InstanceId.N or ResourceTag.N (mutually exclusive), at most 100 instances."""
    resource_tags = p.structs("ResourceTag")
    if resource_tags and p.repeat("InstanceId"):
        raise ApiError("InvalidResourceTag.ConflictWithInstanceIds",
                       "The ResourceTag and InstanceId parameters cannot be specified at the same time.")
    if not resource_tags:
        return validate.instance_ids(p, 100)
    ids = emu.ca.by_tags(region, resource_tags)
    if not ids:
        raise ApiError("InvalidResourceTag.InstanceNotFound", "No instance matches the specified resource tags.")
    if len(ids) > 100:
        raise ApiError("InstanceIds.ExceedLimit", "The count of instance ids exceeds the limit.", 403)
    return ids


def encode(data: bytes, plain: bool) -> str:
    """Output/CommandContent: Base64 by default, PlainText on request."""
    return data.decode("utf-8", errors="replace") if plain else base64.b64encode(data).decode()


def plain_text(p: Params) -> bool:
    """ContentEncoding of the Describe* actions defaults to Base64."""
    return (p.get("ContentEncoding") or "").lower() == "plaintext"


def describe_invocations(emu: Services, p: Params) -> dict[str, Any]:
    """DescribeInvocations (docs/api-contract.md#describeinvocations): batch view with per-instance status; unknown InvokeId → empty list."""
    region = emu.region(p)
    instance_id = p.get("InstanceId")
    found = emu.ca.invocations("command", region, p.get("InvokeId"), instance_id)
    wanted = {"CommandId": p.get("CommandId"), "CommandType": p.get("CommandType"),
              "RepeatMode": p.get("RepeatMode"), "CommandName": None if instance_id else p.get("CommandName")}
    invoke_status = None if instance_id else p.get("InvokeStatus")
    timed = p.get("Timed")
    tags = validate.tags(p)
    rendered = []
    for inv, rows in found:
        item = render_invocation(inv, rows, p.boolean("IncludeOutput"), plain_text(p))
        if any(v is not None and item[k] != v for k, v in wanted.items()):
            continue
        if not has_tags(inv["data"]["tags"], tags):
            continue
        if invoke_status and invoke_status not in (item["InvocationStatus"], item["InvokeStatus"]):
            continue
        if timed is not None and (timed.lower() == "true") != item["Timed"]:
            continue
        rendered.append(item)
    page, counters = paginate(rendered, p)
    return {"Invocations": {"Invocation": page}, **counters}


def has_tags(own: list[dict[str, str]], wanted: list[dict[str, str]]) -> bool:
    """Tag.N filter: every requested key present; a value, when given, must match too (⚠ an empty value
    matching any value of the key is our reading; the API reference lists the filter, not its semantics)."""
    mine = {t["TagKey"]: t["TagValue"] for t in own}
    return all(t["TagKey"] in mine and (not t["TagValue"] or mine[t["TagKey"]] == t["TagValue"]) for t in wanted)


def render_invocation(inv: dict[str, Any], rows: list[dict[str, Any]], output: bool, plain: bool) -> dict[str, Any]:
    """One ``Invocation`` (note FinishTime here vs FinishedTime in DescribeInvocationResults)."""
    d = inv["data"]
    instances = []
    for r in rows:
        item = {"InstanceId": r["instance_id"], "InvocationStatus": r["status"],
                "InstanceInvokeStatus": COARSE[r["status"]], "Repeats": r["repeats"],
                "Timed": d["repeat_mode"] != "Once" and r["status"] in LIVE,
                "ExitCode": r["exit_code"], "Dropped": r["dropped"], "ErrorCode": r["error_code"],
                "ErrorInfo": r["error_info"], "CreationTime": iso_seconds(r["created"]),
                "StartTime": iso_seconds(r["started"]), "UpdateTime": iso_seconds(r["updated"]),
                "FinishTime": iso_seconds(r["finished"]), "StopTime": iso_seconds(r["stopped"]),
                "OssOutputStatus": "", "OssOutputUri": "", "OssOutputErrorCode": "", "OssOutputErrorInfo": ""}
        if output:
            item["Output"] = encode(r["output"], plain)
        instances.append(item)
    states = [r["status"] for r in rows]
    return {"InvokeId": inv["id"], "CommandId": d["command_id"], "CommandName": d["name"],
            "CommandType": d["type"], "CommandDescription": d["description"],
            "CommandContent": encode(base64.b64decode(d["content_b64"]), plain),
            "Parameters": json.dumps(d["parameters"], separators=(",", ":")), "Frequency": d["frequency"],
            "RepeatMode": d["repeat_mode"], "Timed": d["repeat_mode"] != "Once" and bool(LIVE.intersection(states)),
            "Timeout": d["timeout"], "Username": d["username"],
            "WorkingDir": d["working_dir"], "ContainerId": d["container_id"], "ContainerName": d["container_name"],
            "Launcher": d["launcher"], "TerminationMode": d["termination_mode"],
            "CreationTime": iso_seconds(inv["created"]), "OssOutputDelivery": d["oss_output_delivery"],
            "InvocationStatus": batch_status(states), "InvokeStatus": batch_coarse(states),
            "Tags": {"Tag": d["tags"]}, "InvokeInstances": {"InvokeInstance": instances}}


def describe_invocation_results(emu: Services, p: Params) -> dict[str, Any]:
    """DescribeInvocationResults (docs/api-contract.md#describeinvocationresults): per-instance records, pagination nested inside ``Invocation``."""
    region = emu.region(p)
    record_status = p.get("InvokeRecordStatus")
    command_id = p.get("CommandId")
    plain = plain_text(p)
    runs_found = []  # (invoke id, invocation data, run); current runs lack their output until paged
    tags = validate.tags(p)
    for inv, rows in emu.ca.invocations("command", region, p.get("InvokeId"), p.get("InstanceId"), tags,
                                        with_output=False):
        d = inv["data"]
        if command_id and d["command_id"] != command_id:
            continue
        for r in rows:
            if p.get("InstanceId") and r["instance_id"] != p.get("InstanceId"):
                continue
            if record_status and record_status not in (COARSE[r["status"]], r["status"]):
                continue
            runs = [r]
            if p.boolean("IncludeHistory") and d["repeat_mode"] != "Once":
                past = emu.results.history(inv["id"], r["instance_id"])
                done = past and (past[-1]["repeats"], past[-1]["status"]) == (r["repeats"], r["status"])
                runs = past if done else [*past, r]
            runs_found += [(inv["id"], d, run) for run in runs]
    page, counters = paginate(runs_found, p)
    # Only the runs this page returns have their output read and encoded.
    outputs = emu.results.outputs([run["seq"] for _invoke_id, _d, run in page if "output" not in run])
    records = [result_record(invoke_id, d, run if "output" in run else {**run, "output": outputs[run["seq"]]}, plain)
               for invoke_id, d, run in page]
    return {"Invocation": {"InvocationResults": {"InvocationResult": records}, **counters}}


def result_record(invoke_id: str, d: dict[str, Any], r: dict[str, Any], plain: bool) -> dict[str, Any]:
    """One ``InvocationResult`` (a current result row or a past run of a schedule)."""
    return {
        "InvokeId": invoke_id, "CommandId": d["command_id"], "InstanceId": r["instance_id"],
        "InvocationStatus": r["status"], "InvokeRecordStatus": COARSE[r["status"]],
        "ExitCode": r["exit_code"], "Output": encode(r["output"], plain), "Dropped": r["dropped"],
        "ErrorCode": r["error_code"], "ErrorInfo": r["error_info"], "Repeats": r["repeats"],
        "StartTime": iso_seconds(r["started"]), "FinishedTime": iso_seconds(r["finished"]),
        "StopTime": iso_seconds(r["stopped"]), "Username": d["username"],
        "ContainerId": d["container_id"], "ContainerName": d["container_name"], "Launcher": d["launcher"],
        "TerminationMode": d["termination_mode"], "Tags": {"Tag": d["tags"]},
        "OssOutputDelivery": d["oss_output_delivery"], "OssOutputStatus": "", "OssOutputUri": "",
        "OssOutputErrorCode": "", "OssOutputErrorInfo": ""}


def stop_invocation(emu: Services, p: Params) -> dict[str, Any]:
    """StopInvocation (docs/api-contract.md#stopinvocation)."""
    region = emu.region(p)
    invoke_id = p.require("InvokeId")
    ids = list(dict.fromkeys(p.repeat("InstanceId")))
    if len(ids) > 50:
        raise ApiError("InstanceIds.ExceedLimit", "The count of instance ids exceeds the limit.", 403)
    emu.ca.stop(region, invoke_id, ids)
    return {}
