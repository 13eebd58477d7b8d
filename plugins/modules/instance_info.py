#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""List ECS instances with the same filters and field names as the inventory plugin."""

from __future__ import annotations

DOCUMENTATION = r"""
module: instance_info
short_description: List ECS instances of a region, with their Cloud Assistant agent state
version_added: 0.1.0
description:
  - Lists the instances of one region through DescribeInstances, filtered on the server side.
  - Each instance comes with the same snake_case fields the C(alicloud.ecs.instances) inventory plugin gives
    its hosts as variables.
  - Optionally adds the Cloud Assistant agent state (DescribeCloudAssistantStatus) and pending system
    events (DescribeInstancesFullStatus).
author:
  - alicloud.ecs maintainers (@alicloud-ecs)
options:
  filters:
    description:
      - Server-side DescribeInstances filters by snake_case name.
      - Scalar filters are V(status), V(zone_id), V(vpc_id), V(vswitch_id), V(instance_name), V(instance_type),
        V(instance_type_family), V(image_id), V(resource_group_id), V(security_group_id), V(instance_charge_type)
        and V(key_pair_name).
      - V(instance_ids) takes a list of at most 100 ids; V(tags) a dict of at most 20 tags that must all match.
    type: dict
    default: {}
  assistant_status:
    description:
      - Add C(cloud_assistant_online) and C(cloud_assistant_version) to each instance.
    type: bool
    default: false
  include_events:
    description:
      - Add C(system_events), the instance's pending system events, to each instance.
    type: bool
    default: false
extends_documentation_fragment:
  - alicloud.ecs.api
  - alicloud.ecs.api.modules
  - alicloud.ecs.read_only
"""

EXAMPLES = r"""
- name: Running web servers of the region
  alicloud.ecs.instance_info:
    region: cn-hangzhou
    filters:
      status: Running
      tags:
        role: web
    assistant_status: true
  delegate_to: localhost
  register: web

- name: Ids of the web servers whose agent is online
  ansible.builtin.debug:
    msg: "{{ web.instances | selectattr('cloud_assistant_online') | map(attribute='instance_id') | list }}"
"""

RETURN = r"""
instances:
  description:
    - The matching instances, in the order the API listed them.
    - Besides the keys below, each holds every other scalar field of the DescribeInstances item under its
      snake_case name, as the API gives it (for example C(deletion_protection), C(spot_strategy),
      C(internet_max_bandwidth_out)); which ones depends on the API version.
  returned: always
  type: list
  elements: dict
  contains:
    instance_id:
      description: Instance id.
      type: str
      sample: i-bp67acfmxazb4p0001
    instance_name:
      description: Instance name.
      type: str
    status:
      description: Instance status.
      type: str
      sample: Running
    region_id:
      description: Region of the instance.
      type: str
    zone_id:
      description: Zone of the instance.
      type: str
    os_type:
      description: V(linux) or V(windows).
      type: str
    private_ip_address:
      description: First private address, empty when it has none.
      type: str
    public_ip_address:
      description: First public or elastic address, empty when it has none.
      type: str
    instance_tags:
      description: The instance's tags as a dict.
      type: dict
    eip_address:
      description: Elastic IP address bound to the instance, empty when it has none.
      type: str
    vpc_id:
      description: VPC of the instance, empty for a classic network instance.
      type: str
    vswitch_id:
      description: vSwitch of the instance, empty for a classic network instance.
      type: str
    security_group_ids:
      description: Security groups of the instance.
      type: list
      elements: str
    instance_type:
      description: Instance type.
      type: str
      sample: ecs.g7.large
    cpu:
      description: Number of vCPUs.
      type: int
    memory:
      description: Memory in MiB.
      type: int
    image_id:
      description: Image the instance was created from.
      type: str
    os_name:
      description: Name of the operating system.
      type: str
    host_name:
      description: Host name of the instance.
      type: str
    description:
      description: Description of the instance.
      type: str
    creation_time:
      description: When the instance was created (UTC).
      type: str
    start_time:
      description: When the instance last started (UTC).
      type: str
    expired_time:
      description: When a subscription instance expires (UTC).
      type: str
    instance_charge_type:
      description: V(PrePaid) or V(PostPaid).
      type: str
    resource_group_id:
      description: Resource group of the instance.
      type: str
    key_pair_name:
      description: SSH key pair of the instance.
      type: str
    cloud_assistant_online:
      description: Whether the agent is online.
      returned: when O(assistant_status=true)
      type: bool
    cloud_assistant_version:
      description: The agent's version, empty when unknown.
      returned: when O(assistant_status=true)
      type: str
    system_events:
      description: Pending system events, each with C(id), C(type), C(status), C(not_before), C(publish_time) and C(reason).
      returned: when O(include_events=true)
      type: list
      elements: dict
"""

from ansible_collections.alicloud.ecs.plugins.module_utils.services.cloud_module import CloudModule
from ansible_collections.alicloud.ecs.plugins.module_utils.services.instances import (
    assistant_status, describe_instances, filter_params, hostvars_for, pending_events,
)


def main() -> None:
    module = CloudModule(
        argument_spec={
            "filters": {"type": "dict", "default": {}},
            "assistant_status": {"type": "bool", "default": False},
            "include_events": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    try:
        params = filter_params(module.params["filters"])
    except ValueError as error:
        module.fail_json(msg=str(error))
    with module.failures():
        instances = [hostvars_for(item) for item in describe_instances(module.client, **params)]
        ids = [item["instance_id"] for item in instances]
        agents = assistant_status(module.client, ids) if module.params["assistant_status"] and ids else {}
        events = pending_events(module.client, ids) if module.params["include_events"] and ids else {}
    for item in instances:
        if module.params["assistant_status"]:
            agent = agents.get(item["instance_id"], {})
            item["cloud_assistant_online"] = agent.get("online", False)
            item["cloud_assistant_version"] = agent.get("version", "")
        if module.params["include_events"]:
            item["system_events"] = events.get(item["instance_id"], [])
    module.exit_json(changed=False, instances=instances)


if __name__ == "__main__":
    main()
