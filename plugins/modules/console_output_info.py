#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read the serial console output of ECS instances, decoded, to diagnose boots the agent cannot see."""

from __future__ import annotations

DOCUMENTATION = r"""
module: console_output_info
short_description: Serial console output of ECS instances, decoded
version_added: 0.1.0
description:
  - Reads GetInstanceConsoleOutput for each instance and decodes the Base64 text the API returns.
  - The console shows the last boots even when the Cloud Assistant agent is offline or the instance is stopped,
    which makes it the place to look when an instance does not come back.
  - An instance the API refuses (for example one that never booted) fails the task; the message names it.
author:
  - alicloud.ecs maintainers (@alicloud-ecs)
options:
  instance_ids:
    description:
      - Instances whose console to read, one API call each. At least one.
    type: list
    elements: str
    required: true
  remove_symbols:
    description:
      - Ask the API to remove escape and control symbols from the output (its C(RemoveSymbols) parameter).
    type: bool
    default: false
extends_documentation_fragment:
  - alicloud.ecs.api
  - alicloud.ecs.api.modules
  - alicloud.ecs.read_only
"""

EXAMPLES = r"""
- name: Console of an instance that did not come back after a restart
  alicloud.ecs.console_output_info:
    region: cn-shanghai
    instance_ids: [i-uf6dark0000000000001]
  delegate_to: localhost
  register: console

- name: Its last lines
  ansible.builtin.debug:
    msg: "{{ console.outputs['i-uf6dark0000000000001'].splitlines()[-5:] }}"
"""

RETURN = r"""
consoles:
  description: One entry per instance, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    instance_id:
      description: Instance id.
      type: str
    output:
      description: The console text, decoded from Base64 (UTF-8; undecodable bytes replaced).
      type: str
    last_update_time:
      description: When the console output last changed (UTC).
      type: str
outputs:
  description: The console text keyed by instance id.
  returned: always
  type: dict
"""

import base64
import binascii
import typing as t

from ansible_collections.alicloud.ecs.plugins.module_utils.services.assistant_agent import instance_id_list
from ansible_collections.alicloud.ecs.plugins.module_utils.api.client import CloudClient
from ansible_collections.alicloud.ecs.plugins.module_utils.services.cloud_module import CloudModule
from ansible_collections.alicloud.ecs.plugins.module_utils.api.errors import CloudError


def console_output(client: CloudClient, instance_id: str, remove_symbols: bool) -> dict[str, t.Any]:
    """One instance's console, decoded; a body that is not Base64 is an API fault, reported as such."""
    response = client.call("GetInstanceConsoleOutput", InstanceId=instance_id, RemoveSymbols=remove_symbols)
    try:
        text = base64.b64decode(response.get("ConsoleOutput") or "", validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError) as error:
        raise CloudError("InvalidResponse", f"ConsoleOutput is not Base64: {error}",
                         action="GetInstanceConsoleOutput") from None
    return {"instance_id": instance_id, "output": text, "last_update_time": response.get("LastUpdateTime") or ""}


def main() -> None:
    module = CloudModule(
        argument_spec={
            "instance_ids": {"type": "list", "elements": "str", "required": True},
            "remove_symbols": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    try:
        ids = instance_id_list(module.params["instance_ids"], required=True)
    except ValueError as error:
        module.fail_json(msg=str(error))
    consoles: list[dict[str, t.Any]] = []
    with module.failures():
        client = module.client
    for instance_id in ids:
        try:
            consoles.append(console_output(client, instance_id, module.params["remove_symbols"]))
        except CloudError as error:
            module.fail_json(msg=f"{instance_id}: {error}", error=error.to_dict(), consoles=consoles)
    module.exit_json(changed=False, consoles=consoles,
                     outputs={item["instance_id"]: item["output"] for item in consoles})


if __name__ == "__main__":
    main()
