# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks of a run's input against the documented limits (docs/api-contract.md#runcommand, #invokecommand, #command-parameters, #idempotency).

They run before any API call, so a typo costs nothing and the message names the option and the
limit instead of the service's error code. Each check raises ValueError with the text to show.
"""

from __future__ import annotations

import base64
import json
import re
import typing as t

MAX_INSTANCES = 100
MAX_RESOURCE_TAGS_RUN = 20      # RunCommand ResourceTag.N
MAX_RESOURCE_TAGS_INVOKE = 10   # InvokeCommand ResourceTag.N ("≤10 per doc")
MAX_TASK_TAGS = 20
MAX_PARAMETERS = 10
MAX_PLACEHOLDERS = 20
MAX_PARAMETER_NAME = 64
RUN_CONTENT_LIMIT = 24576       # Base64 bytes of content + parameters, RunCommand with KeepCommand=false
MIN_TIMEOUT = 10
MAX_TIMEOUT = 86400             # ⚠ docs/api-contract.md#runcommand: the maximum is not documented; 86400 is the commonly cited one
PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.S)
PARAMETER_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
# Resolved by the agent on the instance, no value sent: built-ins and OOS parameter-store references.
AGENT_RESOLVED = re.compile(r"^(?:ACS\s*::|(?:oos-secret|oos)\s*:)")
CONTAINER_ID = re.compile(r"^(?:docker://|containerd://|cri-o://)?[0-9a-f]{64}$")
STRING_LIMITS = {"name": 128, "username": 255, "working_dir": 200, "container_name": 255}


def placeholders(content: str) -> tuple[list[str], bool]:
    """Custom ``{{ name }}`` placeholders of ``content`` in order, and whether ones the agent resolves occur
    (built-in ``ACS::`` ones, ``oos:`` / ``oos-secret:`` parameter-store references).

    Names are checked as CreateCommand checks them, so a bad placeholder fails here, not on the service.
    """
    names: list[str] = []
    builtin = False
    for match in PLACEHOLDER.finditer(content):
        name = match.group(1).strip()
        if AGENT_RESOLVED.match(name):
            builtin = True
            continue
        if not PARAMETER_NAME.match(name) or len(name) > MAX_PARAMETER_NAME:
            raise ValueError(f"content: placeholder {{{{{name}}}}} is not a valid parameter name "
                             f"(letters, digits, _ and -, at most {MAX_PARAMETER_NAME} characters)")
        if name not in names:
            names.append(name)
    if len(names) > MAX_PLACEHOLDERS:
        raise ValueError(f"content: {len(names)} parameter placeholders, at most {MAX_PLACEHOLDERS} are allowed")
    return names, builtin


def check_parameters(parameters: t.Mapping[str, t.Any] | None, names: t.Sequence[str]) -> dict[str, str]:
    """``parameters`` as the API wants them: string values, one per placeholder, nothing extra."""
    values = dict(parameters or {})
    if len(values) > MAX_PARAMETERS:
        raise ValueError(f"parameters: {len(values)} given, at most {MAX_PARAMETERS} are allowed")
    for key, value in values.items():
        if not key or len(key) > MAX_PARAMETER_NAME:
            raise ValueError(f"parameters: key {key!r} must be 1 to {MAX_PARAMETER_NAME} characters")
        if not isinstance(value, str):
            raise ValueError(f"parameters: the value of {key!r} must be a string (quote it in YAML)")
        if key not in names:
            known = ", ".join(names) or "none"
            raise ValueError(f"parameters: {key!r} is not a placeholder of the command (its placeholders: {known})")
    missing = [name for name in names if name not in values]
    if missing:
        raise ValueError(f"parameters: no value for placeholder(s) {', '.join(missing)} "
                         "(use an empty string for a parameter that is not passed)")
    return values


def run_content_size(content_b64: str, values: t.Mapping[str, str]) -> int:
    """The size RunCommand's limit is measured on: Base64 of the content plus Base64 of the parameters."""
    extra = len(base64.b64encode(json.dumps(values).encode("utf-8"))) if values else 0
    return len(content_b64) + extra


def check_instance_ids(instance_ids: t.Sequence[str]) -> list[str]:
    ids = list(dict.fromkeys(instance_ids or []))
    if len(ids) > MAX_INSTANCES:
        raise ValueError(f"instance_ids: {len(ids)} instances, at most {MAX_INSTANCES} per invocation")
    if any(not item for item in ids):
        raise ValueError("instance_ids: empty instance id")
    return ids


def check_resource_tags(tags: t.Mapping[str, t.Any] | None, limit: int, option: str = "instance_tags") -> dict[str, str]:
    """Tag keys and values as ResourceTag.N accepts them (the service's Malformed errors, said up front)."""
    checked: dict[str, str] = {}
    if tags and len(tags) > limit:
        raise ValueError(f"{option}: {len(tags)} tags, at most {limit} are allowed here")
    for key, value in (tags or {}).items():
        text = "" if value is None else str(value)
        if not key or len(key) > 64:
            raise ValueError(f"{option}: tag key {key!r} must be 1 to 64 characters")
        if key.startswith(("acs:", "aliyun")) or "http://" in key or "https://" in key:
            raise ValueError(f"{option}: tag key {key!r} may not start with acs: or aliyun nor contain http(s)://")
        if len(text) > 128 or "http://" in text or "https://" in text:
            raise ValueError(f"{option}: the value of tag {key!r} must be at most 128 characters, without http(s)://")
        checked[key] = text
    return checked


def check_run_options(params: t.Mapping[str, t.Any]) -> None:
    """Lengths, timeout range, container id and token shape of the options both run actions share."""
    for option, limit in STRING_LIMITS.items():
        value = params.get(option)
        if value is not None and len(value) > limit:
            raise ValueError(f"{option}: {len(value)} characters, at most {limit} are allowed")
    timeout = params.get("timeout")
    if timeout is not None and not MIN_TIMEOUT <= timeout <= MAX_TIMEOUT:
        raise ValueError(f"timeout: {timeout} s is outside {MIN_TIMEOUT}..{MAX_TIMEOUT} s")
    container_id = params.get("container_id")
    if container_id is not None and not CONTAINER_ID.match(container_id):
        raise ValueError("container_id: 64 hexadecimal characters, optionally prefixed with docker://, "
                         "containerd:// or cri-o://")
    token = params.get("client_token")
    if token is not None and (not token or len(token) > 64 or not token.isascii()):
        raise ValueError("client_token: 1 to 64 ASCII characters")
    wait_timeout = params.get("wait_timeout")
    if wait_timeout is not None and wait_timeout <= 0:
        raise ValueError("wait_timeout: must be a positive number of seconds")


COMMAND_TYPES = ("RunShellScript", "RunBatScript", "RunPowerShellScript")


def run_argument_spec() -> dict[str, dict[str, t.Any]]:
    """The options a run of a command takes in the invocation and scheduled_job modules: what to run (content or
    a saved command), where (ids and/or tags) and how (user, directory, timeout, parameters). A fresh dict each
    call, since ansible may change an argument spec it is given."""
    return {
        "content": {"type": "str"},
        "command_id": {"type": "str"},
        "command_name": {"type": "str"},
        "command_type": {"type": "str", "default": "RunShellScript", "choices": list(COMMAND_TYPES)},
        "instance_ids": {"type": "list", "elements": "str"},
        "instance_tags": {"type": "dict"},
        "parameters": {"type": "dict"},
        "username": {"type": "str"},
        "working_dir": {"type": "str"},
        "timeout": {"type": "int"},
    }


# One of content / command_id / command_name, and at least one target, when something is to run.
RUN_MUTUALLY_EXCLUSIVE = [("content", "command_id", "command_name")]
RUN_REQUIRED_IF = [("state", "present", ("content", "command_id", "command_name"), True),
                   ("state", "present", ("instance_ids", "instance_tags"), True)]
