#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Install the Cloud Assistant agent where it is not online, and optionally restart and wait for it."""

from __future__ import annotations

DOCUMENTATION = r"""
module: assistant_install
short_description: Install the Cloud Assistant agent on ECS instances where it is not online
version_added: 0.1.0
description:
  - Reads the agent state of the given instances (DescribeCloudAssistantStatus) and calls InstallCloudAssistant
    only for the Running instances whose agent is not online. When every agent is online nothing changes.
  - The API documents that an installed agent takes effect only after the instance restarts. With O(reboot=true)
    the module restarts the instances it installed on (RebootInstance) and waits until their agents are online.
  - The task fails, before anything is installed, when an instance is not in the region or is not Running while its
    agent is offline; the message names those instances.
  - An agent that was installed but is waiting for a restart looks offline, so without O(reboot=true) a second run
    installs on it again and reports a change.
author:
  - alicloud.ecs maintainers (@alicloud-ecs)
options:
  instance_ids:
    description:
      - Instances that must have the agent online. At least one.
    type: list
    elements: str
    required: true
  reboot:
    description:
      - Restart the instances the agent was installed on (RebootInstance), so the agent starts.
      - Restarting stops every process on those instances.
    type: bool
    default: false
  wait:
    description:
      - Wait until the agent of every instance installed on is online, and fail naming those still offline
        after O(wait_timeout) seconds.
      - Defaults to the value of O(reboot), because without a restart the agent is documented not to start.
    type: bool
  wait_timeout:
    description:
      - Seconds to wait for the agents, between 1 and 3600.
    type: int
    default: 300
extends_documentation_fragment:
  - alicloud.ecs.api
  - alicloud.ecs.api.modules
attributes:
  check_mode:
    support: full
    description: Reports in RV(installed) the instances that would get the agent, without installing or restarting.
  diff_mode:
    support: none
    description: Not applicable.
"""

EXAMPLES = r"""
- name: Make sure the agent runs on the database servers (restarting those that lack it)
  alicloud.ecs.assistant_install:
    region: cn-shanghai
    instance_ids:
      - i-uf6dark0000000000001
      - i-uf6db00000000000002
    reboot: true
    wait_timeout: 600
  delegate_to: localhost

- name: Install only; the instances are restarted in a later maintenance window
  alicloud.ecs.assistant_install:
    instance_ids: "{{ new_ids }}"
  delegate_to: localhost
"""

RETURN = r"""
installed:
  description: Instances the agent was installed on (in check mode, would be installed on).
  returned: always
  type: list
  elements: str
  sample: [i-uf6dark0000000000001]
rebooted:
  description: Instances restarted so the agent starts.
  returned: always
  type: list
  elements: str
already_online:
  description: Instances whose agent was online already, left alone.
  returned: always
  type: list
  elements: str
offline:
  description: Instances installed on whose agent is not online yet (always empty after a successful wait).
  returned: always
  type: list
  elements: str
"""

from ansible_collections.alicloud.ecs.plugins.module_utils.services.assistant_agent import (
    install_agents, instance_id_list, plan_install, reboot_instances, wait_online,
)
from ansible_collections.alicloud.ecs.plugins.module_utils.services.cloud_module import CloudModule

MAX_WAIT = 3600


def checked_ids(module: CloudModule) -> list[str]:
    """The instance ids, or a failure naming the option, before any API call."""
    try:
        ids = instance_id_list(module.params["instance_ids"], required=True)
    except ValueError as error:
        module.fail_json(msg=str(error))
    if not 1 <= module.params["wait_timeout"] <= MAX_WAIT:
        module.fail_json(msg=f"wait_timeout must be between 1 and {MAX_WAIT} seconds, got {module.params['wait_timeout']}")
    return ids


def main() -> None:
    module = CloudModule(
        argument_spec={
            "instance_ids": {"type": "list", "elements": "str", "required": True},
            "reboot": {"type": "bool", "default": False},
            "wait": {"type": "bool"},
            "wait_timeout": {"type": "int", "default": 300},
        },
        supports_check_mode=True,
    )
    ids = checked_ids(module)
    reboot = module.params["reboot"]
    wait = reboot if module.params["wait"] is None else module.params["wait"]
    result = {"changed": False, "installed": [], "rebooted": [], "already_online": [], "offline": []}
    with module.failures(**result):
        plan = plan_install(module.client, ids)
        result["already_online"] = plan.online
        if plan.problem():
            module.fail_json(msg=plan.problem(), **result)
        result.update(changed=bool(plan.need), installed=plan.need, offline=plan.need)
        if not plan.need or module.check_mode:
            module.exit_json(**result)
        install_agents(module.client, plan.need)
        if reboot:
            reboot_instances(module.client, plan.need)
            result["rebooted"] = plan.need
        if wait:
            result["offline"] = wait_online(module.client, plan.need, module.params["wait_timeout"])
    if wait and result["offline"]:
        hint = "" if reboot else "; the API documents that the agent starts after a restart (reboot=true)"
        module.fail_json(msg=f"the agent is not online after {module.params['wait_timeout']} s on: "
                             f"{', '.join(result['offline'])}{hint}", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
