"""Saved commands (docs/api-contract.md#invokecommand, #saved-commands): CreateCommand, ModifyCommand, DeleteCommand, DescribeCommands and
InvokeCommand, plus RunCommand's KeepCommand. Commands live in their own table; invocations copy what they run."""
from __future__ import annotations

import base64
import json
import re
import time
from typing import TYPE_CHECKING, Any

from ..clock import iso_seconds
from ..errors import ApiError
from ..pagination import paginate
from ..protocol import Params
from . import validate
from .models import new_id

if TYPE_CHECKING:
    from ..handler_context import Services

KEEP_LIMIT = 18432  # Base64 bytes of a kept command (content + parameters for InvokeCommand)
PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.S)
NAME = re.compile(r"^[A-Za-z0-9_-]+$")
# The agent resolves these itself: built-ins (spaces around "::" allowed) and parameter-store references
# (agent/util/paramstore/resolveparamstore.go).
BUILT_IN = re.compile(r"ACS\s*::|(oos-secret|oos)\s*:")


def not_found() -> ApiError:
    """Unknown or deleted CommandId."""
    return ApiError("InvalidCmdId.NotFound", "The specified commandId does not exist.", 404)


def parameter_names(content: bytes) -> list[str]:
    """``{{ name }}`` placeholders in order of appearance (built-in ``ACS::`` ones excluded), checked like
    CreateCommand: empty → CmdParam.EmptyKey, bad characters → CmdParam.InvalidParamName, >64 chars →
    CmdParamName.ExceedLimit, >20 names → CmdParamCount.ExceedLimit."""
    names: list[str] = []
    for match in PLACEHOLDER.finditer(content.decode("utf-8", "replace")):
        name = match.group(1).strip()
        if BUILT_IN.match(name):
            continue
        if not name:
            raise ApiError("CmdParam.EmptyKey", "The command parameter key can not be empty.")
        if not NAME.match(name):
            raise ApiError("CmdParam.InvalidParamName", f"The command parameter name {name} is invalid.")
        if len(name) > 64:
            raise ApiError("CmdParamName.ExceedLimit", "The length of the parameter name exceeds the limit.", 403)
        if name not in names:
            names.append(name)
    check_count(names)
    return names


def check_count(names: list[str]) -> None:
    """At most 20 distinct user placeholders (CmdParamCount.ExceedLimit)."""
    if len(names) > 20:
        raise ApiError("CmdParamCount.ExceedLimit", "The count of command parameters exceeds the limit.", 403)


def check_parameter_count(content: bytes) -> None:
    """Only the count rule of ``parameter_names``: RunCommand without KeepCommand checks no more (⚠ the names'
    own rules are known for CreateCommand only)."""
    names = {match.group(1).strip() for match in PLACEHOLDER.finditer(content.decode("utf-8", "replace"))}
    check_count([name for name in names if name and not BUILT_IN.match(name)])


def save(emu: Services, region: str, command_id: str, fields: dict[str, Any]) -> None:
    """Persist a command (CreateCommand, RunCommand KeepCommand=true)."""
    content = base64.b64decode(fields["content_b64"])
    data = {**fields, "invoke_times": 0,
            "parameter_names": parameter_names(content) if fields["enable_parameter"] else []}
    emu.store.execute("INSERT INTO commands(id, region, data, created) VALUES (?,?,?,?)",
                      (command_id, region, json.dumps(data), time.time()))


def load(emu: Services, region: str, command_id: str) -> dict[str, Any]:
    """A command of this region, or InvalidCmdId.NotFound."""
    row = emu.store.one("SELECT * FROM commands WHERE id=? AND region=?", (command_id, region))
    if row is None:
        raise not_found()
    return json.loads(row["data"]) | {"id": row["id"], "created": row["created"]}


def count_invocation(emu: Services, command_id: str) -> None:
    """InvokeTimes + 1 (RunCommand with KeepCommand, InvokeCommand)."""
    emu.store.execute("UPDATE commands SET data=json_set(data, '$.invoke_times', json_extract(data, "
                      "'$.invoke_times') + 1) WHERE id=?", (command_id,))


def create_command(emu: Services, p: Params) -> dict[str, Any]:
    """CreateCommand: content Base64 unless ContentEncoding=PlainText; ≤ 18 KB as Base64."""
    region = emu.region(p)
    name = p.require("Name")
    if len(name) > 128:
        raise ApiError("CmdName.ExceedLimit", "The length of the command name exceeds the limit.", 403)
    ctype = p.require("Type")
    if ctype not in ("RunShellScript", "RunBatScript", "RunPowerShellScript"):
        raise ApiError("InvalidCmdType.NotFound", "The specified command type does not exist.", 404)
    plain = (p.get("ContentEncoding") or "Base64").lower() == "plaintext"  # invalid value → Base64
    content, b64 = validate.decode_content(p.require("CommandContent"), not plain, "CmdContent.DecodeError",
                                           "The CommandContent can not be base64 decoded.")
    if len(b64) > KEEP_LIMIT:
        raise ApiError("CmdContent.ExceedLimit", "The length of the command content exceeds the upper limit.", 403)
    fields = {"name": name, "type": ctype, "content_b64": b64, "enable_parameter": p.boolean("EnableParameter"),
              "timeout": validate.timeout(p, emu.options, emu.options.min_timeout), **editable(p),
              "tags": validate.tags(p)}
    command_id = new_id("c")
    save(emu, region, command_id, fields)
    return {"CommandId": command_id}


def editable(p: Params) -> dict[str, str]:
    """Description, WorkingDir, Launcher with their limits (shared by Create and Modify)."""
    return {"description": validate.max_len(p, "Description", 512, "CmdDesc.ExceedLimit",
                                            "The length of the description exceeds the limit."),
            "working_dir": validate.max_len(p, "WorkingDir", 200, "InvalidParameter.WorkingDir",
                                            'The specified parameter "WorkingDir" is not valid.', 400),
            "launcher": validate.max_len(p, "Launcher", 1024, "InvalidLauncher.LengthLimitExceeded",
                                         "The length of launcher exceeds the limit.")}


def modify_command(emu: Services, p: Params) -> dict[str, Any]:
    """ModifyCommand: name, description, working dir, timeout, launcher; CommandContent no longer applies."""
    region = emu.region(p)
    command = load(emu, region, p.require("CommandId"))
    name = p.get("Name")
    if name is not None and len(name) > 128:
        raise ApiError("CmdName.ExceedLimit", "The length of the command name exceeds the limit.", 403)
    changes = {k: v for k, v in editable(p).items() if v} | ({"name": name} if name else {})
    if p.get("Timeout") is not None:
        changes["timeout"] = validate.timeout(p, emu.options, emu.options.min_timeout)
    data = {k: v for k, v in (command | changes).items() if k not in ("id", "created")}
    emu.store.execute("UPDATE commands SET data=? WHERE id=?", (json.dumps(data), command["id"]))
    return {}


def delete_command(emu: Services, p: Params) -> dict[str, Any]:
    """DeleteCommand: existing invocations keep running (⚠ docs/api-contract.md#saved-commands)."""
    region = emu.region(p)
    if not emu.store.execute("DELETE FROM commands WHERE id=? AND region=?", (p.require("CommandId"), region)):
        raise not_found()
    return {}


def describe_commands(emu: Services, p: Params) -> dict[str, Any]:
    """DescribeCommands: top-level pagination (PageSize ≤ 50); unknown CommandId → empty list; no public
    commands are emulated, so any Provider → empty list."""
    region = emu.region(p)
    plain = (p.get("ContentEncoding") or "").lower() == "plaintext"
    rows = [] if p.get("Provider") else emu.store.query(
        "SELECT * FROM commands WHERE region=? ORDER BY seq DESC", (region,))
    tags = [t for t in p.structs("Tag") if t.get("Key")]
    items = []
    for row in rows:
        c = json.loads(row["data"])
        if p.get("CommandId") and row["id"] != p.get("CommandId"):
            continue
        if p.get("Type") and c["type"] != p.get("Type"):
            continue
        if not (fuzzy(c["name"], p.get("Name")) and fuzzy(c["description"], p.get("Description"))):
            continue
        own = {t["TagKey"]: t["TagValue"] for t in c["tags"]}
        if any(t["Key"] not in own or ("Value" in t and own[t["Key"]] != t["Value"]) for t in tags):
            continue
        content = base64.b64decode(c["content_b64"])
        items.append({
            "CommandId": row["id"], "Name": c["name"], "Type": c["type"], "Description": c["description"],
            "CommandContent": content.decode("utf-8", "replace") if plain else c["content_b64"],
            "WorkingDir": c["working_dir"], "Timeout": c["timeout"], "CreationTime": iso_seconds(row["created"]),
            "InvokeTimes": c["invoke_times"], "EnableParameter": c["enable_parameter"],
            "ParameterNames": {"ParameterName": c["parameter_names"]},
            "ParameterDefinitions": {"ParameterDefinition": [
                {"ParameterName": n, "Description": "", "DefaultValue": "", "Required": True, "PatternRegex": "",
                 "PossibleValues": {"PossibleValue": []}} for n in c["parameter_names"]]},
            "Launcher": c["launcher"], "ResourceGroupId": "", "Tags": {"Tag": c["tags"]}, "Provider": "",
            "Category": "", "Version": 1, "Latest": True})
    page, counters = paginate(items, p, max_size=50)
    return {"Commands": {"Command": page}, **counters}


def fuzzy(value: str, pattern: str | None) -> bool:
    """Name/Description filter: exact, or a prefix when it ends with ``*``."""
    if pattern is None:
        return True
    return value.startswith(pattern[:-1]) if pattern.endswith("*") else value == pattern
