#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Scheduled Cloud Assistant jobs as desired state: one tagged invocation per job name."""

from __future__ import annotations

DOCUMENTATION = r"""
module: scheduled_job
short_description: Keep a scheduled Cloud Assistant command (cron, rate, at, on reboot) in a desired state
version_added: 0.1.0
description:
  - Manages a I(job), a scheduled Cloud Assistant invocation identified by O(name), as code.
  - The job's invocation carries the tags C(alicloud-ecs:job=<name>) and C(alicloud-ecs:job-hash=<digest of the
    definition>). The module finds the job's live invocation with DescribeInvocations by tag, leaves it alone when
    the digest matches, replaces it when the definition changed, and stops it when O(state=absent).
  - A replacement starts the new invocation first and stops the old one afterwards, so a failure on the way
    (a refused parameter, throttling, a lost connection) never leaves the job without a running schedule; the
    price is a moment where both are armed, and a leftover old one is stopped by the next run.
  - Content jobs use RunCommand (the command is not kept); O(command_id) or O(command_name) jobs use
    InvokeCommand on a saved command.
  - The schedule is validated before any API call, against the limits of the API.
author:
  - alicloud.ecs maintainers (@alicloud-ecs)
options:
  name:
    description:
      - The job's identity, stored as the value of the C(alicloud-ecs:job) tag and as the command name.
      - At most 128 characters.
    type: str
    required: true
  state:
    description:
      - V(present) makes sure the job runs with this definition; V(absent) stops every live invocation of the job.
    type: str
    choices: [present, absent]
    default: present
  content:
    description:
      - The script to run. Mutually exclusive with O(command_id) and O(command_name).
      - Base64 content plus parameters must fit 24 KB.
    type: str
  command_id:
    description:
      - Id of a saved command to run (InvokeCommand).
    type: str
  command_name:
    description:
      - Exact name of a saved command to run; exactly one saved command must have it.
    type: str
  command_type:
    description:
      - Script type of O(content).
    type: str
    choices: [RunShellScript, RunBatScript, RunPowerShellScript]
    default: RunShellScript
  instance_ids:
    description:
      - Instances the job runs on, at most 100.
    type: list
    elements: str
  instance_tags:
    description:
      - Run on the instances having all these tags (at most 20, or 10 for a saved command).
      - The tags are resolved when the job's invocation is created; instances tagged later join at the next
        replacement of the job, not before.
      - With O(instance_ids) too, the tags are resolved to ids by DescribeInstances and both sets are joined.
    type: dict
  schedule:
    description:
      - When the job runs. Exactly one of its keys.
    type: dict
    suboptions:
      cron:
        description:
          - 'Quartz cron with seconds, optional year and optional time zone: C(<sec> <min> <hour> <day> <month>
            <weekday> [<year>] [<zone>]), for example C(0 */10 * * * ? Asia/Shanghai).'
          - Runs must be at least 10 seconds apart and no closer than O(timeout). C(L), C(W) and C(#) are refused.
          - Without a zone the instance's own time zone applies.
        type: str
      rate:
        description:
          - 'Run every interval, counted from the end of the previous run: C(<number><s|m|h|d>), for example V(5m).'
          - Between 60 seconds and 7 days, and longer than O(timeout).
        type: str
      at:
        description:
          - One run at this ISO 8601 time, for example V(2030-01-01T10:00:00+08:00); without an offset it is UTC.
          - The time must be in the future when the job is created; once it has run, the job counts as done.
        type: str
      next_reboot:
        description:
          - V(true) runs the job once, at the next boot of each instance (RepeatMode NextRebootOnly).
        type: bool
      every_reboot:
        description:
          - V(true) runs the job at every boot of each instance (RepeatMode EveryReboot).
        type: bool
  username:
    description:
      - User the job runs as (default C(root) on Linux). At most 255 characters.
    type: str
  working_dir:
    description:
      - Working directory of each run. At most 200 characters.
    type: str
  timeout:
    description:
      - Seconds one run may take, 10 to 86400. Defaults to the API's 60 for O(content), or the saved command's own.
    type: int
  parameters:
    description:
      - Values for the C({{name}}) placeholders of the content or saved command (at most 10).
    type: dict
extends_documentation_fragment:
  - alicloud.ecs.api
  - alicloud.ecs.api.modules
attributes:
  check_mode:
    support: full
    description: Finds the job and reports what would change; starts and stops nothing.
  diff_mode:
    support: full
    description: The job's definition before and after.
notes:
  - The API does not report a job's next run time, so none is returned.
"""

EXAMPLES = r"""
- name: Rotate logs every ten minutes (Shanghai time) on the web servers
  alicloud.ecs.scheduled_job:
    name: rotate-logs
    content: /usr/sbin/logrotate /etc/logrotate.conf
    instance_tags:
      role: web
    schedule:
      cron: "0 */10 * * * ? Asia/Shanghai"
    timeout: 120
  delegate_to: localhost

- name: Heartbeat every five minutes through a saved command
  alicloud.ecs.scheduled_job:
    name: heartbeat
    command_name: heartbeat
    instance_ids: [i-bp67acfmxazb4p0001]
    schedule:
      rate: 5m
  delegate_to: localhost

- name: Warm the cache once after the next reboot
  alicloud.ecs.scheduled_job:
    name: warm-cache
    content: /opt/app/bin/warm-cache
    instance_ids: [i-bp67acfmxazb4p0001]
    schedule:
      next_reboot: true
  delegate_to: localhost

- name: Remove the log rotation job
  alicloud.ecs.scheduled_job:
    name: rotate-logs
    state: absent
  delegate_to: localhost
"""

RETURN = r"""
job:
  description: The job as it is now (in check mode, as it would be; an invocation not yet created has no id).
  returned: always
  type: dict
  contains:
    name:
      description: The job's name.
      type: str
    invoke_id:
      description: InvokeId of the job's invocation; null when there is none (absent, or not created in check mode).
      type: str
      sample: t-hz0jdfwd9f0001
    status:
      description: Batch InvocationStatus, for example V(Scheduled), V(Running), V(Success); null without an invocation.
      type: str
    schedule:
      description: C(repeat_mode) and C(frequency) as sent to the API (C(kind) too before the job exists).
      type: dict
      sample: {repeat_mode: Period, frequency: rate(5m)}
    command_id:
      description: The command the invocation runs.
      returned: when the job has an invocation
      type: str
    creation_time:
      description: When the invocation was created.
      returned: when the job has an invocation
      type: str
    definition_hash:
      description: Digest of the definition the invocation was created from.
      returned: when the job has an invocation
      type: str
    instances:
      description: Per instance C(instance_id), C(status), C(repeats) (runs so far), C(exit_code), C(error_code).
      type: list
      elements: dict
stopped:
  description: InvokeIds stopped (or that would be stopped in check mode), replaced or removed jobs.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.alicloud.ecs.plugins.module_utils.services.cloud_module import CloudModule
from ansible_collections.alicloud.ecs.plugins.module_utils.services.resource_state import STATE_OPTION
from ansible_collections.alicloud.ecs.plugins.module_utils.engine.invocation_spec import (
    RUN_MUTUALLY_EXCLUSIVE, RUN_REQUIRED_IF, run_argument_spec,
)
from ansible_collections.alicloud.ecs.plugins.module_utils.services.scheduled_jobs import (
    JobSpec, build_spec, create_job, definition_of, describe_job, find_jobs, is_live, job_result, plan,
    saved_command, stop_jobs,
)

SCHEDULE_OPTIONS = {
    "cron": {"type": "str"}, "rate": {"type": "str"}, "at": {"type": "str"},
    "next_reboot": {"type": "bool"}, "every_reboot": {"type": "bool"},
}
ARGUMENT_SPEC = {
    "name": {"type": "str", "required": True},
    "state": STATE_OPTION,
    **run_argument_spec(),
    "schedule": {"type": "dict", "options": SCHEDULE_OPTIONS},
}


def desired(module: CloudModule) -> JobSpec | None:
    """The validated definition (None for absent); all local checks run before the one look-up a saved command
    needs, whose own Timeout then applies to the schedule's limits."""
    params = module.params
    if params["state"] == "absent":
        return None
    try:
        spec = build_spec(params)
        if spec.content is None:
            with module.failures():
                command = saved_command(module.client, params["command_id"], params["command_name"])
            spec = build_spec({**params, "command_id": command["CommandId"]}, command.get("Timeout"))
    except ValueError as error:
        module.fail_json(msg=str(error))
    return spec


def main() -> None:
    module = CloudModule(
        argument_spec=ARGUMENT_SPEC,
        mutually_exclusive=RUN_MUTUALLY_EXCLUSIVE,
        required_if=[*RUN_REQUIRED_IF, ("state", "present", ("schedule",))],
        supports_check_mode=True,
    )
    name = module.params["name"]
    spec = desired(module)
    with module.failures():
        jobs = find_jobs(module.client, name)
        todo = plan(spec, jobs)
        current = todo.keep or next((job for job in jobs if is_live(job)), None)
        diff = {"before": definition_of(current), "after": spec.definition() if spec else {}}
        job, stopped = todo.keep, [item["InvokeId"] for item in todo.stop]
        if not module.check_mode:
            try:
                new_id = create_job(module.client, spec) if todo.create and spec else None
            except ValueError as error:
                module.fail_json(msg=str(error))
            job = describe_job(module.client, new_id) if new_id else job
            stopped = stop_jobs(module.client, todo.stop)  # only once the new one exists: nothing is lost
        module.exit_json(changed=todo.changed, job=job_result(name, job, spec), stopped=stopped, diff=diff)


if __name__ == "__main__":
    main()
