#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""List saved Cloud Assistant commands with their content decoded."""

from __future__ import annotations

DOCUMENTATION = r"""
module: saved_command_info
short_description: List saved Cloud Assistant commands
version_added: 0.1.0
description:
  - Lists the saved Cloud Assistant commands of a region (DescribeCommands), every page of them, with the
    content decoded to text.
  - The filters combine; without any, every command of the region is listed.
author:
  - alicloud.ecs maintainers (@alicloud-ecs)
options:
  name:
    description:
      - Only the command with this exact name; end it with C(*) to match names starting with the rest.
    type: str
  command_ids:
    description:
      - Only these commands (one DescribeCommands call per id). Unknown ids are simply not listed.
    type: list
    elements: str
  command_type:
    description:
      - Only commands of this type.
    type: str
    choices: [RunShellScript, RunPowerShellScript, RunBatScript]
  tags:
    description:
      - Only commands carrying all these tags (at most 20).
    type: dict
extends_documentation_fragment:
  - alicloud.ecs.api
  - alicloud.ecs.api.modules
  - alicloud.ecs.read_only
"""

EXAMPLES = r"""
- name: The ops team's commands
  alicloud.ecs.saved_command_info:
    tags:
      team: ops
  delegate_to: localhost
  register: ops

- name: Every command whose name starts with deploy-
  alicloud.ecs.saved_command_info:
    name: deploy-*
  delegate_to: localhost
  register: deploy
"""

RETURN = r"""
commands:
  description: The matching commands, newest first.
  returned: always
  type: list
  elements: dict
  contains:
    command_id:
      description: Command id.
      type: str
      sample: c-hz01abcdefghijklmnop
    name:
      description: Name.
      type: str
    command_type:
      description: Type of the script.
      type: str
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
"""

from ansible_collections.alicloud.ecs.plugins.module_utils.services.cloud_module import CloudModule
from ansible_collections.alicloud.ecs.plugins.module_utils.services import saved_commands as commands
from ansible_collections.alicloud.ecs.plugins.module_utils.services.resource_state import api_tags


def main() -> None:
    module = CloudModule(
        argument_spec={
            "name": {"type": "str"},
            "command_ids": {"type": "list", "elements": "str"},
            "command_type": {"type": "str", "choices": list(commands.COMMAND_TYPES)},
            "tags": {"type": "dict"},
        },
        supports_check_mode=True,
    )
    params = module.params
    tags = api_tags(params["tags"]) or {}
    try:
        commands.check_tags(tags)
    except ValueError as error:
        module.fail_json(msg=str(error))
    filters = {"name": params["name"], "command_type": params["command_type"], "tags": tags}
    with module.failures():
        if params["command_ids"] is None:
            found = commands.describe_commands(module.client, **filters)
        else:
            found = [item for command_id in dict.fromkeys(params["command_ids"])
                     for item in commands.describe_commands(module.client, command_id=command_id, **filters)]
    module.exit_json(changed=False, commands=found)


if __name__ == "__main__":
    main()
