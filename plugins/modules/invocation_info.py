#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""List Cloud Assistant invocations with their per-instance results, output and run history."""

from __future__ import annotations

DOCUMENTATION = r"""
module: invocation_info
short_description: List Cloud Assistant invocations and their per-instance results
version_added: 0.1.0
description:
  - Lists the invocations (runs of commands) of a region with DescribeInvocations, each with its per-instance
    results.
  - Results come with the listing itself. With O(include_output) or O(include_history), each invocation's results
    are read with DescribeInvocationResults instead (one more call per invocation).
  - "Periodic tasks (a O(repeat_mode=Period) invocation such as one made with a C(rate(1m)) frequency) keep one
    result per instance that is overwritten by each run: RV(invocations[].results[].repeats) counts the runs so
    far. With O(include_history=true) every past run is listed as its own result (same C(instance_id), its own
    C(repeats), C(start_time), C(status) and output), oldest first."
author:
  - alicloud.ecs maintainers (@alicloud-ecs)
options:
  invoke_id:
    description:
      - Only this invocation.
    type: str
  command_id:
    description:
      - Only runs of this command.
    type: str
  command_name:
    description:
      - Only runs of commands with this name.
    type: str
  command_type:
    description:
      - Only runs of this command type.
    type: str
    choices: [RunShellScript, RunBatScript, RunPowerShellScript]
  invoke_status:
    description:
      - Only invocations with this overall status (compared with both the current and the deprecated status field).
    type: str
    choices: [Running, Finished, Success, Failed, Stopped, Stopping, PartialFailed, Pending, Scheduled]
  instance_id:
    description:
      - Only invocations that ran on this instance, and only this instance's results.
    type: str
  repeat_mode:
    description:
      - Only invocations with this repeat mode.
    type: str
    choices: [Once, Period, NextRebootOnly, EveryReboot, DryRun]
  tags:
    description:
      - Only invocations carrying all these tags (at most 20).
    type: dict
  created_after:
    description:
      - Only invocations created at or after this time (ISO 8601, UTC when no zone is given).
      - The API has no time filter, so this one is applied to each page as it is read; with O(max_results) a
        page may then hold fewer invocations.
    type: str
  created_before:
    description:
      - Only invocations created at or before this time; see O(created_after).
    type: str
  include_output:
    description:
      - Add each result's output, decoded as UTF-8.
    type: bool
    default: false
  include_history:
    description:
      - List every past run of periodic tasks as a result of its own (DescribeInvocationResults IncludeHistory).
    type: bool
    default: false
  max_results:
    description:
      - Read one page of at most this many invocations (1 to 50) and return RV(next_token) for the next one.
        Without it every page is read.
    type: int
  next_token:
    description:
      - Continue the listing where a previous page ended.
    type: str
extends_documentation_fragment:
  - alicloud.ecs.api
  - alicloud.ecs.api.modules
  - alicloud.ecs.read_only
"""

EXAMPLES = r"""
- name: Results and output of one run
  alicloud.ecs.invocation_info:
    invoke_id: "{{ run.invoke_id }}"
    include_output: true
  delegate_to: localhost
  register: run_info

- name: Every run so far of a periodic task on one instance
  alicloud.ecs.invocation_info:
    invoke_id: "{{ job.invoke_id }}"
    instance_id: i-bp67acfmxazb4p0001
    include_history: true
  delegate_to: localhost
  register: history
  until: history.invocations[0].results | length >= 3
  retries: 30
  delay: 20

- name: Failed runs of the last day, one page at a time
  alicloud.ecs.invocation_info:
    invoke_status: Failed
    created_after: "{{ '%Y-%m-%dT%H:%M:%SZ' | strftime(now(utc=true).timestamp() - 86400) }}"
    max_results: 20
  delegate_to: localhost
"""

RETURN = r"""
invocations:
  description: The matching invocations, newest first as the API lists them.
  returned: always
  type: list
  elements: dict
  contains:
    invoke_id:
      description: Invocation id.
      type: str
    command_id:
      description: Id of the command that ran.
      type: str
    command_name:
      description: Name of the command.
      type: str
    command_type:
      description: Type of the command.
      type: str
    command_content:
      description: The content that ran, decoded (for runs of alicloud.ecs.invocation, with its full-output wrapper).
      type: str
    parameters:
      description: The custom parameter values the run got.
      type: dict
    repeat_mode:
      description: V(Once), V(Period), V(NextRebootOnly), V(EveryReboot) or V(DryRun).
      type: str
    frequency:
      description: Schedule of a periodic task.
      type: str
    timed:
      description: Whether a periodic task is still active.
      type: bool
    timeout:
      description: Timeout in seconds.
      type: int
    username:
      description: User the command ran as.
      type: str
    working_dir:
      description: Working directory.
      type: str
    container_id:
      description: Container it ran in, if any.
      type: str
    container_name:
      description: Container name, if any.
      type: str
    termination_mode:
      description: What a timeout or stop ended.
      type: str
    creation_time:
      description: When the invocation was created (UTC, ISO 8601).
      type: str
    status:
      description: Overall status (C(Pending), C(Scheduled), C(Running), C(Success), C(Failed), C(PartialFailed), C(Stopped)...).
      type: str
    invoke_status:
      description: The deprecated coarse overall status.
      type: str
    tags:
      description: Tags of the invocation.
      type: dict
    results:
      description: Per-instance results, or with O(include_history) one per run of periodic tasks.
      type: list
      elements: dict
      contains:
        instance_id:
          description: Instance id.
          type: str
        status:
          description: Per-instance status.
          type: str
        exit_code:
          description: Exit code.
          type: int
        output:
          description: Output, decoded as UTF-8.
          type: str
          returned: when O(include_output=true)
        dropped:
          description: Bytes of output cut from the beginning by the service.
          type: int
        error_code:
          description: The service's error code, empty on success.
          type: str
        error_info:
          description: The service's error text.
          type: str
        repeats:
          description: Number of the run (with O(include_history)) or runs so far.
          type: int
        start_time:
          description: When the run started.
          type: str
        finish_time:
          description: When the run finished.
          type: str
        stop_time:
          description: When it was stopped, empty when it was not.
          type: str
next_token:
  description: Token for the next page, empty when there is none.
  returned: always
  type: str
"""

from ansible_collections.alicloud.ecs.plugins.module_utils.services.cloud_module import CloudModule
from ansible_collections.alicloud.ecs.plugins.module_utils.services.invocations_query import InvocationQuery


def main() -> None:
    module = CloudModule(
        argument_spec={
            "invoke_id": {"type": "str"},
            "command_id": {"type": "str"},
            "command_name": {"type": "str"},
            "command_type": {"type": "str", "choices": ["RunShellScript", "RunBatScript", "RunPowerShellScript"]},
            "invoke_status": {"type": "str", "choices": ["Running", "Finished", "Success", "Failed", "Stopped",
                                                         "Stopping", "PartialFailed", "Pending", "Scheduled"]},
            "instance_id": {"type": "str"},
            "repeat_mode": {"type": "str", "choices": ["Once", "Period", "NextRebootOnly", "EveryReboot", "DryRun"]},
            "tags": {"type": "dict"},
            "created_after": {"type": "str"},
            "created_before": {"type": "str"},
            "include_output": {"type": "bool", "default": False},
            "include_history": {"type": "bool", "default": False},
            "max_results": {"type": "int"},
            "next_token": {"type": "str", "no_log": False},
        },
        supports_check_mode=True,
    )
    with module.failures():
        try:
            query = InvocationQuery(module.client, module.params)
        except ValueError as error:
            module.fail_json(msg=str(error))
        invocations, next_token = query.pages(module.params["max_results"], module.params["next_token"])
    module.exit_json(changed=False, invocations=invocations, next_token=next_token)


if __name__ == "__main__":
    main()
