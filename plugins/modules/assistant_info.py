#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Report the Cloud Assistant agent of instances: online or not, and which version."""

from __future__ import annotations

DOCUMENTATION = r"""
module: assistant_info
short_description: Cloud Assistant agent state (online, version) of ECS instances
version_added: 0.1.0
description:
  - Reads DescribeCloudAssistantStatus for the given instances, or for every instance of the region.
  - An agent is online when it sent a heartbeat in the last two minutes; a stopped instance is never online.
  - Requests are batched and paged within the API's limits (50 instances per page), so any number of
    instances can be asked for.
author:
  - alicloud.ecs maintainers (@alicloud-ecs)
options:
  instance_ids:
    description:
      - Instances to report on. Every instance of the region when empty.
      - An id that is not an instance of the region fails the task with the API's C(InvalidInstance.NotFound).
    type: list
    elements: str
    default: []
  os_type:
    description:
      - Only instances of this operating system type.
    type: str
    choices: [Windows, Linux, FreeBSD]
extends_documentation_fragment:
  - alicloud.ecs.api
  - alicloud.ecs.api.modules
  - alicloud.ecs.read_only
"""

EXAMPLES = r"""
- name: Agent state of every instance of the region
  alicloud.ecs.assistant_info:
    region: cn-shanghai
  delegate_to: localhost
  register: agents

- name: Instances that cannot run commands right now
  ansible.builtin.debug:
    var: agents.offline_ids

- name: Agent version of two instances
  alicloud.ecs.assistant_info:
    instance_ids:
      - i-bp67acfmxazb4p0001
      - i-bp67acfmxazb4p0002
  delegate_to: localhost
  register: two

- name: Version of the first one
  ansible.builtin.debug:
    msg: "{{ two.instances_by_id['i-bp67acfmxazb4p0001'].version }}"
"""

RETURN = r"""
instances:
  description: One entry per instance, in the order the API listed them.
  returned: always
  type: list
  elements: dict
  contains:
    instance_id:
      description: Instance id.
      type: str
      sample: i-bp67acfmxazb4p0001
    online:
      description: Whether the agent sent a heartbeat in the last two minutes.
      type: bool
    version:
      description: Agent version, empty when it is not installed or not running.
      type: str
      sample: 2.2.0.106
    os_type:
      description: V(Linux), V(Windows) or V(FreeBSD).
      type: str
    last_heartbeat_time:
      description: Time of the last heartbeat, empty when none.
      type: str
    last_invoked_time:
      description: Time of the last command run on the instance, empty when none.
      type: str
    active_task_count:
      description: Commands running or waiting on the instance.
      type: int
    invocation_count:
      description: Commands run on the instance so far.
      type: int
    support_session_manager:
      description: Whether the agent supports Session Manager.
      type: bool
instances_by_id:
  description: The same entries keyed by instance id.
  returned: always
  type: dict
online_ids:
  description: Ids of the instances whose agent is online.
  returned: always
  type: list
  elements: str
offline_ids:
  description: Ids of the instances whose agent is not online.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.alicloud.ecs.plugins.module_utils.services.assistant_agent import (
    OS_TYPES, describe_agents, instance_id_list,
)
from ansible_collections.alicloud.ecs.plugins.module_utils.services.cloud_module import CloudModule


def main() -> None:
    module = CloudModule(
        argument_spec={
            "instance_ids": {"type": "list", "elements": "str", "default": []},
            "os_type": {"type": "str", "choices": list(OS_TYPES)},
        },
        supports_check_mode=True,
    )
    try:
        ids = instance_id_list(module.params["instance_ids"])
    except ValueError as error:
        module.fail_json(msg=str(error))
    with module.failures():
        agents = describe_agents(module.client, ids, module.params["os_type"])
    module.exit_json(
        changed=False,
        instances=agents,
        instances_by_id={agent["instance_id"]: agent for agent in agents},
        online_ids=[agent["instance_id"] for agent in agents if agent["online"]],
        offline_ids=[agent["instance_id"] for agent in agents if not agent["online"]],
    )


if __name__ == "__main__":
    main()
