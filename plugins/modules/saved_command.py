#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Create, update or delete a saved Cloud Assistant command, identified by its name."""

from __future__ import annotations

DOCUMENTATION = r"""
module: saved_command
short_description: Manage a saved Cloud Assistant command
version_added: 0.1.0
description:
  - Creates, updates or deletes a saved Cloud Assistant command (CreateCommand, ModifyCommand, DeleteCommand), so
    it can later be run on instances with InvokeCommand.
  - The command is identified by O(name). When two saved commands of the region carry that name the module fails
    and lists their ids.
  - O(description), O(working_dir), O(timeout) and O(launcher) are changed in place with ModifyCommand; the command
    keeps its id.
  - The content, O(command_type), O(enable_parameter) and O(tags) cannot be changed in place (ModifyCommand ignores
    content), and ModifyCommand cannot clear a field; such changes delete the command and create it again, so its
    C(command_id) changes.
  - Every limit (name, description, working directory and launcher lengths, content size once Base64-encoded,
    timeout range, parameter names, tags) is checked before any API call.
author:
  - alicloud.ecs maintainers (@alicloud-ecs)
options:
  name:
    description:
      - Name of the command, 1 to 128 characters. It identifies the command.
    type: str
    required: true
  state:
    description:
      - V(present) creates or updates the command, V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  content:
    description:
      - The script, as text (or as Base64 with O(content_encoding=Base64)).
      - Once Base64-encoded it may take at most 18 KB (18432 bytes).
      - Mutually exclusive with O(src); one of them is required with O(state=present).
    type: str
  src:
    description:
      - Path of a file on the controller holding the script.
    type: path
  content_encoding:
    description:
      - How O(content) is written. The command always travels to the API Base64-encoded.
    type: str
    choices: [PlainText, Base64]
    default: PlainText
  command_type:
    description:
      - The script's language.
    type: str
    choices: [RunShellScript, RunPowerShellScript, RunBatScript]
    default: RunShellScript
  description:
    description:
      - Description, at most 512 characters. Left as it is when not given.
    type: str
  working_dir:
    description:
      - Directory the command runs in, at most 200 characters. Left as it is when not given.
    type: str
  timeout:
    description:
      - Seconds a run may take before it is stopped, 10 to 86400. Left as it is when not given (60 on creation).
    type: int
  enable_parameter:
    description:
      - Whether the content holds C({{ name }}) parameters to fill in at each run.
      - Parameter names are letters, digits, C(_) and C(-), at most 64 characters, at most 20 of them;
        C(ACS::) names are the built-in ones.
    type: bool
    default: false
  launcher:
    description:
      - Launcher of the script, at most 1 KB, for example C(python3 -u {{ACS::ScriptFileName|Ext(".py")}}).
    type: str
  tags:
    description:
      - Tags of the command, at most 20. Left as they are when not given.
    type: dict
extends_documentation_fragment:
  - alicloud.ecs.api
  - alicloud.ecs.api.modules
attributes:
  check_mode:
    support: full
    description: Reports what would be created, modified, replaced or deleted, and calls only DescribeCommands.
  diff_mode:
    support: full
    description: Shows the changed attributes and the content before and after.
notes:
  - Run it on the controller (C(delegate_to localhost)); O(src) is read there.
"""

EXAMPLES = r"""
- name: Save a command that reports the disk usage of a directory
  alicloud.ecs.saved_command:
    name: disk-usage
    content: du -sh {{ '{{' }} path {{ '}}' }}
    enable_parameter: true
    timeout: 120
    description: Disk usage of one directory
  delegate_to: localhost
  register: saved

- name: Save a command from a script on the controller
  alicloud.ecs.saved_command:
    name: rotate-logs
    src: files/rotate-logs.sh
    tags:
      team: ops
  delegate_to: localhost

- name: Remove it
  alicloud.ecs.saved_command:
    name: rotate-logs
    state: absent
  delegate_to: localhost
"""

RETURN = r"""
command:
  description: The command as it now is (with O(state=present)); in check mode, as it would be.
  returned: when O(state=present), or when O(state=absent) and the command existed
  type: dict
  contains:
    command_id:
      description: Command id; empty in check mode for a command not created yet.
      type: str
      sample: c-hz01abcdefghijklmnop
    name:
      description: Name.
      type: str
    command_type:
      description: Type of the script.
      type: str
      sample: RunShellScript
    content:
      description: The script, decoded to text.
      type: str
    content_sha256:
      description: SHA-256 of the script's bytes.
      type: str
    description:
      description: Description.
      type: str
    working_dir:
      description: Working directory.
      type: str
    timeout:
      description: Timeout in seconds.
      type: int
    enable_parameter:
      description: Whether the command takes parameters.
      type: bool
    parameter_names:
      description: The parameter names found in the content.
      type: list
      elements: str
    launcher:
      description: Launcher.
      type: str
    tags:
      description: Tags.
      type: dict
    creation_time:
      description: When the command was created (UTC).
      type: str
    invoke_times:
      description: How many times it was run.
      type: int
operation:
  description: What was (or in check mode would be) done.
  returned: always
  type: str
  sample: modify
  choices: [none, create, modify, replace, delete]
replaced_fields:
  description: The differing fields that made the module delete and create the command again.
  returned: when RV(operation=replace)
  type: list
  elements: str
  sample: [content]
"""

import hashlib

from ansible_collections.alicloud.ecs.plugins.module_utils.services.cloud_module import CloudModule
from ansible_collections.alicloud.ecs.plugins.module_utils.services import saved_commands as commands
from ansible_collections.alicloud.ecs.plugins.module_utils.services.resource_state import STATE_OPTION, api_tags

ARGUMENT_SPEC = {
    "name": {"type": "str", "required": True},
    "state": STATE_OPTION,
    "content": {"type": "str"},
    "src": {"type": "path"},
    "content_encoding": {"type": "str", "choices": ["PlainText", "Base64"], "default": "PlainText"},
    "command_type": {"type": "str", "choices": list(commands.COMMAND_TYPES), "default": "RunShellScript"},
    "description": {"type": "str"},
    "working_dir": {"type": "str"},
    "timeout": {"type": "int"},
    "enable_parameter": {"type": "bool", "default": False},
    "launcher": {"type": "str"},
    "tags": {"type": "dict"},
}


def wanted_spec(module: CloudModule) -> dict:
    """The command the task describes, with its content as bytes, checked against every limit."""
    params = module.params
    spec = {key: params[key] for key in ("name", "command_type", "description", "working_dir", "timeout",
                                         "enable_parameter", "launcher")}
    spec["tags"] = api_tags(params["tags"])
    if params["src"]:
        try:
            with open(params["src"], "rb") as handle:
                spec["content"] = handle.read()
        except OSError as error:
            raise ValueError(f"src: cannot read {params['src']}: {error.strerror}") from None
    elif params["content"] is not None:
        spec["content"] = commands.decode_content(params["content"], params["content_encoding"])
    commands.check_spec(spec)
    return spec


def preview(spec: dict, current: dict | None) -> dict:
    """The command as it will look after the change (for check mode and for diffs)."""
    after = dict(current or {"command_id": "", "creation_time": "", "invoke_times": 0, "description": "",
                             "working_dir": "", "timeout": 60, "launcher": "", "tags": {}})
    after.update({key: value for key, value in spec.items() if value is not None and key != "content"})
    after["content"] = spec["content"].decode("utf-8", "replace")
    after["content_sha256"] = hashlib.sha256(spec["content"]).hexdigest()
    after["parameter_names"] = commands.parameter_names(spec["content"]) if spec["enable_parameter"] else []
    return after


def make_diff(name: str, before: dict | None, after: dict | None) -> list:
    """One diff of the attributes and one of the content, so a script change reads as a text diff."""
    def attributes(item):
        return {key: value for key, value in (item or {}).items()
                if key not in ("content", "content_sha256", "creation_time", "invoke_times", "command_id")}
    return [
        {"before": attributes(before), "after": attributes(after),
         "before_header": f"{name} (attributes)", "after_header": f"{name} (attributes)"},
        {"before": (before or {}).get("content", ""), "after": (after or {}).get("content", ""),
         "before_header": f"{name} (content)", "after_header": f"{name} (content)"},
    ]


def apply(module: CloudModule, spec: dict, current: dict | None) -> dict:
    """Work out and (outside check mode) carry out the change; returns the module's result."""
    client = module.client
    if spec is None:
        if current and not module.check_mode:
            commands.delete_command(client, current["command_id"])
        result = {"changed": bool(current), "operation": "delete" if current else "none",
                  "diff": make_diff(module.params["name"], current, None)}
        return {**result, "command": current} if current else result
    after = preview(spec, current)
    if current is None:
        operation, replaced, modify = "create", [], {}
    else:
        modify, replaced = commands.plan_changes(current, spec)
        operation = "replace" if replaced else "modify" if modify else "none"
    result = {"changed": operation != "none", "operation": operation, "command": after,
              "diff": make_diff(spec["name"], current, after)}
    if replaced:
        result["replaced_fields"] = replaced
    if module.check_mode or operation == "none":
        return result
    if operation == "modify":
        commands.modify_command(client, current["command_id"], modify)
        command_id = current["command_id"]
    else:
        # Fields the task leaves unset keep their current values in the new command.
        kept = {key: current[key] for key in (*commands.MODIFIABLE, "tags")} if current else {}
        # Create first: a failed create then leaves the old command untouched rather than none at all.
        command_id = commands.create_command(client, {**kept, **{k: v for k, v in spec.items() if v is not None}})
        if current:
            commands.delete_command(client, current["command_id"])
    result["command"] = commands.get_command(client, command_id) or after
    return result


def main() -> None:
    module = CloudModule(
        argument_spec=ARGUMENT_SPEC, supports_check_mode=True, mutually_exclusive=[("content", "src")],
        required_if=[("state", "present", ("content", "src"), True)])
    try:
        spec = wanted_spec(module) if module.params["state"] == "present" else None
    except ValueError as error:
        module.fail_json(msg=str(error))
    with module.failures():
        try:
            current = commands.find_by_name(module.client, module.params["name"])
        except LookupError as error:
            module.fail_json(msg=str(error))
        result = apply(module, spec, current)
    if not module._diff or not result["changed"]:
        result.pop("diff")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
