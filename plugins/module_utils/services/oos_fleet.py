# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The OOS side of a fleet run (``alicloud.ecs.run`` with ``engine: oos``): one execution of the public template
``ACS-ECS-BulkyRunCommand`` per region per batch (per 1,000 instances, the loop's item limit), rate control and the
error threshold applied by OOS in the cloud, so the run goes on when the controller goes away.

Cost model: one StartExecution per execution, one ListExecutions per execution per poll (polls slow down to one
every 15 s), then the loop items' records (ListTaskExecutions, 100 a page) and, only when some instance failed, one
DescribeInvocations page per 50 failed instances for their exit codes (the template's outputs carry none).

The ClientToken of each StartExecution is derived from the task and what it runs, so a second run of the same task
(after the controller was killed) gets the execution the first one started back instead of starting another.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import time
import typing as t
from dataclasses import dataclass, field

from ansible_collections.alicloud.ecs.plugins.module_utils.api.client import CloudClient, Json
from ansible_collections.alicloud.ecs.plugins.module_utils.engine.interrupts import tracking
from ansible_collections.alicloud.ecs.plugins.module_utils.engine.invocation import PollSchedule
from ansible_collections.alicloud.ecs.plugins.module_utils.services.fleet import (
    DONE, NOT_RUNNABLE, NOT_STOPPED, PENDING, SKIPPED, SUCCESS, CommandSpec, ErrorBudget, Target, host_result,
    run_status,
)
from ansible_collections.alicloud.ecs.plugins.module_utils.services.instances import describe_instances
from ansible_collections.alicloud.ecs.plugins.module_utils.services.oos import (
    BULKY, COMMAND_LIMIT, TERMINAL, get_execution, instance_invocations, parse_json, task_executions,
)

# The public template's loop takes at most this many items (OOS Loop limits).
EXECUTION_ITEMS = 1000
POLLS = PollSchedule(first=1.0, then=3.0, factor=1.6, cap=15.0)
# Past the longest the loop can take (waves of ``timeout``), the execution is cancelled; after the cancel,
# this long for it to end before the instances still running are reported NotStopped.
DEADLINE_GRACE = 300.0
CANCEL_WAIT = 120.0
CANCELLED = "Cancelled"


@dataclass
class OosSpec(CommandSpec):
    """What every execution of one phase runs (the template's parameters), and the RAM role OOS runs it as."""

    assume_role: str | None = None


@dataclass
class Execution:
    execution_id: str
    region: str
    targets: dict[str, Target]
    deadline: float
    max_errors: int = 0
    status: str = ""
    counters: dict[str, int] = field(default_factory=dict)
    running: int = 0
    cancel_by: float = float("inf")
    collected: bool = False
    # While it runs, a SIGINT or SIGTERM to ansible cancels it (engine/interrupts.py).
    watch: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)


def check_content(content: str, option: str = "content") -> None:
    """The template takes the command as plain text of at most 16,384 characters: said before any call."""
    if len(content) > COMMAND_LIMIT:
        raise ValueError(f"{option} is {len(content)} characters; engine oos passes it to {BULKY}, whose "
                         f"commandContent takes at most {COMMAND_LIMIT}")


def client_token(seed: str, *parts: t.Any) -> str:
    """A ClientToken (≤ 64 ASCII) that a second run of the same task with the same input computes again."""
    text = "\0".join([seed, *(str(part) for part in parts)])
    return "ansible-run-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:48]


class OosPhase:
    """One content (the main command, a health check or the rollback) run by OOS executions."""

    def __init__(self, clients: t.Callable[[str], CloudClient], spec: OosSpec, name: str, seed: str,
                 clock: t.Callable[[], float] = time.monotonic) -> None:
        self.clients = clients
        self.spec = spec
        self.name = name
        self.seed = seed  # stable across runs of the same task: the ClientTokens' source
        self.clock = clock
        self.executions: list[Execution] = []
        self.results: dict[str, dict[str, t.Any]] = {}
        self.halted = False  # the run's threshold passed: the executions still running were cancelled

    @property
    def invoke_ids(self) -> list[str]:
        return [execution.execution_id for execution in self.executions]

    def start(self, targets: t.Sequence[Target], batch: int, concurrency: int, max_errors: int) -> list[Execution]:
        """One execution per region per ≤ 1,000 targets; ``concurrency`` is shared out between them in proportion,
        each gets the whole remaining ``max_errors``."""
        started = []
        groups = groups_of(targets)
        for number, group in enumerate(groups):
            share = max(1, min(len(group), math.floor(concurrency * len(group) / max(1, len(targets)))))
            started.append(self._start(group, batch, number, share, max_errors))
        return started

    def _start(self, group: list[Target], batch: int, number: int, concurrency: int, max_errors: int) -> Execution:
        region = group[0].region
        parameters: dict[str, t.Any] = {
            "regionId": region, "resourceType": "ALIYUN::ECS::Instance",
            "targets": {"Type": "ResourceIds", "RegionId": region, "ResourceIds": [item.instance_id for item in group]},
            "commandType": self.spec.command_type, "commandContent": self.spec.content,
            "workingDir": self.spec.working_dir or "", "timeout": self.spec.timeout,
            "username": self.spec.username or "",
            "rateControl": {"Mode": "Concurrency", "Concurrency": concurrency, "MaxErrors": max(0, max_errors)},
        }
        if self.spec.assume_role:
            parameters["OOSAssumeRole"] = self.spec.assume_role
        token = client_token(self.seed, self.name, region, batch, number,
                             ",".join(item.instance_id for item in group), concurrency, max_errors)
        response = self.clients(region).call(
            "StartExecution", product="oos", TemplateName=BULKY, Parameters=Json(parameters), Mode="Automatic",
            Description=f"alicloud.ecs.run {self.name}", ClientToken=token)
        execution_id = response["Execution"]["ExecutionId"]
        waves = math.ceil(len(group) / concurrency)
        execution = Execution(execution_id, region, {item.instance_id: item for item in group},
                              self.clock() + waves * (self.spec.timeout + 60) + DEADLINE_GRACE, max(0, max_errors))
        execution.watch.enter_context(tracking(self.clients(region), execution_id,
                                               f"{self.name} on {len(group)} instance(s) in {region}"))
        self.executions.append(execution)
        for item in group:
            self.results[item.host] = host_result(item, batch, PENDING, invoke_id=execution_id)
        return execution

    def poll(self) -> None:
        """One look at every execution still open; the ended ones are collected."""
        for execution in self.executions:
            if execution.collected:
                continue
            found = get_execution(self.clients(execution.region), execution.execution_id) or {}
            execution.status = found.get("Status", "")
            execution.counters = found.get("Counters") or {}
            execution.running = len(found.get("CurrentTasks") or [])
            if execution.status in TERMINAL:
                self.collect(execution)
            elif self.clock() > execution.deadline:
                self.cancel(execution)
            elif self.clock() > execution.cancel_by:
                self.collect(execution, gave_up=True)

    def cancel(self, execution: Execution) -> None:
        """Past its deadline: cancelled once; the instances still running after CANCEL_WAIT are NotStopped."""
        self.clients(execution.region).call("CancelExecution", product="oos", ExecutionId=execution.execution_id)
        execution.deadline = float("inf")
        execution.cancel_by = self.clock() + CANCEL_WAIT

    @property
    def finished(self) -> bool:
        return all(execution.collected for execution in self.executions)

    def counts(self) -> tuple[int, int, int]:
        """(running, succeeded, failed) over the open and ended executions, from their counters."""
        running = sum(execution.running for execution in self.executions if not execution.collected)
        succeeded = sum(int(execution.counters.get("Success") or 0) for execution in self.executions)
        failed = sum(int(execution.counters.get("Failed") or 0) for execution in self.executions)
        return running, succeeded, failed

    def collect(self, execution: Execution, gave_up: bool = False) -> None:
        """Every target's result: from its loop item, or NotRunnable (not selected), or Skipped (never started)."""
        client = self.clients(execution.region)
        tasks = task_executions(client, execution.execution_id)
        selected = None
        items: dict[str, dict[str, t.Any]] = {}
        for task in tasks:
            if task.get("LoopItem"):
                items[task["LoopItem"]] = task  # a retried item: the latest record wins
            elif task.get("TaskName") == "getInstance":
                outputs = parse_json(task.get("Outputs", ""))
                selected = set(outputs.get("instanceIds") or []) if isinstance(outputs, dict) else set()
        failed = [iid for iid, task in items.items() if task.get("Status") == "Failed"]
        # Exit code and Cloud Assistant error of each failed item: the template names its RunCommand after the
        # execution, so the failed invocations of that name are the failed items (one page per 50).
        codes = instance_invocations(client, execution.execution_id, InvokeStatus="Failed") if failed else {}
        missing = [target for iid, target in execution.targets.items() if selected is not None and iid not in selected]
        causes = not_selected(client, missing) if missing else {}
        for iid, target in execution.targets.items():
            result = self.results[target.host]
            if iid in causes:
                result.update(status=NOT_RUNNABLE, error_code="TargetNotSelected", error_info=causes[iid])
            elif iid in items:
                self._store(result, items[iid], codes.get(iid), gave_up)
            else:
                result["status"] = SKIPPED
        execution.collected = True
        execution.watch.close()

    def _store(self, result: dict[str, t.Any], task: dict[str, t.Any], invocation: dict[str, t.Any] | None,
               gave_up: bool) -> None:
        status = task.get("Status", "")
        outputs = parse_json(task.get("Outputs", ""))
        output = ""
        if isinstance(outputs, dict):
            output = outputs.get("commandOutput", outputs.get("invocationOutput", "")) or ""
        if self.spec.read_output:
            result["output"] = output if isinstance(output, str) else str(output)
        if status == SUCCESS:
            result.update(status=SUCCESS, exit_code=0)
        elif status == "Failed" and invocation:
            result.update(status=run_status(invocation.get("InvocationStatus", "Failed"), invocation.get("ExitCode"),
                                            self.spec.command_type),
                          exit_code=invocation.get("ExitCode"), error_code=invocation.get("ErrorCode") or "",
                          error_info=invocation.get("ErrorInfo") or "")
        elif status in ("Running", "Waiting", "Queued") and gave_up:
            result.update(status=NOT_STOPPED, error_code="StopUnconfirmed",
                          error_info=f"still {status} {CANCEL_WAIT:g} s after CancelExecution, sent at the run's "
                                     "deadline; it may still be running there")
        else:
            message = task.get("StatusMessage") or ""
            result.update(status=status or "Failed", error_code=message.split(":", 1)[0] if ":" in message else "",
                          error_info=message)

    def close(self) -> None:
        """Forget the executions still watched for interrupts (the run ended early on an error)."""
        for execution in self.executions:
            execution.watch.close()


def groups_of(targets: t.Sequence[Target], size: int = EXECUTION_ITEMS) -> list[list[Target]]:
    by_region: dict[str, list[Target]] = {}
    for item in targets:
        by_region.setdefault(item.region, []).append(item)
    return [group[start:start + size] for group in by_region.values() for start in range(0, len(group), size)]


def not_selected(client: CloudClient, targets: t.Sequence[Target]) -> dict[str, str]:
    """Why the template's target selection (Running instances only) left each of ``targets`` out."""
    found = {}
    for start in range(0, len(targets), 100):
        chunk = targets[start:start + 100]
        found.update({item["InstanceId"]: item.get("Status", "") for item in
                      describe_instances(client, InstanceIds=Json([target.instance_id for target in chunk]))})
    causes = {}
    for target in targets:
        status = found.get(target.instance_id)
        if status is None:
            causes[target.instance_id] = f"instance {target.instance_id} does not exist in region {target.region}"
        else:
            causes[target.instance_id] = f"instance {target.instance_id} is {status or 'not Running'}"
    return causes


def run_rollout(phase: OosPhase, batch: list[Target], index: int, concurrency: int, budget: ErrorBudget,
                sleep: t.Callable[[float], None] = time.sleep,
                progress: t.Callable[[int, int, int], None] | None = None) -> None:
    """Run one batch in OOS and wait for it; failed instances count against ``budget`` as the controller's do."""
    left = budget.max_errors - len(budget.failed)
    phase.start(batch, index, concurrency, left)
    wait(phase, sleep, progress, left)
    # The instances whose command a threshold cancel stopped (status Cancelled) are not failures of their own.
    spared = (*DONE, SKIPPED, CANCELLED) if phase.halted else (*DONE, SKIPPED)
    for target in batch:
        if phase.results[target.host]["status"] not in spared:
            budget.record(target.host)


def run_all(phase: OosPhase, targets: list[Target], index: int, sleep: t.Callable[[float], None] = time.sleep) -> None:
    """Run a phase on every target at once (health checks and rollback), every failure tolerated."""
    if not targets:
        return
    phase.start(targets, index, len(targets), len(targets))
    wait(phase, sleep)


def wait(phase: OosPhase, sleep: t.Callable[[float], None] = time.sleep,
         progress: t.Callable[[int, int, int], None] | None = None, max_errors: int | None = None) -> None:
    """Poll until every execution ended. Each execution applies MaxErrors to its own instances only: once the
    failures of all of them together pass ``max_errors``, the others are cancelled, so that no new instance starts
    anywhere, as the controller engine stops launching."""
    delays = POLLS.delays()
    while not phase.finished:
        sleep(next(delays))
        phase.poll()
        running, succeeded, failed = phase.counts()
        if progress:
            progress(running, succeeded, failed)
        if max_errors is not None and failed > max_errors and not phase.halted and len(phase.executions) > 1:
            phase.halted = True
            for execution in phase.executions:
                # One past its own MaxErrors starts nothing more and lets its commands in flight end, as the
                # controller engine does: only the others are cancelled.
                own = int(execution.counters.get("Failed") or 0) > execution.max_errors
                if not execution.collected and execution.status not in TERMINAL and not own:
                    phase.cancel(execution)
