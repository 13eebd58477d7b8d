#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a script or a saved command on ECS instances through Cloud Assistant, or stop a running one."""

from __future__ import annotations

DOCUMENTATION = r"""
module: invocation
short_description: Run a script or a saved Cloud Assistant command on ECS instances, or stop a run
version_added: 0.1.0
description:
  - Runs ad-hoc O(content) with RunCommand, or a saved command (O(command_id) or O(command_name)) with
    InvokeCommand, on the instances given by O(instance_ids) and/or O(instance_tags).
  - By default waits for every instance to finish and returns, per instance, the status, exit code and the
    whole output.
  - "Full output: Cloud Assistant keeps at most 24 KB of a run's output: the last 24 KB of a command that ends
    within about a second, else the first 6 to 8 KB (streamed while it ran) followed by the end of the rest.
    When waiting for ad-hoc shell content, the module wraps the script so that its output (stdout and stderr
    together, as the console shows them) is kept on the instance and read back page by page when it is longer;
    every byte comes back. Saved commands cannot be wrapped: their output may be cut, which
    RV(results[].dropped) counts and a warning says."
  - "Reboot or power off: a Linux script that exits 194 makes the Cloud Assistant agent reboot the instance once
    the result is reported, 193 powers it off (Windows: 3010, 3009). The service records such a run as C(Failed)
    with that exit code (C(ExitCodeNonzero)), so this module fails for it unless O(fail_on_error=false);
    M(alicloud.ecs.run) reports it as C(Rebooted) / C(PoweredOff) instead. A wrapped script's output longer than
    24 KB is read back from the instance, which may by then be going down."
  - A run always does something, so the task is always changed. Whether running the script twice is harmless
    is the script's business; make it check its own preconditions where that matters.
  - With O(state=stopped), stops the run O(invoke_id) (StopInvocation); a run that already finished is left
    alone and the task is not changed.
author:
  - alicloud.ecs maintainers (@alicloud-ecs)
options:
  state:
    description:
      - V(present) runs the command; V(stopped) stops the run O(invoke_id).
    type: str
    choices: [present, stopped]
    default: present
  content:
    description:
      - The script to run (RunCommand). Placeholders C({{ name }}) take their values from O(parameters); built-in
        ones such as C({{ ACS::InstanceId }}) are filled in by the agent.
      - Ansible templates task arguments first, so keep such placeholders away from it, for example with the
        C(!unsafe) YAML tag or inside C({% raw %}...{% endraw %}).
      - Its Base64 form plus the parameters may not exceed 24 KB (somewhat less when the full-output wrapper is
        added; the module then runs it unwrapped and warns).
    type: str
  command_id:
    description:
      - Id of a saved command to run (InvokeCommand). It is looked up to check O(parameters) against the
        command's placeholders; an id that is not among the account's commands (a public command, or a public
        command's name) is passed on, and the service checks it.
    type: str
  command_name:
    description:
      - Exact name of a saved command to run; it is looked up with DescribeCommands and must be unique.
    type: str
  command_type:
    description:
      - Type of O(content). Only V(RunShellScript) content gets the full-output wrapper.
    type: str
    choices: [RunShellScript, RunBatScript, RunPowerShellScript]
    default: RunShellScript
  instance_ids:
    description:
      - Instances to run on, at most 100.
    type: list
    elements: str
  instance_tags:
    description:
      - Run on the instances of the region that carry all these tags (at most 20 for content, 10 for saved
        commands; the API accepts at most 100 matching instances).
      - Alone, they are passed to the API as ResourceTag. Together with O(instance_ids), the tagged instances
        are looked up first (DescribeInstances) and added to the ids, because the API takes only one of the two.
    type: dict
  parameters:
    description:
      - Values of the custom parameters, one string per C({{ name }}) placeholder (at most 10; names of letters,
        digits, C(_) and C(-), at most 64 characters). Use an empty string for a parameter not passed.
    type: dict
  name:
    description:
      - Name of the ad-hoc command (at most 128 characters).
    type: str
  username:
    description:
      - User the command runs as on the instance (at most 255 characters); the service's default is root.
    type: str
  working_dir:
    description:
      - Working directory of the command (at most 200 characters); the service's default is /root.
    type: str
  timeout:
    description:
      - Seconds the command may run on the instance before the agent stops it (10 to 86400); the service's
        default is 60 for ad-hoc content and the saved command's own timeout otherwise.
    type: int
  container_id:
    description:
      - Run inside this container (64 hex characters, optionally with a C(docker://), C(containerd://) or
        C(cri-o://) prefix). O(username) and O(working_dir) are then ignored by the service, and the output is
        not wrapped.
    type: str
  container_name:
    description:
      - Run inside the container of this name; see O(container_id).
    type: str
  termination_mode:
    description:
      - What a timeout or a stop ends, V(Process) (the script only) or V(ProcessTree) (all it started).
    type: str
    choices: [Process, ProcessTree]
  tags:
    description:
      - Tags of the invocation itself (at most 20).
    type: dict
    default: {}
  client_token:
    description:
      - Idempotency token (1 to 64 ASCII characters). Default a fresh one per task, so a call the module resends
        after a lost answer never runs the command twice.
      - Set it explicitly to make a retried task (C(retries)/C(until), a rerun playbook) attach to the first run
        instead of running again; the same token with different options is refused by the service.
    type: str
  wait:
    description:
      - Wait for every instance to finish and return their results.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait. When they run out, the run is stopped (StopInvocation) and the task fails naming its
        invoke id. Default O(timeout) (or 60) plus 60 seconds.
    type: int
  fail_on_error:
    description:
      - Fail the task when an instance did not succeed (non-zero exit, timeout, agent unreachable...), naming them.
      - With V(false) the task succeeds and RV(results) says what happened on each instance.
    type: bool
    default: true
  full_output:
    description:
      - Wrap ad-hoc shell content so that output past 24 KB is read back. With the wrapper the output appears
        when the script has finished; a script that times out or is stopped reports no output. Set V(false) for
        the service's own behaviour (the last 24 KB, also while it runs).
    type: bool
    default: true
  invoke_id:
    description:
      - The run to stop, with O(state=stopped). O(instance_ids), if given, limits the stop to those instances
        (at most 50).
    type: str
notes:
  - Only ad-hoc RunShellScript content is wrapped; the wrapper needs C(sh), C(base64), C(gzip), C(sha256sum) and
    C(split) on the instance, which every supported Linux image has.
extends_documentation_fragment:
  - alicloud.ecs.api
  - alicloud.ecs.api.modules
attributes:
  check_mode:
    support: full
    description: Nothing is run or stopped; the task reports what would run (saved commands and tags are looked up).
  diff_mode:
    support: none
    description: Not applicable.
"""

EXAMPLES = r"""
- name: Restart nginx on the web servers and wait for it
  alicloud.ecs.invocation:
    content: systemctl restart nginx && systemctl is-active nginx
    instance_tags:
      role: web
    timeout: 120
  delegate_to: localhost
  register: restart

- name: Cloud Assistant placeholders, kept away from Ansible's templating
  alicloud.ecs.invocation:
    content: !unsafe 'echo "{{ greeting }} from {{ ACS::InstanceId }}"'
    parameters:
      greeting: hello
    instance_ids: [i-bp67acfmxazb4p0001]
  delegate_to: localhost

- name: Run a saved command with parameters, tolerating failures
  alicloud.ecs.invocation:
    command_name: rotate-logs
    parameters:
      keep_days: "7"
    instance_ids: "{{ groups['db'] | map('extract', hostvars, 'instance_id') | list }}"
    fail_on_error: false
  delegate_to: localhost
  register: rotated

- name: Start a long job without waiting
  alicloud.ecs.invocation:
    content: /opt/app/reindex.sh
    instance_ids: [i-bp67acfmxazb4p0001]
    timeout: 7200
    wait: false
  delegate_to: localhost
  register: job

- name: Stop it
  alicloud.ecs.invocation:
    state: stopped
    invoke_id: "{{ job.invoke_id }}"
  delegate_to: localhost
"""

RETURN = r"""
invoke_id:
  description: Id of the run (the one stopped with O(state=stopped)).
  returned: when something ran or was stopped
  type: str
  sample: t-hz0jdfwd9f0001
command_id:
  description: Id of the command that ran (for ad-hoc content, the service's temporary command).
  returned: when something ran
  type: str
status:
  description:
    - The run's overall status, C(Success), C(Failed), C(PartialFailed), C(Stopped), or C(Pending) / C(Running)
      when not waiting.
  returned: when something ran or was stopped
  type: str
  sample: Success
results:
  description: Per-instance results.
  returned: when O(wait=true) and something ran
  type: list
  elements: dict
  contains:
    instance_id:
      description: Instance id.
      type: str
    status:
      description: Per-instance status (C(Success), C(Failed), C(Timeout), C(Aborted), C(Invalid), C(Error), C(Terminated)...).
      type: str
    exit_code:
      description: Exit code of the script.
      type: int
    output:
      description: Output of the script (stdout and stderr as the console shows them), decoded as UTF-8.
      type: str
    dropped:
      description: Bytes of output cut by the service (from the beginning, or after the first 6 to 8 KB of a
        command that ran longer than about a second); 0 when the whole output was read back.
      type: int
    error_code:
      description: The service's error code for this instance, empty on success.
      type: str
    error_info:
      description: The service's error text for this instance.
      type: str
    repeats:
      description: How many times it ran on this instance.
      type: int
    start_time:
      description: When it started (UTC, ISO 8601), empty when it never started.
      type: str
    finish_time:
      description: When it finished (UTC, ISO 8601).
      type: str
    stop_time:
      description: When it was stopped, empty when it was not.
      type: str
instance_ids:
  description: The instances that would run the command.
  returned: in check mode, when O(state=present)
  type: list
  elements: str
msg:
  description: What was done, or in check mode what would be done.
  returned: always
  type: str
"""

from ansible_collections.alicloud.ecs.plugins.module_utils.services.cloud_module import CloudModule
from ansible_collections.alicloud.ecs.plugins.module_utils.services.invocation_runs import stop_run
from ansible_collections.alicloud.ecs.plugins.module_utils.services.invocation_task import checked_request, run_task
from ansible_collections.alicloud.ecs.plugins.module_utils.engine.invocation_spec import (
    RUN_MUTUALLY_EXCLUSIVE, RUN_REQUIRED_IF, run_argument_spec,
)

MAX_STOP_INSTANCES = 50

ARGUMENT_SPEC = {
    "state": {"type": "str", "choices": ["present", "stopped"], "default": "present"},
    **run_argument_spec(),
    "name": {"type": "str"},
    "container_id": {"type": "str"},
    "container_name": {"type": "str"},
    "termination_mode": {"type": "str", "choices": ["Process", "ProcessTree"]},
    "tags": {"type": "dict", "default": {}},
    "client_token": {"type": "str", "no_log": False},
    "wait": {"type": "bool", "default": True},
    "wait_timeout": {"type": "int"},
    "fail_on_error": {"type": "bool", "default": True},
    "full_output": {"type": "bool", "default": True},
    "invoke_id": {"type": "str"},
}


def run(module: CloudModule) -> None:
    try:
        request, wrapped, too_large = checked_request(module.params)
    except ValueError as error:
        module.fail_json(msg=str(error))
    if too_large:
        module.warn("content is too large for the full-output wrapper: output past 24 KB will be cut")
    with module.failures():
        try:
            outcome = run_task(module.client, module.params, request, wrapped, module.warn, module.check_mode)
        except (LookupError, ValueError) as error:
            module.fail_json(msg=str(error))
    if outcome.pop("failed"):
        module.fail_json(**outcome)
    module.exit_json(**outcome)


def stop(module: CloudModule) -> None:
    ids = module.params["instance_ids"] or []
    if len(ids) > MAX_STOP_INSTANCES:
        module.fail_json(msg=f"instance_ids: {len(ids)} given, StopInvocation takes at most {MAX_STOP_INSTANCES}")
    with module.failures():
        try:
            changed, status = stop_run(module.client, module.params["invoke_id"], ids, module.check_mode)
        except LookupError as error:
            module.fail_json(msg=str(error))
    verb = ("would stop" if module.check_mode else "stopped") if changed else "nothing to stop in"
    module.exit_json(changed=changed, invoke_id=module.params["invoke_id"], status=status,
                     msg=f"{verb} {module.params['invoke_id']} ({status})")


def main() -> None:
    module = CloudModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
        mutually_exclusive=RUN_MUTUALLY_EXCLUSIVE,
        required_if=[*RUN_REQUIRED_IF, ("state", "stopped", ("invoke_id",))],
    )
    if module.params["state"] == "stopped":
        stop(module)
    else:
        run(module)


if __name__ == "__main__":
    main()
