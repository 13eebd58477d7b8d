# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Planning for fleet runs (the ``alicloud.ecs.run`` action): targets, batches, rate control, results.

Nothing here calls the API, so every rule that decides what runs where and when can be tested
without a cloud or ansible: how percentages round, how batches are cut, when the error threshold
is passed, and what each host's fact and the play summary look like.
"""

from __future__ import annotations

import typing as t
from collections import Counter, deque
from dataclasses import dataclass, field

# RunCommand takes at most 100 instances per call (docs/api-contract.md#runcommand, InstanceIds.ExceedLimit).
MAX_PER_CALL = 100
SUCCESS = "Success"
# Our own statuses next to the API's InvocationStatus values.
SKIPPED = "Skipped"              # never launched: the run stopped first
HEALTH_FAILED = "HealthCheckFailed"  # the content succeeded, the batch's health check did not
NOT_RUNNABLE = "NotRunnable"     # RunCommand refused it: unknown, in another region, or not Running
NOT_STOPPED = "NotStopped"       # past its deadline, and still not ended a while after StopInvocation
REBOOTED = "Rebooted"            # the command exited 194 (Windows 3010): the agent reboots the instance
POWERED_OFF = "PoweredOff"       # the command exited 193 (Windows 3009): the agent powers the instance off
PENDING = "Pending"              # launched and not waited for (engine oos, wait: false): collected by a re-run
# The agent's own exit codes for "reboot / power off when I end" (aliyun_assist_client agent/taskengine/host/
# processor_unix.go and processor_windows.go); the instance goes down after the result was reported.
POWER_EXIT_CODES = {"RunShellScript": {193: POWERED_OFF, 194: REBOOTED}}
WINDOWS_POWER_EXIT_CODES = {3009: POWERED_OFF, 3010: REBOOTED}
DONE = (SUCCESS, REBOOTED, POWERED_OFF)  # the command did what it was asked: not a failure
PAUSE_CHOICES = ("none", "first", "every")
ENGINES = ("controller", "oos")
# The action's own options (the shared credential options are added by the action and the doc stub).
RUN_ARGUMENT_SPEC: dict[str, dict[str, t.Any]] = {
    "content": {"type": "str"},
    "script": {"type": "path"},
    "command_type": {"type": "str", "default": "RunShellScript",
                     "choices": ["RunShellScript", "RunBatScript", "RunPowerShellScript"]},
    "timeout": {"type": "int", "default": 600},
    "username": {"type": "str"},
    "working_dir": {"type": "str"},
    "instance_ids": {"type": "list", "elements": "str"},
    "instance_tags": {"type": "dict"},
    "concurrency": {"type": "raw", "default": "100%"},
    "max_errors": {"type": "raw", "default": 0},
    "batch": {"type": "int"},
    "batch_size": {"type": "raw"},
    "pause": {"type": "str", "default": "none", "choices": list(PAUSE_CHOICES)},
    "pause_continue": {"type": "bool", "default": False},
    "health_check": {"type": "str"},
    "rollback": {"type": "str"},
    "fail_when_stopped": {"type": "bool", "default": True},
    "read_output": {"type": "bool", "default": True},
    "engine": {"type": "str", "default": "controller", "choices": list(ENGINES)},
    "wait": {"type": "bool", "default": True},
    "oos_assume_role": {"type": "str"},
    "oos_run_label": {"type": "str"},
}
RUN_MUTUALLY_EXCLUSIVE = [("content", "script"), ("instance_ids", "instance_tags"), ("batch", "batch_size")]
RUN_REQUIRED_ONE_OF = [("content", "script")]


class PlanError(ValueError):
    """Bad input, found before any API call; the message names the option and the limit."""


@dataclass(frozen=True)
class Target:
    """One instance to run on, and the inventory host it stands for."""

    host: str
    instance_id: str
    region: str


@dataclass
class CommandSpec:
    """What one phase (the main command, a health check or the rollback) runs and how, whichever engine runs it:
    the controller's RunCommands or the OOS template's."""

    content: str
    command_type: str = "RunShellScript"
    timeout: int = 600
    username: str | None = None
    working_dir: str | None = None
    read_output: bool = True  # false: status and exit code only, from the polls (no read per command)


def parse_amount(value: t.Any, total: int, option: str, minimum: int = 0) -> int:
    """An absolute count from ``value``: a number, or ``"N%"`` of ``total`` rounded down.

    Rounding down keeps a percentage from ever allowing more than it says (10% of 15 is 1, not 2).
    """
    text = str(value).strip()
    number = text[:-1] if text.endswith("%") else text
    try:
        amount = float(number) if text.endswith("%") else int(number)
    except ValueError:
        raise PlanError(f"{option} must be a whole number or a percentage like '10%', got {value!r}") from None
    if text.endswith("%"):
        if not 0 <= amount <= 100:
            raise PlanError(f"{option} must be a percentage between 0% and 100%, got {value!r}")
        count = int(total * amount // 100)
    else:
        count = int(amount)
    if count < 0:
        raise PlanError(f"{option} must not be negative, got {value!r}")
    return max(minimum, count)


def plan_batches(total: int, batch: int | None = None, batch_size: t.Any = None) -> list[int]:
    """Sizes of the batches for ``total`` targets.

    ``batch`` is a number of batches (sizes differ by at most one, larger first); ``batch_size`` is
    one size or a list of sizes, each a number or a percentage of ``total``, the last one repeating.
    Neither: one batch with everything.
    """
    if total <= 0:
        return []
    if batch is not None and batch_size is not None:
        raise PlanError("batch and batch_size are mutually exclusive")
    if batch is not None:
        if int(batch) < 1:
            raise PlanError(f"batch must be at least 1, got {batch!r}")
        count = min(int(batch), total)
        return [total // count + (1 if index < total % count else 0) for index in range(count)]
    if batch_size is None:
        return [total]
    sizes = list(batch_size) if isinstance(batch_size, (list, tuple)) else [batch_size]
    if not sizes:
        raise PlanError("batch_size must not be an empty list")
    parsed = [parse_amount(size, total, "batch_size", minimum=1) for size in sizes]
    plan: list[int] = []
    left = total
    while left > 0:
        size = min(parsed[min(len(plan), len(parsed) - 1)], left)
        plan.append(size)
        left -= size
    return plan


def split_batches(targets: t.Sequence[Target], sizes: t.Sequence[int]) -> list[list[Target]]:
    batches: list[list[Target]] = []
    start = 0
    for size in sizes:
        batches.append(list(targets[start:start + size]))
        start += size
    return batches


def run_command_groups(items: t.Sequence[Target], size: int = MAX_PER_CALL) -> list[list[Target]]:
    """Groups of at most ``size`` targets of one region each: one RunCommand per group."""
    by_region: dict[str, list[Target]] = {}
    for item in items:
        by_region.setdefault(item.region, []).append(item)
    return [group[start:start + size] for group in by_region.values() for start in range(0, len(group), size)]


@dataclass
class ErrorBudget:
    """The run stops launching as soon as the number of failed instances EXCEEDS ``max_errors``.

    ``max_errors: 0`` stops at the first failure; ``max_errors: 2`` tolerates two and stops at the third.
    (AWS SSM's MaxErrors reads the same but lets one more failure happen before it stops; we do not.)
    """

    max_errors: int
    failed: set[str] = field(default_factory=set)

    def record(self, host: str) -> None:
        self.failed.add(host)

    @property
    def exceeded(self) -> bool:
        return len(self.failed) > self.max_errors


class Rollout:
    """Which targets of one batch to launch next, under ``concurrency`` and the error budget.

    The caller asks ``take()`` for work, launches it, and reports each instance's end with
    ``finish()``; once the budget is exceeded ``take()`` returns nothing more and the rest of the
    batch stays unlaunched.
    """

    def __init__(self, targets: t.Sequence[Target], concurrency: int, budget: ErrorBudget) -> None:
        self.pending: deque[Target] = deque(targets)
        self.in_flight: set[str] = set()
        self.concurrency = max(1, concurrency)
        self.budget = budget

    def take(self) -> list[Target]:
        if self.budget.exceeded:
            return []
        room = self.concurrency - len(self.in_flight)
        taken = [self.pending.popleft() for _index in range(min(room, len(self.pending)))]
        self.in_flight.update(target.host for target in taken)
        return taken

    def finish(self, host: str, succeeded: bool) -> None:
        self.in_flight.discard(host)
        if not succeeded:
            self.budget.record(host)

    @property
    def done(self) -> bool:
        """Nothing running and nothing more will be launched."""
        return not self.in_flight and (not self.pending or self.budget.exceeded)

    def skipped(self) -> list[Target]:
        return list(self.pending) if self.budget.exceeded else []


def host_result(target: Target, batch: int, status: str = SKIPPED, **details: t.Any) -> dict[str, t.Any]:
    """The per-host fact ``alicloud_run``: one shape for every host, launched or not."""
    return {
        "status": status, "exit_code": details.get("exit_code"), "output": details.get("output", ""),
        "dropped": details.get("dropped", 0), "error_code": details.get("error_code", ""),
        "error_info": details.get("error_info", ""), "invoke_id": details.get("invoke_id", ""),
        "instance_id": target.instance_id, "region": target.region, "batch": batch,
        "health_check": None, "rollback": None,
    }


def run_status(status: str, exit_code: t.Any, command_type: str) -> str:
    """A host's status from the API's InvocationStatus: a command that exited with the agent's reboot or
    power-off code is reported as that (the service records it Failed/ExitCodeNonzero), not as a failure."""
    codes = POWER_EXIT_CODES.get(command_type, WINDOWS_POWER_EXIT_CODES)
    if status == "Failed" and exit_code in codes:
        return codes[exit_code]
    return status


def summarize(results: t.Mapping[str, t.Mapping[str, t.Any]], invoke_ids: t.Sequence[str],
              batches: int, batches_done: int, stopped: str = "") -> dict[str, t.Any]:
    """The play summary: counts by status, host lists to branch on, invoke ids, how far it got."""
    return {
        "counts": dict(Counter(item["status"] for item in results.values())),
        "succeeded": sorted(host for host, item in results.items() if item["status"] in DONE),
        "failed": sorted(host for host, item in results.items() if item["status"] not in (*DONE, SKIPPED, PENDING)),
        "skipped": sorted(host for host, item in results.items() if item["status"] == SKIPPED),
        "rolled_back": sorted(host for host, item in results.items() if item["rollback"]),
        "invoke_ids": list(invoke_ids),
        "batches": batches,
        "batches_done": batches_done,
        "stopped": stopped,
    }


def compact_summary(summary: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """The part of the summary every host of a per-host run carries: no host lists, so that 10,000 hosts
    do not each hold 10,000 names (ansible's own PLAY RECAP and ``ansible_play_hosts`` tell who failed)."""
    return {key: summary[key] for key in ("counts", "batches", "batches_done", "stopped")}


def cause(result: t.Mapping[str, t.Any]) -> str:
    """Why one host's run did not succeed, in plain words."""
    instance, status, code = result["instance_id"], result["status"], result["error_code"]
    if status == NOT_RUNNABLE:
        return f"{result['error_info']}: RunCommand refused it ({code})"
    if status == NOT_STOPPED:
        return f"the command passed its deadline on instance {instance} and was stopped, but it was {result['error_info']}"
    if status == HEALTH_FAILED:
        check = result["health_check"] or {}
        return f"the command succeeded on instance {instance} but its health check exited {check.get('exit_code')}"
    if code == "ExitCodeNonzero":
        return f"the command exited {result['exit_code']} on instance {instance}"
    if status == "Timeout":
        return f"the command timed out on instance {instance}"
    if code in ("ClientNotResponse", "ClientNetworkBlocked", "ClientIsUpgrading", "ClientNeedUpgrade"):
        return f"the Cloud Assistant agent of instance {instance} did not take the command ({code}: {result['error_info']})"
    return f"instance {instance} ended {status}" + (f" ({code}: {result['error_info']})" if code else "")


def host_outcome(result: t.Mapping[str, t.Any], summary: t.Mapping[str, t.Any], fail_when_stopped: bool) -> dict[str, t.Any]:
    """One host's own task result: failed when its instance did not succeed, changed when the command ran.

    A host never started because the run stopped first fails too, unless ``fail_when_stopped`` is false:
    then it is reported skipped.
    """
    status = result["status"]
    outcome: dict[str, t.Any] = {
        **result, "changed": bool(result["invoke_id"]) and status not in (SKIPPED, NOT_RUNNABLE),
        "rc": result["exit_code"], "stdout": result["output"], "stdout_lines": result["output"].splitlines(),
        "summary": dict(summary)}
    if status == SUCCESS:
        outcome["msg"] = f"succeeded on instance {result['instance_id']}"
    elif status == PENDING:
        outcome["msg"] = (f"started on instance {result['instance_id']} by OOS execution {result['invoke_id']} "
                          "(wait: false); run the same task again to collect its result")
        outcome["failed"] = False  # said outright: its rc is not known yet
    elif status in (REBOOTED, POWERED_OFF):
        action = "reboots" if status == REBOOTED else "powers off"
        outcome["msg"] = (f"the command exited {result['exit_code']} on instance {result['instance_id']}: the Cloud "
                          f"Assistant agent {action} the instance")
        outcome["failed"] = False  # said outright: ansible fails a result whose rc is not 0 unless it is
    elif status == SKIPPED:
        outcome["msg"] = f"not started on instance {result['instance_id']}: the run stopped: {summary['stopped']}"
        outcome["failed" if fail_when_stopped else "skipped"] = True
    else:
        outcome.update(failed=True, msg=cause(result))
    return outcome


def check_engine(args: t.Mapping[str, t.Any]) -> None:
    """The options an engine cannot honour, refused before any call."""
    if args.get("engine", "controller") == "oos":
        needs_the_controller = any(args.get(option) for option in ("health_check", "rollback", "batch", "batch_size"))
        if not args.get("wait", True) and needs_the_controller:
            raise PlanError("wait: false starts the run and returns: it cannot take batch, batch_size, health_check "
                            "or rollback, which need the controller between batches")
        return
    for option in ("oos_assume_role", "oos_run_label"):
        if args.get(option) is not None:
            raise PlanError(f"{option} applies to engine: oos only")
    if not args.get("wait", True):
        raise PlanError("wait: false needs engine: oos (the controller engine's run ends with its controller)")


def check_pause(pause: str) -> None:
    if pause not in PAUSE_CHOICES:
        raise PlanError(f"pause must be one of {', '.join(PAUSE_CHOICES)}, got {pause!r}")


def pause_after(pause: str, index: int, batches: int) -> bool:
    """Whether to wait for the operator after batch ``index`` (0-based); never after the last one."""
    if index >= batches - 1:
        return False
    return pause == "every" or (pause == "first" and index == 0)
