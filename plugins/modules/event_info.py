#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""List system events of ECS instances: the pending ones with the instance status, and the history."""

from __future__ import annotations

DOCUMENTATION = r"""
module: event_info
short_description: Pending and past system events of ECS instances
version_added: 0.1.0
description:
  - With O(full_status=true), reads DescribeInstancesFullStatus, which gives each instance's status, health and
    its pending system events (scheduled, executing or inquiring), such as a planned maintenance reboot.
  - With O(history=true), reads DescribeInstanceHistoryEvents, which gives every event, finished or not, newest first.
  - Requests are batched (100 instances per call) and paged until the end, so any number of instances can be asked for.
author:
  - alicloud.ecs maintainers (@alicloud-ecs)
options:
  instance_ids:
    description:
      - Instances to report on. Every instance of the region when empty.
    type: list
    elements: str
    default: []
  full_status:
    description:
      - Return RV(instances) and RV(pending_events) from DescribeInstancesFullStatus.
    type: bool
    default: true
  history:
    description:
      - Return RV(history_events) from DescribeInstanceHistoryEvents.
    type: bool
    default: true
  event_types:
    description:
      - Only events of these types, for example V(SystemMaintenance.Reboot) or V(InstanceExpiration.Stop). At most 30.
    type: list
    elements: str
    default: []
  cycle_statuses:
    description:
      - Only history events in these lifecycle states. Pending events are always V(Scheduled), V(Executing) or
        V(Inquiring).
    type: list
    elements: str
    choices: [Scheduled, Avoided, Executing, Executed, Canceled, Failed, Inquiring]
    default: []
  publish_time:
    description:
      - Only events published in this window (both ends included), in UTC as V(2030-01-01T00:00:00Z).
    type: dict
    suboptions:
      start:
        description: Earliest publish time.
        type: str
      end:
        description: Latest publish time, not before O(publish_time.start).
        type: str
  not_before:
    description:
      - Only events planned to be carried out in this window, in UTC as V(2030-01-01T00:00:00Z).
    type: dict
    suboptions:
      start:
        description: Earliest planned time.
        type: str
      end:
        description: Latest planned time, not before O(not_before.start).
        type: str
extends_documentation_fragment:
  - alicloud.ecs.api
  - alicloud.ecs.api.modules
  - alicloud.ecs.read_only
"""

EXAMPLES = r"""
- name: Maintenance planned for the region's instances
  alicloud.ecs.event_info:
    region: cn-hangzhou
    history: false
  delegate_to: localhost
  register: events

- name: Instances with a reboot coming
  ansible.builtin.debug:
    msg: "{{ events.pending_events | selectattr('event_type', 'search', 'Reboot') | map(attribute='instance_id') | list }}"

- name: Events carried out on two instances during 2029
  alicloud.ecs.event_info:
    instance_ids: [i-bp67acfmxazb4p0001, i-bp67acfmxazb4p0002]
    full_status: false
    cycle_statuses: [Executed]
    publish_time:
      start: "2029-01-01T00:00:00Z"
      end: "2029-12-31T23:59:59Z"
  delegate_to: localhost
"""

RETURN = r"""
instances:
  description: Each instance with its status, health and pending events.
  returned: when O(full_status=true)
  type: list
  elements: dict
  contains:
    instance_id:
      description: Instance id.
      type: str
    status:
      description: Instance status, for example V(Running).
      type: str
    health_status:
      description: Instance health, for example V(Ok).
      type: str
    events:
      description: Pending events of the instance, shaped like RV(pending_events) entries.
      type: list
      elements: dict
pending_events:
  description: The pending events of all listed instances in one list.
  returned: when O(full_status=true)
  type: list
  elements: dict
  contains:
    event_id:
      description: Event id.
      type: str
    instance_id:
      description: The instance the event concerns.
      type: str
    event_type:
      description: Event type, for example V(SystemMaintenance.Reboot).
      type: str
    cycle_status:
      description: Lifecycle state, for example V(Scheduled).
      type: str
    publish_time:
      description: When the event was published (UTC).
      type: str
    not_before:
      description: When the event is planned to be carried out (UTC).
      type: str
    reason:
      description: Why the event was scheduled.
      type: str
    impact_level:
      description: Impact level, empty when unknown.
      type: str
history_events:
  description: Matching events, finished or not, newest publish time first; each as in RV(pending_events) plus
    C(finish_time), C(reason_code) and C(resource_type).
  returned: when O(history=true)
  type: list
  elements: dict
"""

from ansible_collections.alicloud.ecs.plugins.module_utils.services.assistant_agent import instance_id_list
from ansible_collections.alicloud.ecs.plugins.module_utils.services.cloud_module import CloudModule
from ansible_collections.alicloud.ecs.plugins.module_utils.services.system_events import (
    CYCLE_STATUSES, event_filters, full_status, history_events,
)


def window_spec() -> dict:
    """A time window option (a fresh dict each time: argument specs are not to be shared)."""
    return {"type": "dict", "options": {"start": {"type": "str"}, "end": {"type": "str"}}}


def main() -> None:
    module = CloudModule(
        argument_spec={
            "instance_ids": {"type": "list", "elements": "str", "default": []},
            "full_status": {"type": "bool", "default": True},
            "history": {"type": "bool", "default": True},
            "event_types": {"type": "list", "elements": "str", "default": []},
            "cycle_statuses": {"type": "list", "elements": "str", "choices": list(CYCLE_STATUSES), "default": []},
            "publish_time": window_spec(),
            "not_before": window_spec(),
        },
        supports_check_mode=True,
    )
    params = module.params
    try:
        ids = instance_id_list(params["instance_ids"])
        filters = event_filters(params["event_types"], params["publish_time"], params["not_before"])
    except ValueError as error:
        module.fail_json(msg=str(error))
    result = {"changed": False}
    with module.failures():
        if params["full_status"]:
            result["instances"] = full_status(module.client, ids, filters)
            result["pending_events"] = [event for row in result["instances"] for event in row["events"]]
        if params["history"]:
            cycles = list(dict.fromkeys(params["cycle_statuses"]))
            result["history_events"] = history_events(module.client, ids, cycles, filters)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
