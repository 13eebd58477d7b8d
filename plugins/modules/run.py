#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of the alicloud.ecs.run action (plugins/action/run.py does the work)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: run
short_description: Run one command on a whole fleet in a few API calls, with rate control, batches and rollback
version_added: 0.1.0
description:
  - Runs a shell, batch or PowerShell script on many ECS instances through Cloud Assistant, from the controller.
    One RunCommand carries up to 100 instances of one region, and all running invocations are polled together
    with one DescribeInvocations per region, so the API calls grow with the number of instances divided by 100,
    not with the number of hosts.
  - 'Like any task, it runs once per host, and each host gets its own result: failed when its instance did not
    succeed (it then drops out of the play), C(changed) when the command ran, C(rc) and C(stdout) as the command
    module has them, its own C(register) and facts. The command itself goes out once per batch of hosts: the
    first host''s task runs it for every host of the batch whose C(when) holds, whatever C(forks) is, and the
    other hosts'' tasks pick up their own instance''s result. It runs exactly once on every instance, also for
    ad hoc C(ansible -m alicloud.ecs.run), under C(serial), with two inventory names for one instance, and with
    C(strategy: free) (where each host runs its own instance, one RunCommand each).'
  - With C(run_once=true) the one task runs the command for the whole batch and returns every host's result at
    once (C(results), C(summary), and facts for every host); existing playbooks written that way keep working.
  - 'Targets: the play''s hosts by default (their C(ansible_alicloud_instance_id) or C(instance_id) variable,
    which the P(alicloud.ecs.instances#inventory) inventory sets, and their C(ansible_alicloud_region) or C(region_id)),
    grouped per region; or O(instance_ids); or the running instances carrying O(instance_tags).'
  - 'From C(localhost) or a bastion: with O(instance_ids) or O(instance_tags), a host that is not among the targets
    (C(hosts: localhost), a bastion group) gets the whole run''s result, as with C(run_once): C(results) per
    instance, C(summary), the facts, failed when the run stopped. No C(run_once), C(delegate_to) or
    C(connection: local) is needed: the action always runs on the controller. Several such hosts in one play
    share one run per batch (the command is not sent once per host); a host whose options come out differently
    (its own targets from a host variable) runs its own.'
  - 'Rate control: at most O(concurrency) instances run at once, and the run stops launching new work as soon as
    the number of failed instances exceeds O(max_errors). With O(max_errors=2) two failures are tolerated and
    the third stops the run (AWS SSM stops one failure later than its MaxErrors reads; this action does not).
    Instances already running are waited for; instances not started are reported as C(Skipped).'
  - 'Batches: O(batch) or O(batch_size) cut the targets into batches that run one after the other. After each
    batch the O(health_check) runs on its successful instances; a failing health check fails the batch and
    the run. O(pause) waits for the operator between batches.'
  - When the run fails (threshold passed, health check failed, operator stopped it, API error) and O(rollback)
    is set, the rollback content runs on every instance of the batches that were started, including the failing one.
  - 'Results: every host of the play gets the fact C(alicloud_run) with its own result, the play gets
    C(alicloud_run_summary), and C(alicloud_run_results) maps each host to its result. See RETURN.'
  - 'Unrunnable instances fail alone: when RunCommand is refused because an instance is stopped, unknown or in
    another region, those instances are reported on their own hosts (for example C(instance i-... is Stopped)) and
    the command goes to the rest; an instance whose agent does not answer ends with its own error.'
  - 'Per host: a host whose instance did not succeed fails; a host never started because the run stopped first
    fails too, or is skipped with O(fail_when_stopped=false). With C(run_once): the task fails when the run stopped,
    naming the failed hosts (unless O(fail_when_stopped=false)); failures within O(max_errors) leave it successful
    and are listed in the summary.'
  - 'Reboot or power off from the command: a Linux command that exits 194 makes the Cloud Assistant agent reboot
    the instance once it has reported the result, 193 powers it off (Windows: 3010 and 3009). Such a host is
    reported with status C(Rebooted) or C(PoweredOff), C(rc) 194 or 193, and does not fail; the health check does
    not run on it. The service itself records these runs as C(Failed) with C(ExitCodeNonzero).'
  - 'Output: Cloud Assistant keeps at most 24 KB of a run''s output. A command that ends within about a second
    keeps the last 24 KB. A longer one keeps the first 6 to 8 KB (streamed while it ran) followed by the end of
    the rest, up to 24 KB together; C(dropped) counts the bytes cut from the middle. Use
    M(alicloud.ecs.invocation) or the connection for a whole long output.'
  - The semantics table (what runs where, what each host's result is) is in the collection's C(docs/fleet.md).
author:
  - alicloud.ecs maintainers (@alicloud-ecs)
options:
  content:
    description:
      - The script to run, as text. Mutually exclusive with O(script); one of them is required.
    type: str
  script:
    description:
      - Path of a script on the controller (searched in the role's or playbook's C(files/) like
        M(ansible.builtin.script)), rendered as a template with the play's variables before it is sent.
    type: path
  command_type:
    description:
      - The Cloud Assistant command type.
    type: str
    default: RunShellScript
    choices: [RunShellScript, RunBatScript, RunPowerShellScript]
  timeout:
    description:
      - Seconds one instance may run the content (and the health check, and the rollback) before it is killed.
      - At least 10.
    type: int
    default: 600
  username:
    description:
      - User to run as on the instances. Cloud Assistant's default is C(root) (C(System) on Windows).
    type: str
  working_dir:
    description:
      - Directory to run in. Cloud Assistant's default is C(/root) on Linux.
    type: str
  instance_ids:
    description:
      - Run on these instances (in O(region)) instead of the play's hosts.
      - A play host with the same instance ID receives the result; other instances appear in the results
        under their ID.
    type: list
    elements: str
  instance_tags:
    description:
      - Run on every running instance of O(region) that carries all these tags (one DescribeInstances call
        per 100 instances finds them). At most 20 tags.
    type: dict
  concurrency:
    description:
      - How many instances run at the same time, a number or a percentage of the targets such as V(10%)
        (rounded down, at least 1).
    type: raw
    default: 100%
  max_errors:
    description:
      - How many instances may fail before the run stops launching new work, a number or a percentage of the
        targets (rounded down). The run stops as soon as the number of failed instances exceeds this.
    type: raw
    default: 0
  batch:
    description:
      - Split the targets into this many batches of nearly equal size (the first ones one larger).
      - Mutually exclusive with O(batch_size).
    type: int
  batch_size:
    description:
      - Size of the batches, a number or a percentage of the targets, or a list of them used in turn
        (the last one repeats), for example V([1, 10%, 50%]).
    type: raw
  pause:
    description:
      - Wait for the operator after the first batch (V(first)) or after every batch but the last (V(every)).
      - Interactive runs prompt like M(ansible.builtin.pause); Enter goes on, V(a) stops the run (and rolls back).
      - When stdin is not a terminal the run stops at the pause with an error, unless O(pause_continue=true).
    type: str
    default: none
    choices: [none, first, every]
  pause_continue:
    description:
      - In a non-interactive run, go on past a pause without waiting instead of failing.
    type: bool
    default: false
  health_check:
    description:
      - Content run (same type, user, directory and timeout) on each batch's successful instances after the batch;
        a non-zero exit on any of them fails the batch and the run.
    type: str
  rollback:
    description:
      - Content run on every instance of the started batches when the run fails.
    type: str
  fail_when_stopped:
    description:
      - Per host (no C(run_once)), whether a host never started because the run stopped early fails (V(true)) or is
        reported skipped (V(false)). Hosts that ran and failed fail either way.
      - With C(run_once), fail the task when the run stopped early (threshold passed, health check failed, operator
        stopped it).
      - ansible-core sets no facts from a failed task, so a failed run leaves C(alicloud_run) and
        C(alicloud_run_summary) unset; its C(results) and C(summary) are still in the registered result
        (set on every host of the play) and in C(ansible_failed_result) inside C(rescue).
      - With V(false) the task stays successful, the facts are set, and C(alicloud_run_summary.stopped) says why
        the run stopped.
    type: bool
    default: true
  read_output:
    description:
      - Read each instance's output (one DescribeInvocations per RunCommand, once its instances have ended).
      - With V(false) only the status, exit code and error code are read, from the polls. 10,000 instances then cost
        about 105 API calls instead of about 205, and C(output) and C(stdout) stay empty. Use it when the exit code
        is all you need.
    type: bool
    default: true
  engine:
    description:
      - Who runs the batches. V(controller) launches RunCommands and polls them from the controller; the run ends with
        the controller.
      - 'V(oos) hands each batch to OOS: one execution of the public template C(ACS-ECS-BulkyRunCommand) per region
        (per 1,000 instances) per batch, with O(concurrency) and O(max_errors) as the template''s rateControl. The
        execution goes on in the cloud when the controller is killed or its machine sleeps. The controller makes a
        handful of calls (start, polls, the pages of results) instead of one per 100 instances, and the results
        have the same shape (C(invoke_id) and C(invoke_ids) hold the OOS execution IDs, C(exec-...)).'
      - 'With V(oos): running the same task again (same play, task, content, targets and O(oos_run_label)) attaches to
        the execution the earlier run started (the StartExecution ClientToken is derived from them) instead of
        starting another, and returns its results, ended or not. An interrupt (Ctrl-C, SIGTERM) cancels the
        executions (CancelExecution); no instance starts after it.'
      - 'What V(oos) does differently: instances the template does not select (not Running, unknown) are reported
        C(NotRunnable) after the batch and count against O(max_errors) then; a failed instance''s exit code is
        read with one DescribeInvocations per 50 failed instances; when the failures of several executions of a
        batch (regions) together pass O(max_errors), the others are cancelled and their commands in flight end
        C(Cancelled). The content, O(health_check) and O(rollback) are limited to 16,384 characters (the
        template''s limit). See the collection''s C(docs/fleet.md).'
    type: str
    choices: [controller, oos]
    default: controller
  wait:
    description:
      - With V(false) and O(engine=oos), start the executions and return at once; every host reads C(Pending) with
        the execution ID, and the summary lists C(pending). Run the same task again with V(true) to collect the
        results. It cannot take O(batch), O(batch_size), O(health_check) or O(rollback).
      - V(false) needs O(engine=oos).
    type: bool
    default: true
  oos_assume_role:
    description:
      - O(engine=oos) only. The RAM role OOS runs the executions as (the template's C(OOSAssumeRole)); the caller
        needs C(ram:PassRole) on it. Unset, OOS runs them as the caller.
    type: str
  oos_run_label:
    description:
      - O(engine=oos) only. Mixed into the ClientTokens; change it to run the same task again as a new run rather
        than attach to the executions an earlier run of it started.
    type: str
extends_documentation_fragment:
  - alicloud.ecs.api
  - alicloud.ecs.api.modules
attributes:
  check_mode:
    support: full
    description: Nothing runs; the result says what would run, on which hosts, in which batches.
  diff_mode:
    support: none
    description: Not applicable.
notes:
  - This is an action plugin; it runs on the controller and needs no connection to the hosts.
  - 'Options are each host''s own. The first host''s task sends the command for the hosts whose options (and rendered
    O(script)) come out the same as its own; a host whose options render differently sends its own RunCommand.
    C(when) is judged per host.'
  - 'Facts per host (no C(run_once)): C(alicloud_run) is the host''s own result and C(alicloud_run_summary) holds
    C(counts), C(batches), C(batches_done) and C(stopped) (no host lists: the PLAY RECAP and C(ansible_play_hosts)
    say who failed). Both are plain values and survive a persistent fact cache.'
  - 'Facts with C(run_once): every host of a C(run_once) task receives the same facts, so C(alicloud_run) is stored as a template that
    each host resolves to its own entry of C(alicloud_run_results). A persistent fact cache (for example jsonfile)
    keeps only the text of that template; use C(alicloud_run_results[inventory_hostname]) there.'
  - With C(run_once) on ansible-core before 2.19, which marks every fact an action returns as unsafe, no template
    can resolve per host, so C(alicloud_run) is not set; C(alicloud_run_results[inventory_hostname]) is each host's
    own result on every line. Per host (no C(run_once)) C(alicloud_run) is set on every line.
  - Read the facts as C(ansible_facts.alicloud_run); the top-level C(alicloud_run) works too while ansible-core
    injects facts as variables (deprecated in 2.21).
seealso:
  - module: alicloud.ecs.instance_info
"""

EXAMPLES = r"""
- name: Patch every web server, 100 at a time, stop after 5 failures; failed hosts drop out of the play
  alicloud.ecs.run:
    content: yum -y update openssl
    concurrency: 100
    max_errors: 5
  register: patched

- name: Only the hosts whose patch succeeded get here, each with its own output
  ansible.builtin.debug:
    msg: "{{ inventory_hostname }}: {{ patched.stdout_lines | last | default('(no output)') }}"

- name: Rolling restart in 3 batches with a health check, a pause after the first batch and a rollback
  alicloud.ecs.run:
    script: deploy.sh.j2
    batch: 3
    pause: first
    health_check: curl -fsS http://127.0.0.1/health
    rollback: /opt/app/rollback.sh
  run_once: true

- name: Act on each host's own result (every host has its fact after the run_once task above)
  ansible.builtin.debug:
    msg: "{{ inventory_hostname }} exited {{ ansible_facts.alicloud_run.exit_code }}"
  when: ansible_facts.alicloud_run.status == 'Success'

- name: Keep the facts even when the run stops at the threshold, and decide afterwards
  alicloud.ecs.run:
    content: /opt/app/upgrade.sh
    batch_size: [1, 25%]
    max_errors: 10%
    fail_when_stopped: false
  run_once: true

- name: Put the failed hosts in a group
  ansible.builtin.group_by:
    key: "run_{{ 'failed' if inventory_hostname in ansible_facts.alicloud_run_summary.failed else 'ok' }}"

# In a play on localhost (hosts: localhost): no run_once needed, the task registers the whole run
- name: Restart two named instances from the controller
  alicloud.ecs.run:
    content: systemctl restart nginx
    instance_ids: [i-bp1aaaaaaaaaaaaaaaaa, i-bp1bbbbbbbbbbbbbbbbb]
    max_errors: 1
  register: restart

- name: Each instance's status and cause, keyed by instance ID
  ansible.builtin.debug:
    msg: "{{ item.key }}: {{ item.value.status }} {{ item.value.error_info }}"
  loop: "{{ restart.results | dict2items }}"
"""

RETURN = r"""
msg:
  description: What happened on this host (per host), or across the batch naming the failed hosts (C(run_once)).
  returned: always
  type: str
status:
  description: Per host, this host's status; the fields of RV(results) are all at the top of each host's result.
  returned: per host (no C(run_once)), not in check mode
  type: str
rc:
  description: Per host, the exit code of the command on this host's instance (C(exit_code)); null when it never ran.
  returned: per host (no C(run_once)), not in check mode
  type: int
stdout:
  description: Per host, the output of the command on this host's instance (C(output)).
  returned: per host (no C(run_once)), not in check mode
  type: str
stdout_lines:
  description: Per host, RV(stdout) split into lines.
  returned: per host (no C(run_once)), not in check mode
  type: list
  elements: str
summary:
  description:
    - The run summary (also set as the fact C(alicloud_run_summary)).
    - Per host (no C(run_once)) only C(counts), C(batches), C(batches_done) and C(stopped); all of it with
      C(run_once) and on a host that is not among the O(instance_ids) / O(instance_tags) targets.
  returned: success and failure, not in check mode
  type: dict
  contains:
    counts:
      description: Number of hosts per final status (C(Success), C(Failed), C(Timeout), C(HealthCheckFailed), C(Skipped)...).
      type: dict
    succeeded:
      description: Hosts whose content succeeded (and whose health check passed).
      type: list
      elements: str
    failed:
      description: Hosts that ran and did not succeed.
      type: list
      elements: str
    skipped:
      description: Hosts never started because the run stopped first.
      type: list
      elements: str
    rolled_back:
      description: Hosts the rollback ran on.
      type: list
      elements: str
    pending:
      description: With O(engine=oos) and O(wait=false), the hosts started and not waited for.
      type: list
      elements: str
      returned: with O(wait=false)
    invoke_ids:
      description: Every Cloud Assistant invocation of the run (content, health checks, rollback); with
        O(engine=oos), every OOS execution.
      type: list
      elements: str
    batches:
      description: Number of batches planned.
      type: int
    batches_done:
      description: Number of batches that completed.
      type: int
    stopped:
      description: Why the run stopped early; empty when it went through.
      type: str
results:
  description:
    - The result of every target host, by host name (also the fact C(alicloud_run_results)); each entry is what the
      host's own fact C(alicloud_run) holds. A target that no play host stands for (O(instance_ids) from
      C(localhost)) is keyed by its instance ID.
  returned: with C(run_once), and on a host that is not among the O(instance_ids) / O(instance_tags) targets;
    not in check mode
  type: dict
  contains:
    status:
      description: The Cloud Assistant InvocationStatus (C(Success), C(Failed), C(Timeout), C(Error), C(Aborted)...),
        or C(HealthCheckFailed), or C(Skipped) for a host never started, or C(NotRunnable) for an instance RunCommand
        refused (stopped, unknown, another region; C(error_info) says which), or C(Rebooted) / C(PoweredOff) when
        the command exited 194 / 193 (Windows 3010 / 3009) and the agent reboots or powers off the instance.
      type: str
    exit_code:
      description: Exit code of the content; null when it never ran.
      type: int
    output:
      description: Output of the content (stdout and stderr, at most 24 KB; the last 24 KB of a command that ended
        within about a second, else its first 6 to 8 KB followed by the end).
      type: str
    dropped:
      description: Bytes of output the service cut (from the beginning, or after the first 6 to 8 KB of a command
        that ran longer than about a second).
      type: int
    error_code:
      description: Cloud Assistant ErrorCode, for example C(ExitCodeNonzero).
      type: str
    error_info:
      description: Cloud Assistant ErrorInfo.
      type: str
    invoke_id:
      description: The invocation the host ran in; with O(engine=oos), the OOS execution.
      type: str
    instance_id:
      description: The instance.
      type: str
    region:
      description: The instance's region.
      type: str
    batch:
      description: Batch number, from 1.
      type: int
    health_check:
      description: C(status), C(exit_code), C(output), C(invoke_id) of the health check, or null.
      type: dict
    rollback:
      description: C(status), C(exit_code), C(output), C(invoke_id) of the rollback, or null.
      type: dict
targets:
  description: Check mode only, the hosts that would run.
  returned: check mode
  type: list
  elements: str
batches:
  description: Check mode only, the batch sizes.
  returned: check mode
  type: list
  elements: int
concurrency:
  description: Check mode only, instances at once.
  returned: check mode
  type: int
max_errors:
  description: Check mode only, failures tolerated.
  returned: check mode
  type: int
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.alicloud.ecs.plugins.module_utils.services.common_args import api_argument_spec
from ansible_collections.alicloud.ecs.plugins.module_utils.services.fleet import (
    RUN_ARGUMENT_SPEC, RUN_MUTUALLY_EXCLUSIVE, RUN_REQUIRED_ONE_OF,
)


def main() -> None:
    module = AnsibleModule(argument_spec={**RUN_ARGUMENT_SPEC, **api_argument_spec()},
                           mutually_exclusive=RUN_MUTUALLY_EXCLUSIVE, required_one_of=RUN_REQUIRED_ONE_OF,
                           supports_check_mode=True)
    module.fail_json(msg="alicloud.ecs.run is an action plugin; it runs on the controller through "
                         "plugins/action/run.py and cannot run as a module")


if __name__ == "__main__":
    main()
