"""The simulated Cloud Assistant agent: picks tasks up after a delivery delay, runs them, reports results."""
from __future__ import annotations

import logging
import re
import shlex
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from .cloud_assistant.results import Results
from .cloud_assistant.status import FILE_OUTCOMES
from .config import Options
from .faults import Faults
from .isolation import Sandbox
from .output import AgentOutput
from .procs import kill_process, kill_tree
from .runs import Run

LOG = logging.getLogger("emulator.agent")
# The agent's pattern (agent/taskengine/parameters/environment.go): spaces around "::", names of word characters,
# "-" and "."; ASCII only, as Go's \w.
BUILTIN = re.compile(r"\{\{\s*ACS\s*::\s*([A-Za-z0-9_.-]+)\s*\}\}")
POWER_EXIT_CODES = {193: "poweroff", 194: "reboot"}  # agent/taskengine/host/processor_unix.go, processor.go


class InvalidBuiltin(ValueError):
    """A ``{{ACS::name}}`` the agent does not know: the task is Invalid (the agent reports the parameter)."""


class ParameterFailure(ValueError):
    """The agent could not resolve an ``{{oos:…}}``/``{{oos-secret:…}}`` reference: the task is Invalid with
    ``code``, the agent's error name (RoleNameFailed, ParameterFailed), and its message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class ExitCodes:
    """ExitCode of runs the agent did not see end on their own (``--killed-exit-code``).

    ``agent`` (the default) follows the agent's source: a timeout reports 1 (agent/util/process/process.go kills
    the child and sets 1), StopInvocation reports 0 (basetask.go ``Cancel`` reports "stopped" with the exit code
    known so far, before killing), a process killed by a signal -1 (Go's ``ProcessState.ExitCode``). ⚠ Whether the
    server passes these through unchanged is not in the agent's source: an integer reports that value for all
    three (the emulator's earlier reading was -1).
    """

    def __init__(self, setting: str | int) -> None:
        text = str(setting).strip()
        if text == "agent":
            self.timeout, self.stopped, self.signalled = 1, 0, -1
        else:
            try:
                self.timeout = self.stopped = self.signalled = int(text)
            except ValueError:
                raise ValueError(f"killed_exit_code must be 'agent' or an integer, not {setting!r}") from None


class Agent:
    """One agent per emulator; each delivered task runs in its own thread, like the real agent's task pool."""

    def __init__(self, results: Results, lookup: Callable[[str], dict[str, Any] | None], sandbox: Sandbox,
                 options: Options, faults: Faults, runs_dir: Path) -> None:
        self.runs_dir = runs_dir  # one directory per running command (see runs.py): they outlive this process
        self.results = results
        self.faults = faults
        self.lookup = lookup
        self.sandbox = sandbox
        self.options = options
        self.run_listeners: list[Callable[[str, str, dict[str, Any]], None]] = []  # schedules
        self.power_listeners: list[Callable[[str, str], None]] = []  # (instance id, "poweroff"|"reboot")
        # (region, content) → (content with {{oos:…}}/{{oos-secret:…}} resolved, names a secret); set by app.py
        self.parameter_store: Callable[[str, bytes], tuple[bytes, bool]] | None = None
        self.shutting_down = False  # the emulator is stopping: killed tasks are interrupted, not failed
        self.exit_codes = ExitCodes(options.killed_exit_code)
        self._active: dict[str, int] = {}  # instance id → tasks running there (agent_concurrency)
        self._queued: dict[str, deque[Callable[[], None]]] = {}  # instance id → tasks waiting for a slot
        self._running: dict[tuple[str, str], tuple[Any, str, dict[str, Any]]] = {}  # (proc, script, task)
        self._lock = threading.Lock()

    def submit(self, invoke_id: str, instance_id: str, task: dict[str, Any]) -> None:
        """Deliver a task after the delay (per-instance fault or the default; a timer thread, so RunCommand returns
        at once)."""
        delay = self.faults.delivery_delay(instance_id, self.options.delivery_delay)
        timer = threading.Timer(delay, self._deliver, (invoke_id, instance_id, task))
        timer.daemon = True
        timer.start()

    def stop(self, invoke_id: str, instance_id: str) -> None:
        """Kill the running process of a task (StopInvocation after Running → Stopping)."""
        with self._lock:
            running = self._running.get((invoke_id, instance_id))
        if running is not None:
            terminate(*running)

    def kill_all(self) -> None:
        """Kill every running command with all it started (the emulator stops cleanly, or is reset)."""
        with self._lock:
            running = list(self._running.values())
            for waiting in self._queued.values():
                waiting.clear()
        for run, _script, _task in running:
            kill_tree(run.pid)

    def _deliver(self, invoke_id: str, instance_id: str, task: dict[str, Any]) -> None:
        try:
            self._deliver_task(invoke_id, instance_id, task)
        finally:
            if task.get("due"):  # a run of a schedule ended (or could not start): the schedule decides what next
                for listener in self.run_listeners:
                    listener(invoke_id, instance_id, task)

    def _deliver_task(self, invoke_id: str, instance_id: str, task: dict[str, Any]) -> None:
        deadline = time.monotonic() + self.options.delivery_timeout
        while True:
            inst = self.lookup(instance_id)
            if inst is None or inst["status"] != "Running":
                self.results.reject(invoke_id, instance_id, "Aborted", "InstanceNotRunning")
                return
            if inst["agent"] == "online":
                break
            if time.monotonic() >= deadline:
                self.results.reject(invoke_id, instance_id, "Aborted", "ClientNotResponse")
                return
            time.sleep(0.05)
        if task.get("repeat_mode", "Once") != "Once" and not task.get("due"):
            self.results.arm(invoke_id, instance_id)  # scheduled: waits for its time or a reboot
            return
        if task["kind"] == "file":  # the agent writes files in its fetch loop, outside the task pool
            if self.results.claim(invoke_id, instance_id):
                self._execute(invoke_id, inst, task)
            return
        if not self._enter_pool(instance_id, partial(self._start, invoke_id, instance_id, task)):
            self.results.reject(invoke_id, instance_id, "Aborted", "TaskConcurrencyLimit",
                                waiting=("Pending", "Scheduled"))

    def _start(self, invoke_id: str, instance_id: str, task: dict[str, Any]) -> None:
        """A pool worker takes the task: it may have been cancelled, or its instance stopped, while it waited."""
        inst = self.lookup(instance_id)
        if inst is None or inst["status"] != "Running":
            self.results.reject(invoke_id, instance_id, "Aborted", "InstanceNotRunning",
                                waiting=("Pending", "Scheduled"))
            return
        if self.results.claim(invoke_id, instance_id):  # False: cancelled before it started
            self._execute(invoke_id, inst, task)

    def _enter_pool(self, instance_id: str, job: Callable[[], None]) -> bool:
        """The agent's task pool (agent/taskengine/taskpool.go): ``agent_concurrency`` workers (10) take tasks
        from a queue of 50; when the queue is full the dispatcher waits, so a task is never aborted there and
        later ones wait in turn (FIFO). The task stays Pending while it waits; its Timeout counts from its start.
        ``agent_queue`` > 0 is the other reading ⚠: a task finding that many already waiting is
        Aborted/TaskConcurrencyLimit (a limit the server may apply; not in the agent's source). Runs ``job`` (and
        then whatever queued behind it) in the calling thread; False when the task was refused."""
        with self._lock:
            waiting = self._queued.setdefault(instance_id, deque())
            if self._active.get(instance_id, 0) >= self.options.agent_concurrency:
                if 0 < self.options.agent_queue <= len(waiting):
                    return False
                waiting.append(job)
                return True
            self._active[instance_id] = self._active.get(instance_id, 0) + 1
        self._work(instance_id, job)
        return True

    def _work(self, instance_id: str, job: Callable[[], None] | None) -> None:
        """A worker of the pool: run ``job``, then the queued tasks of the instance, then free the slot."""
        while job is not None:
            try:
                job()
            except Exception:  # the agent must always report; never leave a task Running
                LOG.exception("task on %s failed", instance_id)
            job = self._next_job(instance_id)

    def _next_job(self, instance_id: str) -> Callable[[], None] | None:
        """The next queued task of the instance, or None after freeing the worker's slot."""
        with self._lock:
            waiting = self._queued.get(instance_id)
            if waiting:
                return waiting.popleft()
            self._active[instance_id] -= 1
            return None

    def _execute(self, invoke_id: str, inst: dict[str, Any], task: dict[str, Any]) -> None:
        try:
            if task["kind"] == "file":
                self._send_file(invoke_id, inst, task)
            else:
                self._run(invoke_id, inst, task)
        except Exception as exc:  # the agent must always report; never leave a task Running
            LOG.exception("task %s on %s failed", invoke_id, inst["id"])
            self.results.finish(invoke_id, inst["id"], "Error", error_code="ExecutionException",
                                output=str(exc).encode())

    def _run(self, invoke_id: str, inst: dict[str, Any], task: dict[str, Any]) -> None:
        iid = inst["id"]
        if inst["os_type"] != "linux" or task["type"] != "RunShellScript":
            self.results.finish(invoke_id, iid, "Invalid", error_code="CommandNotApplicable")
            return
        try:
            content = substitute(task["content"], inst, invoke_id, task)
        except InvalidBuiltin as exc:
            self.results.finish(invoke_id, iid, "Invalid", error_code="InvalidEnvironmentParameter",
                                error_info=str(exc))
            return
        try:
            content, secret = self._resolve_store(inst, task, content)
        except ParameterFailure as exc:
            self.results.finish(invoke_id, iid, "Invalid", error_code=exc.code, error_info=str(exc))
            return
        task = {**task, "script_secret": True} if secret else task
        user = task["username"]
        script = self.sandbox.script_path(inst, invoke_id, user)
        verdict, place = self.sandbox.prepare(inst, user, task["working_dir"], script, content)
        if verdict != "OK":
            status = "Invalid" if verdict in ("AccountNotExists", "DirectoryNotExists") else "Error"
            self.results.finish(invoke_id, iid, status, error_code=verdict)
            return
        started = time.time()
        run = Run.start(self.runs_dir / f"{invoke_id}.{iid}",
                        lambda directory: self.sandbox.spawn(inst, user, place, script, directory),
                        {"invoke_id": invoke_id, "instance_id": iid, "script": script, "started": started,
                         "timeout": task["timeout"], "termination_mode": task.get("termination_mode", ""),
                         "repeat_mode": task.get("repeat_mode", "Once")})
        self._follow(invoke_id, iid, run, script, task, started + task["timeout"])

    def _follow(self, invoke_id: str, iid: str, run: Run, script: str, task: dict[str, Any], deadline: float) -> None:
        """Watch a run to its end (publishing output, killing it at the deadline) and report it."""
        with self._lock:
            self._running[(invoke_id, iid)] = (run, script, task)
        row = self.results.get(invoke_id, iid)
        if row is not None and row["status"] == "Stopping":  # StopInvocation came between claim and spawn
            terminate(run, script, task)
        # periodic runs do not stream (basetask.go: no running output when the task has a cron/rate/at)
        output = AgentOutput(self.options.output_limit, streaming=task.get("repeat_mode") != "Period")
        ended = threading.Event()
        reader = threading.Thread(target=run.follow, args=(output.add, ended), daemon=True)
        reader.start()
        timed_out = self._wait((run, script, task), invoke_id, iid, output, deadline)
        ended.set()
        reader.join(timeout=5)
        with self._lock:
            self._running.pop((invoke_id, iid), None)
        code = run.returncode
        if task.get("script_secret"):
            self._remove_script(iid, script)
        self._report(invoke_id, iid, code, *output.final(), timed_out, deadline)
        run.discard()
        if not timed_out and code in POWER_EXIT_CODES and self._ended_normally(invoke_id, iid):
            for listener in self.power_listeners:  # after the report, as the agent's SideEffect
                listener(iid, POWER_EXIT_CODES[code])

    def _resolve_store(self, inst: dict[str, Any], task: dict[str, Any], content: bytes) -> tuple[bytes, bool]:
        """After the built-ins, with EnableParameter only, as the agent does (taskengine: ResolveBuiltinParameters,
        then ReplaceAllParameterStore); (content, whether it named an oos-secret)."""
        if not task.get("enable_parameter") or self.parameter_store is None:
            return content, False
        return self.parameter_store(inst["region"], content)

    def _remove_script(self, iid: str, script: str) -> None:
        """The agent deletes its script copy of content that named an oos-secret (the resolved value is in it)."""
        inst = self.lookup(iid)
        if inst is not None:
            self.sandbox.exec(inst, f"rm -f {shlex.quote(script)}")

    def _ended_normally(self, invoke_id: str, iid: str) -> bool:
        """The run was not stopped and its instance is still up (a power exit code acts only then)."""
        row = self.results.get(invoke_id, iid)
        inst = self.lookup(iid)
        return (row is not None and row["status"] == "Failed" and inst is not None and inst["status"] == "Running"
                and not self.shutting_down)

    def resume(self) -> set[tuple[str, str]]:
        """After an emulator restart: follow on the commands an earlier process started that are still running
        (or ended while nobody watched). Returns their (invoke id, instance id); the rest is left to be marked
        interrupted."""
        resumed: set[tuple[str, str]] = set()
        if not self.runs_dir.is_dir():
            return resumed
        for directory in sorted(self.runs_dir.iterdir()):
            adopted = Run.adopt(directory)
            row = self.results.get(adopted[1]["invoke_id"], adopted[1]["instance_id"]) if adopted else None
            if adopted is None or row is None or row["status"] not in ("Running", "Stopping"):
                Run(directory, 0, None).discard()
                continue
            run, meta = adopted
            key = (meta["invoke_id"], meta["instance_id"])
            task = {"timeout": meta["timeout"], "termination_mode": meta["termination_mode"],
                    "repeat_mode": meta.get("repeat_mode", "Once")}
            with self._lock:
                self._active[key[1]] = self._active.get(key[1], 0) + 1
            threading.Thread(target=self._work, args=(key[1], partial(self._follow_adopted, key, run, meta, task)),
                             daemon=True).start()
            resumed.add(key)
        return resumed

    def _follow_adopted(self, key: tuple[str, str], run: Run, meta: dict[str, Any], task: dict[str, Any]) -> None:
        try:
            self._follow(key[0], key[1], run, meta["script"], task, meta["started"] + meta["timeout"])
        except Exception:  # the agent must always report; never leave a task Running
            LOG.exception("resumed task %s on %s failed", *key)
            self.results.finish(key[0], key[1], "Error", error_code="ExecutionException")

    def _wait(self, running: tuple[Any, str, dict[str, Any]], invoke_id: str, iid: str, output: AgentOutput,
              deadline: float) -> bool:
        """Wait for exit, publishing running output every ``progress_interval`` (the agent's ticker); kill per
        TerminationMode at the deadline."""
        proc = running[0]
        while True:
            remaining = deadline - time.time()
            if remaining <= 0:
                terminate(*running)
                proc.wait()
                return True
            try:
                proc.wait(timeout=min(remaining, self.options.progress_interval))
                return False
            except subprocess.TimeoutExpired:  # still running: one running report
                head = output.tick()
                if head is not None:
                    self.results.progress(invoke_id, iid, head, 0)

    def _report(self, invoke_id: str, iid: str, code: int, output: bytes, dropped: int, timed_out: bool,
                deadline: float) -> None:
        codes = self.exit_codes
        inst = self.lookup(iid)
        row = self.results.get(invoke_id, iid)
        if row is not None and row["status"] == "Stopping":  # ends Terminated (results.finish) with the stop's code
            self.results.finish(invoke_id, iid, "Terminated", exit_code=codes.stopped, output=output,
                                dropped=dropped)
        elif timed_out:
            self.results.finish(invoke_id, iid, "Timeout", exit_code=codes.timeout, output=output, dropped=dropped,
                                error_code="ExecutionTimeout", finished=deadline)
        elif inst is None or inst["status"] != "Running" or self.shutting_down:
            self.results.finish(invoke_id, iid, "Error", exit_code=codes.signalled, output=output, dropped=dropped,
                                error_code="ExecutionInterrupted")
        elif code == 0:
            self.results.finish(invoke_id, iid, "Success", output=output, dropped=dropped)
        else:
            self.results.finish(invoke_id, iid, "Failed", exit_code=codes.signalled if code < 0 else code,
                                output=output, dropped=dropped, error_code="ExitCodeNonzero")

    def _send_file(self, invoke_id: str, inst: dict[str, Any], task: dict[str, Any]) -> None:
        name = task["name"]
        if "/" in name or name in (".", ".."):
            verdict = "FileNameInvalid"
        else:
            verdict = self.sandbox.write_file(inst, task["target_dir"], name, task["data"], task["file_mode"],
                                              task["owner"], task["group"], task["overwrite"])
        status, code, info = FILE_OUTCOMES.get(verdict, FILE_OUTCOMES["FileCreateFail"])
        self.results.finish(invoke_id, inst["id"], status, error_code=code, error_info=info)


def terminate(proc: Any, script: str, task: dict[str, Any]) -> None:
    """Timeout or StopInvocation: ``ProcessTree`` kills all the script started, ``Process`` (the default, ⚠
    docs/api-contract.md#runcommand) only the agent's direct child, ``sh -c <script>`` or the interpreter it became (the agent's
    ``Process.Kill``, agent/util/process/process.go); its background children keep running."""
    if task.get("termination_mode") == "ProcessTree":
        kill_tree(proc.pid)
    else:
        kill_process(proc.pid, script)


def substitute(content: bytes, inst: dict[str, Any], invoke_id: str, task: dict[str, Any]) -> bytes:
    """Replace the built-in ``{{ACS::…}}`` parameters the agent resolves itself (docs/api-contract.md#command-parameters); an unknown name
    raises InvalidBuiltin, as the agent refuses the whole task (parameters/environment.go)."""
    if not task.get("enable_parameter"):
        return content
    values = {"RegionId": inst["region"], "InstanceId": inst["id"], "InstanceName": inst["name"],
              "InvokeId": invoke_id, "CommandId": task.get("command_id", ""), "AccountId": "1234567890123456"}
    text = content.decode("utf-8", errors="surrogateescape")
    unknown = [m.group(1) for m in BUILTIN.finditer(text) if m.group(1) not in values]
    if unknown:
        raise InvalidBuiltin(f"The environment parameter {unknown[0]} is invalid")
    text = BUILTIN.sub(lambda m: values[m.group(1)], text)
    return text.encode("utf-8", errors="surrogateescape")
