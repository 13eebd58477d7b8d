#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start, watch, notify or cancel an OOS execution and report it per task and per instance."""

from __future__ import annotations

DOCUMENTATION = r"""
module: oos_execution
short_description: Run an OOS template (such as ACS-ECS-BulkyRunCommand) and report its outcome per instance
version_added: 0.1.0
description:
  - Starts an execution of an OOS template (StartExecution) and, by default, waits for it to end, logging each
    change of status while it runs.
  - Returns the execution's outputs as data, its task executions (ListTaskExecutions) and, for the public
    template C(ACS-ECS-BulkyRunCommand), one entry per instance with its status, output and exit code.
  - With O(execution_id), works on an execution that already exists instead. O(notify) answers an execution
    that waits (approve, reject, retry or skip a failed task); O(state=cancelled) cancels it (CancelExecution).
  - Fails when the execution ends C(Failed), naming the failed instances or tasks, unless O(fail_on_error=false).
author:
  - alicloud.ecs maintainers (@alicloud-ecs)
options:
  template_name:
    description:
      - The template to run, for example V(ACS-ECS-BulkyRunCommand) or one of your own.
      - Mutually exclusive with O(execution_id); one of them is required.
    type: str
  template_version:
    description:
      - Version of the template, such as V(v2). The latest by default.
    type: str
  parameters:
    description:
      - The template's parameters.
      - For V(ACS-ECS-BulkyRunCommand), C(commandContent) (at most 16384 characters) and C(targets) are required and
        C(rateControl) is checked (C(Mode) V(Concurrency) or V(Batch), C(MaxErrors), C(Concurrency) and C(Batch)
        as numbers or percentages) before anything is sent.
    type: dict
    default: {}
  mode:
    description:
      - V(Automatic) runs every task; V(FailurePause) pauses at a failed task until it is retried or skipped
        (see O(notify)); V(Debug) waits for a notification before each task.
    type: str
    choices: [Automatic, FailurePause, Debug]
    default: Automatic
  loop_mode:
    description:
      - How a loop's batches go on; V(FirstBatchPause) and V(EveryBatchPause) wait for O(notify=approve).
    type: str
    choices: [Automatic, FirstBatchPause, EveryBatchPause]
  safety_check:
    description:
      - V(Skip) runs high-risk actions without asking; only allowed with O(mode=Automatic).
    type: str
    choices: [ConfirmEveryHighRiskAction, Skip]
  description:
    description:
      - Description of the execution.
    type: str
  tags:
    description:
      - Tags of the execution.
    type: dict
  client_token:
    description:
      - Idempotency token of StartExecution. A start repeated with the same token returns the first execution
        instead of starting a second one, so a retried task never runs the template twice.
    type: str
  execution_id:
    description:
      - An existing execution to watch, notify or cancel.
    type: str
  state:
    description:
      - V(present) starts an execution (or looks at O(execution_id)); V(cancelled) cancels O(execution_id).
    type: str
    choices: [present, cancelled]
    default: present
  notify:
    description:
      - Tell a waiting execution O(execution_id) how to go on. V(approve) and V(reject) answer an approval or a
        paused batch; V(retry) and V(skip) settle failed tasks of a V(FailurePause) execution.
    type: str
    choices: [approve, reject, retry, skip]
  task_execution_id:
    description:
      - The failed task execution to retry or skip. By default every failed task matching O(task_name) and
        O(loop_item).
    type: str
  task_name:
    description:
      - With O(notify=retry) or O(notify=skip) and no O(task_execution_id), only failed tasks of this name.
    type: str
  loop_item:
    description:
      - With O(notify=retry) or O(notify=skip) and no O(task_execution_id), only the failed loop item for this
        item, such as an instance id.
    type: str
  wait:
    description:
      - Wait until the execution ends or waits for a notification.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait, 1 to 86400. The module fails when they run out; the execution keeps running.
    type: int
    default: 600
  fail_on_error:
    description:
      - Fail the task when the execution ends C(Failed).
    type: bool
    default: true
extends_documentation_fragment:
  - alicloud.ecs.api
  - alicloud.ecs.api.modules
attributes:
  check_mode:
    support: full
    description: Checks the input and that the template exists, and reports what would be started, notified or
      cancelled without doing it.
  diff_mode:
    support: none
    description: Not applicable.
"""

EXAMPLES = r"""
- name: Uptime of every web server, two at a time, tolerating one failure
  alicloud.ecs.oos_execution:
    template_name: ACS-ECS-BulkyRunCommand
    parameters:
      targets:
        Type: Tags
        RegionId: cn-hangzhou
        Tags:
          - Key: role
            Value: web
      commandContent: uptime
      rateControl:
        Mode: Concurrency
        Concurrency: 2
        MaxErrors: 1
    client_token: "uptime-{{ ansible_date_time.epoch | default('1') }}"
  delegate_to: localhost
  register: run

- name: Show what each instance said
  ansible.builtin.debug:
    msg: "{{ item.instance_id }}: {{ item.exit_code }} {{ item.output }}"
  loop: "{{ run.instances }}"

- name: Retry the failed instance of a FailurePause execution
  alicloud.ecs.oos_execution:
    execution_id: "{{ run.execution_id }}"
    notify: retry
    loop_item: i-bp1i7gg30r52z2em0001
  delegate_to: localhost

- name: Cancel it
  alicloud.ecs.oos_execution:
    execution_id: "{{ run.execution_id }}"
    state: cancelled
  delegate_to: localhost
"""

RETURN = r"""
execution_id:
  description: Id of the execution.
  returned: always
  type: str
  sample: exec-44d32b45d2a449e
status:
  description: C(Started), C(Running), C(Waiting), C(Success), C(Failed) or C(Cancelled); empty in check mode
    before a start.
  returned: always
  type: str
status_message:
  description: Why the execution ended as it did.
  returned: when the execution exists
  type: str
template_name:
  description: The template run.
  returned: when the execution exists
  type: str
template_version:
  description: Its version.
  returned: when the execution exists
  type: str
mode:
  description: Execution mode.
  returned: when the execution exists
  type: str
counters:
  description: Loop item counts such as C(Total), C(Success), C(Failed) and C(Skipped).
  returned: when the execution exists
  type: dict
outputs:
  description: The execution's outputs as data; for C(ACS-ECS-BulkyRunCommand), C(commandOutputs) in completion order.
  returned: when the execution exists
  type: raw
parameters:
  description: The parameters the execution runs with.
  returned: when the execution exists
  type: dict
tasks:
  description: Top-level task executions (ListTaskExecutions).
  returned: when the execution exists
  type: list
  elements: dict
  contains:
    task_execution_id:
      description: Task execution id.
      type: str
    name:
      description: Task name in the template.
      type: str
    action:
      description: The task's action, such as C(ACS::ECS::RunCommand).
      type: str
    status:
      description: Task status.
      type: str
    status_message:
      description: Why it ended so.
      type: str
    outputs:
      description: The task's outputs as data.
      type: raw
    loop_item:
      description: Loop item of a loop task's child, empty otherwise.
      type: str
    start_date:
      description: When it started.
      type: str
    end_date:
      description: When it ended.
      type: str
loop_items:
  description: Child task executions of loop tasks, one per item, with the same keys as RV(tasks).
  returned: when the execution exists
  type: list
  elements: dict
instances:
  description: One entry per instance the public C(ACS-ECS-BulkyRunCommand) template ran on.
  returned: for ACS-ECS-BulkyRunCommand executions
  type: list
  elements: dict
  contains:
    instance_id:
      description: The instance.
      type: str
    status:
      description: C(Success), C(Failed), C(Skipped), C(Running) or C(Cancelled).
      type: str
    status_message:
      description: The Cloud Assistant error of a failed item.
      type: str
    output:
      description: What the command printed.
      type: str
    exit_code:
      description: The command's exit code (DescribeInvocations), null when it never ran.
      type: int
    error_code:
      description: Cloud Assistant error code, such as C(ExitCodeNonzero).
      type: str
    error_info:
      description: Cloud Assistant error text.
      type: str
    task_execution_id:
      description: The item's task execution, for O(task_execution_id).
      type: str
progress:
  description: Observations while waiting, one each time the status, current task or counters changed.
  returned: when O(wait=true)
  type: list
  elements: dict
  sample: [{"time": "2026-01-01T10:00:00Z", "status": "Running", "task": "runCommand", "counters": {"Total": 6}}]
notified:
  description: Task executions a O(notify=retry) or O(notify=skip) settled.
  returned: when O(notify) is given
  type: list
  elements: str
"""

from ansible_collections.alicloud.ecs.plugins.module_utils.services.cloud_module import CloudModule
from ansible_collections.alicloud.ecs.plugins.module_utils.services.oos import (
    NOTIFY_TYPES, TERMINAL, check_start, failure_summary, get_execution, get_template, start_execution, summarize,
    task_executions, task_view, wait_execution, waiting_tasks,
)

NOTIFY_GRACE = 3.0  # seconds a just-notified execution may still show the Waiting it was released from
SPEC = {
    "template_name": {"type": "str"}, "template_version": {"type": "str"},
    "parameters": {"type": "dict", "default": {}},
    "mode": {"type": "str", "choices": ["Automatic", "FailurePause", "Debug"], "default": "Automatic"},
    "loop_mode": {"type": "str", "choices": ["Automatic", "FirstBatchPause", "EveryBatchPause"]},
    "safety_check": {"type": "str", "choices": ["ConfirmEveryHighRiskAction", "Skip"]},
    "description": {"type": "str"}, "tags": {"type": "dict"}, "client_token": {"type": "str", "no_log": False},
    "execution_id": {"type": "str"},
    "state": {"type": "str", "choices": ["present", "cancelled"], "default": "present"},
    "notify": {"type": "str", "choices": ["approve", "reject", "retry", "skip"]},
    "task_execution_id": {"type": "str"}, "task_name": {"type": "str"}, "loop_item": {"type": "str"},
    "wait": {"type": "bool", "default": True}, "wait_timeout": {"type": "int", "default": 600},
    "fail_on_error": {"type": "bool", "default": True},
}


def validate(module: CloudModule) -> None:
    """Refuse what the API would refuse, before any call."""
    params = module.params
    if not 1 <= params["wait_timeout"] <= 86400:
        raise ValueError(f"wait_timeout must be 1 to 86400 seconds, got {params['wait_timeout']}")
    if params["template_name"]:
        if params["notify"] or params["state"] == "cancelled":
            raise ValueError("notify and state=cancelled need execution_id, not template_name")
        check_start(params["template_name"], params["parameters"], params["mode"], params["safety_check"])


def start(module: CloudModule) -> tuple[dict | None, bool]:
    """StartExecution (in check mode: only make sure the template exists)."""
    params = module.params
    if get_template(module.client, params["template_name"], params["template_version"]) is None:
        raise ValueError(f"template {params['template_name']} (version {params['template_version'] or 'latest'}) "
                         "does not exist")
    if module.check_mode:
        return None, True
    options = {"TemplateVersion": params["template_version"], "Mode": params["mode"], "LoopMode": params["loop_mode"],
               "SafetyCheck": params["safety_check"], "Description": params["description"],
               "ClientToken": params["client_token"], "Tags": params["tags"]}
    return start_execution(module.client, template_name=params["template_name"], parameters=params["parameters"],
                           **options), True


def act_on(module: CloudModule, result: dict) -> tuple[dict | None, bool]:
    """Cancel or notify an existing execution; changed only when it was still going / waiting."""
    params, client = module.params, module.client
    execution = get_execution(client, params["execution_id"])
    if execution is None:
        raise ValueError(f"execution {params['execution_id']} does not exist")
    if params["state"] == "cancelled":
        going = execution["Status"] not in TERMINAL
        if going and not module.check_mode:
            client.call("CancelExecution", product="oos", ExecutionId=params["execution_id"])
        return execution, going
    if not params["notify"]:
        return execution, False
    if execution["Status"] != "Waiting":
        raise ValueError(f"execution {params['execution_id']} is {execution['Status']}, not Waiting: nothing to notify")
    kind = NOTIFY_TYPES[params["notify"]]
    targets = [None]
    if params["notify"] in ("retry", "skip"):
        tasks = [task_view(item) for item in task_executions(client, params["execution_id"])]
        targets = [params["task_execution_id"]] if params["task_execution_id"] else waiting_tasks(
            tasks, params["task_name"], params["loop_item"])
        if not targets:
            raise ValueError(f"execution {params['execution_id']} has no failed task to {params['notify']}")
        result["notified"] = targets
    for target in targets if not module.check_mode else []:
        client.call("NotifyExecution", product="oos", ExecutionId=params["execution_id"], NotifyType=kind,
                    TaskExecutionId=target)
    return execution, True


def report(module: CloudModule, execution: dict, result: dict) -> None:
    """Wait (logging progress), summarise, and fail on a Failed execution or a timeout."""
    params = module.params
    timed_out = False
    if params["wait"] and not module.check_mode:
        progress = result.setdefault("progress", [])
        exec_id = execution["ExecutionId"]

        def observe(seen: dict) -> None:
            progress.append(seen)
            module.log(f"OOS execution {exec_id}: {seen['status']} {seen['task']} {seen['counters']}")

        execution, timed_out = wait_execution(module.client, exec_id, params["wait_timeout"], observe,
                                              grace=NOTIFY_GRACE if params["notify"] else 0.0)
    result.update(summarize(module.client, execution))
    if timed_out:
        module.fail_json(msg=f"execution {result['execution_id']} is still {result['status']} after "
                             f"{params['wait_timeout']} s (it keeps running)", **result)
    if result["status"] == "Failed" and params["fail_on_error"] and params["state"] != "cancelled":
        module.fail_json(msg=failure_summary(result), **result)


def main() -> None:
    module = CloudModule(argument_spec=SPEC, supports_check_mode=True,
                         mutually_exclusive=[["template_name", "execution_id"]],
                         required_one_of=[["template_name", "execution_id"]])
    result: dict = {"changed": False, "execution_id": module.params["execution_id"] or "", "status": ""}
    try:
        validate(module)
        with module.failures(**result):
            if module.params["template_name"]:
                execution, result["changed"] = start(module)
            else:
                execution, result["changed"] = act_on(module, result)
            if execution is not None:
                report(module, execution, result)
    except ValueError as error:
        module.fail_json(msg=str(error), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
