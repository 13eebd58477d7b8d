# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Saved Cloud Assistant commands (CreateCommand, ModifyCommand, DeleteCommand, DescribeCommands).

The limits below are checked on the controller so a bad command fails before any API call, with a
message naming the option and the limit, instead of an API code after half a change.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import typing as t

from ..api.client import CloudClient
from ..engine.invocations_api import new_client_token
from ..api.pagination import paginate

COMMAND_TYPES = ("RunShellScript", "RunPowerShellScript", "RunBatScript")
NAME_MAX = 128
DESCRIPTION_MAX = 512
WORKING_DIR_MAX = 200
LAUNCHER_MAX = 1024
CONTENT_B64_MAX = 18432          # CreateCommand: 18 KB once Base64-encoded (docs/api-contract.md#saved-commands)
TIMEOUT_MIN = 10
TIMEOUT_MAX = 86400              # ⚠ docs/api-contract.md#open-points: the maximum is not documented; 86400 is the commonly cited value
PARAMETER_NAME_MAX = 64
PARAMETER_COUNT_MAX = 20
TAG_COUNT_MAX = 20
TAG_KEY_MAX = 64
TAG_VALUE_MAX = 128
PAGE_SIZE = 50
PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.S)
PARAMETER_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
BUILTIN_PARAMETERS = frozenset({
    "ACS::RegionId", "ACS::AccountId", "ACS::InstanceId", "ACS::InstanceName", "ACS::InvokeId", "ACS::CommandId",
})
# What ModifyCommand changes in place; anything else (content, type, parameters, tags) means a new command.
MODIFIABLE = ("description", "working_dir", "timeout", "launcher")
REPLACING = ("content", "command_type", "enable_parameter", "tags")
API_NAMES = {"name": "Name", "description": "Description", "working_dir": "WorkingDir", "timeout": "Timeout",
             "launcher": "Launcher"}


def decode_content(content: str, encoding: str) -> bytes:
    """The command's bytes from the user's text: as is (UTF-8) or decoded from Base64."""
    if encoding == "PlainText":
        return content.encode("utf-8")
    try:
        return base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("content is not valid Base64 (content_encoding=Base64)") from None


def parameter_names(content: bytes) -> list[str]:
    """The ``{{ name }}`` placeholders of a parameterised command, in order, checked as the service does
    (docs/api-contract.md#command-parameters): names of ``[A-Za-z0-9_-]`` up to 64 characters, at most 20, built-ins excluded."""
    names: list[str] = []
    for match in PLACEHOLDER.finditer(content.decode("utf-8", "replace")):
        name = match.group(1).strip()
        if name in BUILTIN_PARAMETERS:
            continue
        if not name:
            raise ValueError("content has an empty parameter placeholder {{ }}")
        if name.startswith("ACS::"):
            raise ValueError(f"content uses {{{{{name}}}}}: the ACS:: prefix is reserved for built-in parameters "
                             f"({', '.join(sorted(BUILTIN_PARAMETERS))})")
        if not PARAMETER_NAME.match(name):
            raise ValueError(f"content has an invalid parameter name {name!r}: use letters, digits, _ and -")
        if len(name) > PARAMETER_NAME_MAX:
            raise ValueError(f"content has a parameter name longer than {PARAMETER_NAME_MAX} characters: {name!r}")
        if name not in names:
            names.append(name)
    if len(names) > PARAMETER_COUNT_MAX:
        raise ValueError(f"content has {len(names)} parameters; at most {PARAMETER_COUNT_MAX} are allowed")
    return names


def check_tags(tags: t.Mapping[str, str], option: str = "tags") -> None:
    """Tag limits shared by commands and files (docs/api-contract.md#runcommand, #saved-commands)."""
    if len(tags) > TAG_COUNT_MAX:
        raise ValueError(f"{option} has {len(tags)} tags; at most {TAG_COUNT_MAX} are allowed")
    for key, value in tags.items():
        if not key or len(key) > TAG_KEY_MAX:
            raise ValueError(f"{option}: tag key {key!r} must be 1 to {TAG_KEY_MAX} characters")
        if key.startswith(("acs:", "aliyun")) or "http://" in key or "https://" in key:
            raise ValueError(f"{option}: tag key {key!r} may not start with acs: or aliyun nor contain http(s)://")
        if len(str(value)) > TAG_VALUE_MAX:
            raise ValueError(f"{option}: the value of tag {key!r} is longer than {TAG_VALUE_MAX} characters")


def check_spec(spec: dict[str, t.Any]) -> None:
    """Raise ValueError for the first limit ``spec`` breaks (name, sizes, timeout, parameters, tags)."""
    name = spec["name"]
    if not name or len(name) > NAME_MAX:
        raise ValueError(f"name must be 1 to {NAME_MAX} characters, got {len(name)}")
    for option, limit in (("description", DESCRIPTION_MAX), ("working_dir", WORKING_DIR_MAX)):
        if len(spec.get(option) or "") > limit:
            raise ValueError(f"{option} is longer than {limit} characters")
    if len((spec.get("launcher") or "").encode("utf-8")) > LAUNCHER_MAX:
        raise ValueError(f"launcher is longer than {LAUNCHER_MAX} bytes")
    timeout = spec.get("timeout")
    if timeout is not None and not TIMEOUT_MIN <= timeout <= TIMEOUT_MAX:
        raise ValueError(f"timeout must be between {TIMEOUT_MIN} and {TIMEOUT_MAX} seconds, got {timeout}")
    content = spec.get("content")
    if content is not None:
        if not content:
            raise ValueError("content is empty")
        encoded = len(base64.b64encode(content))
        if encoded > CONTENT_B64_MAX:
            raise ValueError(f"content is {encoded} bytes once Base64-encoded; a saved command allows at most "
                             f"{CONTENT_B64_MAX} ({len(content)} bytes of script)")
        if spec.get("enable_parameter"):
            parameter_names(content)
    check_tags(spec.get("tags") or {})


def command_facts(item: dict[str, t.Any]) -> dict[str, t.Any]:
    """A DescribeCommands entry in snake_case, with the content decoded to text."""
    raw = base64.b64decode(item.get("CommandContent") or "")
    return {
        "command_id": item.get("CommandId", ""),
        "name": item.get("Name", ""),
        "command_type": item.get("Type", ""),
        "content": raw.decode("utf-8", "replace"),
        "content_sha256": hashlib.sha256(raw).hexdigest(),
        "description": item.get("Description", ""),
        "working_dir": item.get("WorkingDir", ""),
        "timeout": item.get("Timeout"),
        "enable_parameter": bool(item.get("EnableParameter")),
        "parameter_names": list((item.get("ParameterNames") or {}).get("ParameterName") or []),
        "launcher": item.get("Launcher", ""),
        "tags": {tag.get("TagKey", ""): tag.get("TagValue", "") for tag in (item.get("Tags") or {}).get("Tag") or []},
        "creation_time": item.get("CreationTime", ""),
        "invoke_times": item.get("InvokeTimes", 0),
    }


def describe_commands(client: CloudClient, *, name: str | None = None, command_id: str | None = None,
                      command_type: str | None = None, tags: t.Mapping[str, str] | None = None) -> list[dict[str, t.Any]]:
    """Every saved command matching the filters, content decoded, across all pages.

    ContentEncoding is left at the API's default (Base64) so any bytes come back intact.
    """
    return [command_facts(item) for item in paginate(
        client, "DescribeCommands", lambda response: (response.get("Commands") or {}).get("Command") or [],
        PAGE_SIZE, Name=name, CommandId=command_id, Type=command_type,
        Tag=[{"Key": key, "Value": value} for key, value in (tags or {}).items()] or None)]


def find_by_name(client: CloudClient, name: str) -> dict[str, t.Any] | None:
    """The one command called ``name``, or None; two of them is an error (the name is the identity)."""
    # The service's Name filter may match by prefix (docs/api-contract.md#saved-commands), so the match is made exact here.
    found = [item for item in describe_commands(client, name=name) if item["name"] == name]
    if len(found) > 1:
        ids = ", ".join(item["command_id"] for item in found)
        raise LookupError(f"{len(found)} saved commands are named {name!r} ({ids}); this module identifies a command "
                          "by its name, so delete the extra ones (by command id) first")
    return found[0] if found else None


def plan_changes(current: dict[str, t.Any], wanted: dict[str, t.Any]) -> tuple[dict[str, t.Any], list[str]]:
    """What ModifyCommand can set in place, and which differing fields need delete + create."""
    differing = [key for key in MODIFIABLE if wanted.get(key) is not None and wanted[key] != current.get(key)]
    # ModifyCommand cannot clear a field (an empty value means "leave it"), so clearing one replaces the command.
    modify = {key: wanted[key] for key in differing if wanted[key] != ""}
    replace = [key for key in differing if wanted[key] == ""]
    if hashlib.sha256(wanted["content"]).hexdigest() != current["content_sha256"]:
        replace.append("content")
    replace += [key for key in REPLACING[1:] if wanted.get(key) is not None and wanted[key] != current.get(key)]
    return modify, replace


def create_command(client: CloudClient, spec: dict[str, t.Any]) -> str:
    """CreateCommand with Base64 content (any bytes survive); returns the new CommandId."""
    response = client.call(
        "CreateCommand", Name=spec["name"], Type=spec["command_type"],
        CommandContent=base64.b64encode(spec["content"]).decode("ascii"), ContentEncoding="Base64",
        Description=spec.get("description") or None, WorkingDir=spec.get("working_dir") or None,
        Timeout=spec.get("timeout"), EnableParameter=spec["enable_parameter"],
        Launcher=spec.get("launcher") or None,
        Tag=[{"Key": key, "Value": value} for key, value in (spec.get("tags") or {}).items()] or None,
        ClientToken=new_client_token())
    return response["CommandId"]


def modify_command(client: CloudClient, command_id: str, changes: t.Mapping[str, t.Any]) -> None:
    client.call("ModifyCommand", CommandId=command_id, **{API_NAMES[key]: value for key, value in changes.items()})


def delete_command(client: CloudClient, command_id: str) -> None:
    client.call("DeleteCommand", CommandId=command_id)


def get_command(client: CloudClient, command_id: str) -> dict[str, t.Any] | None:
    found = describe_commands(client, command_id=command_id)
    return found[0] if found else None
