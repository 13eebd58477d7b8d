# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One fleet run, two engines: batches, the error threshold, pauses, health checks and rollback, whoever runs the
commands.

``FleetRun`` walks the batches and decides when the run stops; an engine runs one content over a set of targets and
reports each instance's result. The controller engine (plugin_utils/fleet_runner.py) launches RunCommands and polls
them itself; the OOS engine (module_utils/services/oos_fleet.py) hands each batch to an OOS execution, which goes on
in the cloud when the controller goes away. The action only reads the task and shapes what this returns.
"""

from __future__ import annotations

import time
import typing as t
import uuid

from ansible.errors import AnsiblePromptInterrupt, AnsiblePromptNoninteractive
from ansible.utils.display import Display

from ansible_collections.alicloud.ecs.plugins.module_utils.api.client import CloudClient
from ansible_collections.alicloud.ecs.plugins.module_utils.api.errors import CloudError
from ansible_collections.alicloud.ecs.plugins.module_utils.services import oos_fleet
from ansible_collections.alicloud.ecs.plugins.module_utils.services.fleet import (
    DONE, HEALTH_FAILED, NOT_RUNNABLE, PENDING, POWERED_OFF, REBOOTED, SKIPPED, SUCCESS,
    ErrorBudget, Target, host_result, pause_after, split_batches, summarize,
)
from ansible_collections.alicloud.ecs.plugins.plugin_utils import fleet_runner

display = Display()
PROGRESS_EVERY = 15.0  # seconds between the running/succeeded/failed lines of a long batch
SPEC_KEYS = ("command_type", "timeout", "username", "working_dir", "read_output")


class RunStopped(Exception):
    """The run must end now (threshold passed, health check failed, operator said no)."""


class BatchProgress:
    """Counts of a long batch (running, succeeded, failed), at most one line every PROGRESS_EVERY seconds."""

    def __init__(self, label: str, clock: t.Callable[[], float] = time.monotonic) -> None:
        self.label = label
        self.clock = clock
        self.due = clock() + PROGRESS_EVERY

    def __call__(self, running: int, succeeded: int, failed: int) -> None:
        if running and self.clock() >= self.due:
            display.display(f"{self.label}: {running} running, {succeeded} succeeded, {failed} failed")
            self.due = self.clock() + PROGRESS_EVERY


class Engine(t.Protocol):
    """What a fleet run asks of whoever runs the commands."""

    def rollout(self, kind: str, content: str, batch: list[Target], number: int, concurrency: int,
                budget: ErrorBudget, progress: BatchProgress) -> dict[str, dict[str, t.Any]]:
        """Run ``content`` on one batch under ``concurrency`` until it ended or ``budget`` was exceeded (recording
        each failure in it); the results of the hosts that were started (or found not runnable)."""

    def run_all(self, kind: str, content: str, targets: list[Target], number: int) -> dict[str, dict[str, t.Any]]:
        """Run ``content`` on every target at once, every failure tolerated (health checks, rollback)."""

    @property
    def invoke_ids(self) -> list[str]:
        """Every invocation (or execution) started, in order."""

    def close(self) -> None:
        """Stop watching what is still open for interrupts (the run ended early)."""


class _Phases:
    """What both engines do alike: one phase per kind of command (main, health, rollback), each run by the
    engine's own module (``runner``: fleet_runner or oos_fleet), whose ``run_all`` and ``run_rollout`` take a phase
    and targets."""

    runner: t.Any
    phases: dict[str, t.Any]

    def _phase(self, kind: str, content: str) -> t.Any:
        raise NotImplementedError

    def _reported(self, result: dict[str, t.Any] | None) -> bool:
        """Whether a host's result of a rollout belongs in the batch's results (it was started, or found
        not runnable)."""
        return result is not None

    def _ran(self, kind: str, content: str, run: t.Callable[[t.Any], None]) -> t.Any:
        """The phase of ``kind`` after ``run`` took it, closed whatever happened."""
        phase = self._phase(kind, content)
        try:
            run(phase)
        finally:
            phase.close()
        return phase

    def run_all(self, kind: str, content: str, targets: list[Target], number: int) -> dict[str, dict[str, t.Any]]:
        phase = self._ran(kind, content, lambda phase: self.runner.run_all(phase, targets, number))
        return {target.host: phase.results[target.host] for target in targets if target.host in phase.results}

    def rollout(self, kind: str, content: str, batch: list[Target], number: int, concurrency: int,
                budget: ErrorBudget, progress: BatchProgress) -> dict[str, dict[str, t.Any]]:
        def run(phase: t.Any) -> None:
            self.runner.run_rollout(phase, batch, number, concurrency, budget, progress=progress)
        phase = self._ran(kind, content, run)
        return {target.host: phase.results[target.host] for target in batch
                if self._reported(phase.results.get(target.host))}

    @property
    def invoke_ids(self) -> list[str]:
        return [iid for phase in self.phases.values() for iid in phase.invoke_ids]

    def close(self) -> None:
        for phase in self.phases.values():
            phase.close()


class ControllerEngine(_Phases):
    """The controller launches RunCommands (≤ 100 instances each) and polls them itself."""

    runner = fleet_runner

    def __init__(self, client_for: t.Callable[[str], CloudClient], args: t.Mapping[str, t.Any], run_id: str) -> None:
        self.client_for = client_for
        self.spec = {key: args[key] for key in SPEC_KEYS}
        self.run_id = run_id
        self.phases: dict[str, fleet_runner.Phase] = {}

    def _phase(self, kind: str, content: str) -> fleet_runner.Phase:
        if kind not in self.phases:
            suffix = "" if kind == "main" else f"-{kind}"
            self.phases[kind] = fleet_runner.Phase(self.client_for, fleet_runner.CommandSpec(content, **self.spec),
                                                   f"alicloud.ecs.run-{self.run_id}{suffix}")
        return self.phases[kind]


class OosEngine(_Phases):
    """Each batch is one OOS execution of ACS-ECS-BulkyRunCommand per region (per 1,000 instances)."""

    runner = oos_fleet

    def __init__(self, client_for: t.Callable[[str], CloudClient], args: t.Mapping[str, t.Any], seed: str) -> None:
        self.client_for = client_for
        self.args = args
        self.seed = seed
        self.phases: dict[str, oos_fleet.OosPhase] = {}

    def _phase(self, kind: str, content: str) -> oos_fleet.OosPhase:
        if kind not in self.phases:
            spec = oos_fleet.OosSpec(content, assume_role=self.args.get("oos_assume_role"),
                                     **{key: self.args[key] for key in SPEC_KEYS})
            self.phases[kind] = oos_fleet.OosPhase(self.client_for, spec, kind, self.seed)
        return self.phases[kind]

    def _reported(self, result: dict[str, t.Any] | None) -> bool:
        """A host OOS skipped (its execution stopped before the host's turn) is not one of the batch's results."""
        return result is not None and result["status"] != SKIPPED

    def start(self, content: str, targets: list[Target], concurrency: int,
              max_errors: int) -> dict[str, dict[str, t.Any]]:
        """wait: false — the executions are started and left to OOS; every target reads Pending."""
        phase = self._phase("main", content)
        phase.start(targets, 1, concurrency, max_errors)
        phase.close()
        return dict(phase.results)


def make_engine(args: t.Mapping[str, t.Any], client_for: t.Callable[[str], CloudClient], seed: str) -> Engine:
    """``seed``: what makes the run's OOS ClientTokens the same when the same task runs again."""
    if args.get("engine") == "oos":
        return OosEngine(client_for, args, seed)
    return ControllerEngine(client_for, args, uuid.uuid4().hex[:12])


class FleetRun:
    """The batches of one run, with pauses, health checks, the error threshold and rollback."""

    def __init__(self, engine: Engine, args: t.Mapping[str, t.Any], plan: t.Mapping[str, t.Any]) -> None:
        self.engine = engine
        self.args = args
        self.content = plan["content"]
        self.concurrency = plan["concurrency"]
        self.batches = split_batches(plan["targets"], plan["sizes"])
        self.budget = ErrorBudget(plan["max_errors"])
        self.results = {target.host: host_result(target, index + 1)
                        for index, batch in enumerate(self.batches) for target in batch}

    def execute(self) -> tuple[dict[str, dict[str, t.Any]], dict[str, t.Any]]:
        """Every host's result and the run's summary."""
        if not self.args.get("wait", True) and isinstance(self.engine, OosEngine):
            return self._start_only()
        done, stopped = 0, ""
        try:
            for index, batch in enumerate(self.batches):
                self._batch(batch, index)
                done = index + 1
                if pause_after(self.args["pause"], index, len(self.batches)):
                    self._pause(index, self.args["pause_continue"])
        except RunStopped as error:
            stopped = str(error)
        except CloudError as error:
            stopped = f"API error: {error}"
        finally:
            self.engine.close()
        if stopped and self.args["rollback"]:
            self._rollback()
        return self.results, summarize(self.results, self.engine.invoke_ids, len(self.batches), done, stopped)

    def _start_only(self) -> tuple[dict[str, dict[str, t.Any]], dict[str, t.Any]]:
        targets = [target for batch in self.batches for target in batch]
        started = self.engine.start(self.content, targets, self.concurrency, self.budget.max_errors)
        self.results.update(started)
        display.display(f"alicloud.ecs.run: started OOS execution(s) {', '.join(self.engine.invoke_ids)} on "
                        f"{len(targets)} instance(s); not waiting (wait: false)")
        summary = summarize(self.results, self.engine.invoke_ids, len(self.batches), 0)
        summary["pending"] = sorted(host for host, item in self.results.items() if item["status"] == PENDING)
        return self.results, summary

    def _batch(self, batch: list[Target], index: int) -> None:
        count = len(self.batches)
        display.display(f"alicloud.ecs.run: batch {index + 1}/{count}: {len(batch)} instance(s), "
                        f"{self.concurrency} at a time")
        ran = self.engine.rollout("main", self.content, batch, index + 1, self.concurrency, self.budget,
                                  BatchProgress(f"alicloud.ecs.run: batch {index + 1}/{count}"))
        self.results.update(ran)
        failed = [host for host, item in ran.items() if item["status"] not in DONE]
        down = [host for host, item in ran.items() if item["status"] in (REBOOTED, POWERED_OFF)]
        display.display(f"alicloud.ecs.run: batch {index + 1}/{count}: {len(ran) - len(failed)} succeeded, "
                        f"{len(failed)} failed, {len(batch) - len(ran)} not started; "
                        f"failed so far {len(self.budget.failed)} (max_errors {self.budget.max_errors})")
        if self.budget.exceeded:
            raise RunStopped(f"{len(self.budget.failed)} instance(s) failed, more than max_errors "
                             f"({self.budget.max_errors}); no new work was launched after that")
        if self.args["health_check"]:  # not on instances going down for the reboot or power-off their command asked
            self._health([target for target in batch if target.host in ran and target.host not in failed + down], index)

    def _health(self, targets: list[Target], index: int) -> None:
        checks = self.engine.run_all("health", self.args["health_check"], targets, index + 1)
        unhealthy = []
        for target in targets:
            check = checks[target.host]
            self.results[target.host]["health_check"] = {key: check[key] for key in
                                                         ("status", "exit_code", "output", "invoke_id")}
            if check["status"] != SUCCESS:
                self.results[target.host]["status"] = HEALTH_FAILED
                unhealthy.append(target.host)
        display.display(f"alicloud.ecs.run: batch {index + 1}/{len(self.batches)}: health check "
                        f"{'failed on ' + ', '.join(unhealthy) if unhealthy else 'passed'}")
        if unhealthy:
            raise RunStopped(f"the health check of batch {index + 1} failed on {', '.join(sorted(unhealthy))}")

    def _pause(self, index: int, go_on: bool) -> None:
        """Wait for the operator before the next batch, like ansible.builtin.pause."""
        count = len(self.batches)
        prompt = (f"alicloud.ecs.run: batch {index + 1}/{count} done. Press Enter to start batch {index + 2}, "
                  "or 'a' then Enter to stop here:\r\n")
        try:
            answer = display.prompt_until(prompt, complete_input=(b"\r", b"\n"), interrupt_input=(b"a",))
            if isinstance(answer, BaseException):
                raise answer
        except AnsiblePromptNoninteractive:
            if go_on:
                display.display(f"alicloud.ecs.run: not interactive; pause_continue is set, starting batch {index + 2}")
                return
            raise RunStopped(
                f"pause after batch {index + 1}: stdin is not interactive, so nobody can confirm the next batch; "
                f"the run stopped before batch {index + 2} of {count}. Run it from a terminal, or set "
                "pause_continue: true to continue without waiting") from None
        except AnsiblePromptInterrupt:
            raise RunStopped(f"the operator stopped the run after batch {index + 1}") from None

    def _rollback(self) -> None:
        """Run ``rollback`` on every instance of the batches that were started (their work may be half done)."""
        started = [Target(host, item["instance_id"], item["region"]) for host, item in self.results.items()
                   if item["status"] not in (SKIPPED, NOT_RUNNABLE)]
        display.display(f"alicloud.ecs.run: rolling back {len(started)} instance(s)")
        try:
            outcome = self.engine.run_all("rollback", self.args["rollback"], started, 0)
        except CloudError as error:
            display.warning(f"alicloud.ecs.run: rollback failed: {error}")
            outcome = {}
        finally:
            self.engine.close()
        for host, check in outcome.items():
            self.results[host]["rollback"] = {key: check[key] for key in ("status", "exit_code", "output", "invoke_id")}
