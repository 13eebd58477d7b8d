# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The API side of a fleet run: launch content on many instances and watch them all at once.

Cost model: one RunCommand per region per ≤100 instances, one DescribeInvocations per region per
poll (filtered by the run's unique command name, so every invocation of the run comes back on one
page of up to 50 invocations = 5,000 instances), and one DescribeInvocations with output per
invocation once it has ended (none with ``read_output: false``). A 1,000-instance run is 10 + polls + 10
calls.
"""

from __future__ import annotations

import contextlib
import time
import typing as t
from dataclasses import dataclass, field

from ansible_collections.alicloud.ecs.plugins.module_utils.api.client import CloudClient, Json
from ansible_collections.alicloud.ecs.plugins.module_utils.api.errors import CloudError
from ansible_collections.alicloud.ecs.plugins.module_utils.services.fleet import (
    DONE, NOT_RUNNABLE, NOT_STOPPED, CommandSpec, ErrorBudget, Rollout, Target, host_result, run_command_groups,
    run_status,
)
from ansible_collections.alicloud.ecs.plugins.module_utils.services.instances import describe_instances
from ansible_collections.alicloud.ecs.plugins.module_utils.engine.interrupts import tracking
from ansible_collections.alicloud.ecs.plugins.module_utils.engine.invocation import TERMINAL_STATUSES, PollSchedule
from ansible_collections.alicloud.ecs.plugins.module_utils.engine.invocations_api import (
    describe_invocation, describe_invocations, invoke_instances, run_command, stop_invocation,
)
from ansible_collections.alicloud.ecs.plugins.module_utils.api.private_dirs import seconds_from_env
from ansible_collections.alicloud.ecs.plugins.module_utils.api.retries import is_retryable

# Polls start after half a second and slow down to one every 5 s: a long run costs few calls.
POLLS = PollSchedule(first=0.5, then=0.75, factor=1.5, cap=5.0)
# Past Timeout the agent itself ends a task; this extra wait only covers a service that never answers.
DEADLINE_GRACE = 120
# After the StopInvocation sent at that deadline, an instance still not ended after this many seconds is given up
# (reported NotStopped, naming it) rather than waited for without end; ANSIBLE_ALICLOUD_STOP_WAIT overrides it.
STOP_WAIT_ENV = "ANSIBLE_ALICLOUD_STOP_WAIT"
DEFAULT_STOP_WAIT = 120.0
# RunCommand refuses the whole call when one instance cannot run it ("if one of the specified instances
# does not meet the conditions, the call fails", docs/api-contract.md#runcommand): unknown, in another region, not Running.
REFUSED_CODES = frozenset({"InvalidInstance.NotFound", "InvalidInstance.NotMatch", "InvalidInstanceId.NotFound"})


@dataclass
class Launch:
    invoke_id: str
    region: str
    targets: dict[str, Target]
    deadline: float
    seen: set[str] = field(default_factory=set)
    fetched: bool = False
    # Each instance's last status that was not an end, and when to give up on those still there after a stop.
    last: dict[str, str] = field(default_factory=dict)
    stop_by: float = float("inf")
    # While it runs, a SIGINT or SIGTERM to ansible stops it (module_utils/engine/interrupts.py).
    watch: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    def __post_init__(self) -> None:
        # Failed looks are waited out until then (``deadline`` moves to infinity once a stop was asked).
        self.give_up = self.deadline + DEADLINE_GRACE


class Phase:
    """One content (the main command, a health check or the rollback) run over a set of targets."""

    def __init__(self, clients: t.Callable[[str], CloudClient], spec: CommandSpec, name: str,
                 clock: t.Callable[[], float] = time.monotonic) -> None:
        self.clients = clients
        self.spec = spec
        self.name = name  # unique per run and phase: the DescribeInvocations filter
        self.clock = clock
        self.launches: list[Launch] = []
        self.results: dict[str, dict[str, t.Any]] = {}
        self.refused: list[tuple[str, bool]] = []  # ended before they started: reported at the next poll
        self.stop_wait = seconds_from_env(STOP_WAIT_ENV, DEFAULT_STOP_WAIT)

    @property
    def invoke_ids(self) -> list[str]:
        return [launch.invoke_id for launch in self.launches]

    def launch(self, targets: t.Sequence[Target], batch: int) -> None:
        for group in run_command_groups(targets):
            self._launch_group(group, batch)

    def _launch_group(self, group: list[Target], batch: int) -> None:
        """One RunCommand; when it is refused, the instances that cannot run are set aside, the rest go again."""
        region = group[0].region
        try:
            invoke_id = run_command(
                self.clients(region), [target.instance_id for target in group], self.spec.content,
                command_type=self.spec.command_type, name=self.name, timeout=self.spec.timeout,
                username=self.spec.username, working_dir=self.spec.working_dir, termination_mode="ProcessTree",
            ).invoke_id
        except CloudError as error:
            if error.code not in REFUSED_CODES:
                raise
            causes = unrunnable(self.clients(region), group)
            if not causes:
                raise
            for target in group:
                if target.instance_id in causes:
                    self.results[target.host] = host_result(
                        target, batch, NOT_RUNNABLE, error_code=error.code, error_info=causes[target.instance_id])
                    self.refused.append((target.host, False))
            rest = [target for target in group if target.instance_id not in causes]
            if rest:
                self._launch_group(rest, batch)
            return
        launch = Launch(invoke_id, region, {item.instance_id: item for item in group},
                        self.clock() + self.spec.timeout + DEADLINE_GRACE)
        launch.watch.enter_context(tracking(self.clients(region), launch.invoke_id,
                                            f"{self.name} on {len(group)} instance(s) in {region}"))
        self.launches.append(launch)
        for target in group:
            self.results[target.host] = host_result(target, batch, "Pending", invoke_id=invoke_id)

    def poll(self) -> list[tuple[str, bool]]:
        """(host, succeeded) for every instance seen ending since the last poll."""
        ended, self.refused = self.refused, []
        open_launches = [launch for launch in self.launches if not launch.fetched]
        by_id = {launch.invoke_id: launch for launch in open_launches}
        for region in sorted({launch.region for launch in open_launches}):
            listing = describe_invocations(self.clients(region), CommandName=self.name)
            try:
                invocations = list(listing)
            except CloudError as error:
                # The commands run on whether the API answers or not: a look that failed for a passing reason
                # (throttling, 5xx, the endpoint away past the retry budget) saw nothing, until the deadline.
                if not is_retryable(error) or all(self.clock() > launch.give_up for launch in open_launches):
                    raise
                continue
            for invocation in invocations:
                launch = by_id.get(invocation.get("InvokeId", ""))
                if launch:
                    ended += self._absorb(launch, invoke_instances(invocation))
        for launch in open_launches:
            if launch.fetched:
                continue
            if self.clock() > launch.deadline:
                stop_invocation(self.clients(launch.region), launch.invoke_id, quiet=True)
                launch.deadline = float("inf")  # asked once; the agents report Terminated/Cancelled
                launch.stop_by = self.clock() + self.stop_wait
            elif self.clock() > launch.stop_by:
                ended += self._give_up(launch)
        return ended

    def _give_up(self, launch: Launch) -> list[tuple[str, bool]]:
        """The instances still not ended ``stop_wait`` seconds after the stop: each fails as NotStopped, naming
        itself and its last status, and the others of the invocation keep their results (and outputs)."""
        ended = []
        for target in launch.targets.values():
            if target.instance_id in launch.seen:
                continue
            launch.seen.add(target.instance_id)
            last = launch.last.get(target.instance_id, "Pending")
            self.results[target.host].update(
                status=NOT_STOPPED, error_code="StopUnconfirmed",
                error_info=f"still {last} {self.stop_wait:g} s after StopInvocation of {launch.invoke_id}, sent at "
                           "the command's deadline; it may still be running there")
            ended.append((target.host, False))
        self._finish(launch, stopped=True)
        return ended

    def _absorb(self, launch: Launch, instances: list[dict[str, t.Any]]) -> list[tuple[str, bool]]:
        ended = []
        for item in instances:
            target = launch.targets.get(item.get("InstanceId", ""))
            status = item.get("InvocationStatus", "")
            if target and status in TERMINAL_STATUSES and target.instance_id not in launch.seen:
                launch.seen.add(target.instance_id)
                launch.last.pop(target.instance_id, None)
                self._store(target, item)
                ended.append((target.host, self.results[target.host]["status"] in DONE))
            elif target and target.instance_id not in launch.seen:
                launch.last[target.instance_id] = status
        if len(launch.seen) == len(launch.targets):
            self._finish(launch)
        return ended

    def _finish(self, launch: Launch, stopped: bool = False) -> None:
        """Every instance of ``launch`` ended (or was given up, ``stopped``): read the outputs, stop watching it."""
        if self.spec.read_output:
            # ⚠ The API reference lets IncludeOutput be used with an InvokeId only, and says nothing about a
            # cap on InvokeInstances; a RunCommand has at most 100 instances, so one page is assumed.
            invocation = describe_invocation(self.clients(launch.region), launch.invoke_id, IncludeOutput=True,
                                             ContentEncoding="PlainText")
            for item in invoke_instances(invocation or {}):
                target = launch.targets.get(item.get("InstanceId", ""))
                if target and not (stopped and self.results[target.host]["status"] == NOT_STOPPED):
                    self._store(target, item, output=True)
        launch.fetched = True
        launch.watch.close()

    def _store(self, target: Target, item: dict[str, t.Any], output: bool = False) -> None:
        result = self.results[target.host]
        result.update(status=run_status(item.get("InvocationStatus", ""), item.get("ExitCode"), self.spec.command_type),
                      exit_code=item.get("ExitCode"),
                      error_code=item.get("ErrorCode") or "", error_info=item.get("ErrorInfo") or "",
                      dropped=int(item.get("Dropped") or 0))
        if output:
            result["output"] = item.get("Output") or ""

    @property
    def finished(self) -> bool:
        return all(launch.fetched for launch in self.launches)

    def close(self) -> None:
        """Forget the invocations still watched for interrupts (the run ended early on an error)."""
        for launch in self.launches:
            launch.watch.close()


def unrunnable(client: CloudClient, group: t.Sequence[Target]) -> dict[str, str]:
    """Why each instance of a refused RunCommand cannot run, in plain words (one DescribeInstances call)."""
    found = {item["InstanceId"]: item.get("Status", "") for item in
             describe_instances(client, InstanceIds=Json([target.instance_id for target in group]))}
    causes = {}
    for target in group:
        status = found.get(target.instance_id)
        if status is None:
            causes[target.instance_id] = f"instance {target.instance_id} does not exist in region {target.region}"
        elif status != "Running":
            causes[target.instance_id] = f"instance {target.instance_id} is {status}"
    return causes


def run_rollout(phase: Phase, batch: list[Target], index: int, concurrency: int, budget: ErrorBudget,
                sleep: t.Callable[[float], None] = time.sleep,
                progress: t.Callable[[int, int, int], None] | None = None) -> None:
    """Run one batch under the concurrency limit until it ended or the error budget stopped it.

    ``progress(running, succeeded, failed)`` is called after every poll.
    """
    rollout = Rollout(batch, concurrency, budget)
    phase.launch(rollout.take(), index)
    delays = POLLS.delays()
    counts = {True: 0, False: 0}
    while not (rollout.done and phase.finished):
        sleep(next(delays))
        for host, succeeded in phase.poll():
            rollout.finish(host, succeeded)
            counts[succeeded] += 1
        if progress:
            progress(len(rollout.in_flight), counts[True], counts[False])
        more = rollout.take()
        if more:
            phase.launch(more, index)


def run_all(phase: Phase, targets: list[Target], index: int, sleep: t.Callable[[float], None] = time.sleep) -> None:
    """Run a phase on every target at once (health checks and rollback) and wait for all of it."""
    if not targets:
        return
    phase.launch(targets, index)
    delays = POLLS.delays()
    while not phase.finished:
        sleep(next(delays))
        phase.poll()
