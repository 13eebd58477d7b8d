"""The simulated Cloud Assistant agent: picks tasks up after a delivery delay, runs them, reports results."""
from __future__ import annotations

import logging
import re
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .cloud_assistant.results import Results
from .cloud_assistant.status import FILE_OUTCOMES
from .config import Options
from .faults import Faults
from .isolation import Sandbox
from .procs import kill_process, kill_tree
from .runs import Run

LOG = logging.getLogger("emulator.agent")
BUILTIN = re.compile(r"\{\{\s*(ACS::[A-Za-z]+)\s*\}\}")


class TailBuffer:
    """Keeps the last ``limit`` bytes of one output stream and counts what fell off the front (Dropped)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()
        self.total = 0
        self.lock = threading.Lock()

    def add(self, chunk: bytes) -> None:
        """Take the next bytes of the stream."""
        with self.lock:
            self.total += len(chunk)
            self.data += chunk
            if len(self.data) > self.limit:
                del self.data[:len(self.data) - self.limit]

    def snapshot(self) -> tuple[bytes, int]:
        """(tail, dropped) right now."""
        with self.lock:
            return bytes(self.data), self.total - len(self.data)


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
        self.shutting_down = False  # the emulator is stopping: killed tasks are interrupted, not failed
        self._active: dict[str, int] = {}  # instance id → tasks running there (agent_concurrency)
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
        if not self._take_slot(instance_id):
            self.results.reject(invoke_id, instance_id, "Aborted", "TaskConcurrencyLimit",
                                waiting=("Pending", "Scheduled"))
            return
        try:
            if self.results.claim(invoke_id, instance_id):  # False: cancelled before delivery
                self._execute(invoke_id, inst, task)
        finally:
            with self._lock:
                self._active[instance_id] -= 1

    def _take_slot(self, instance_id: str) -> bool:
        """Count a task against the instance's ``agent_concurrency``; False when the agent is already full (the
        real agent aborts such a task with TaskConcurrencyLimit, contract §3.5, rather than queueing it ⚠)."""
        with self._lock:
            if self._active.get(instance_id, 0) >= self.options.agent_concurrency:
                return False
            self._active[instance_id] = self._active.get(instance_id, 0) + 1
            return True

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
        workdir = task["working_dir"] or self.sandbox.default_workdir(inst)
        script = self.sandbox.script_path(inst, invoke_id)
        content = substitute(task["content"], inst, invoke_id, task)
        verdict = self.sandbox.prepare(inst, task["username"], workdir, script, content)
        if verdict != "OK":
            status = "Invalid" if verdict in ("AccountNotExists", "DirectoryNotExists") else "Error"
            self.results.finish(invoke_id, iid, status, error_code=verdict)
            return
        started = time.time()
        run = Run.start(self.runs_dir / f"{invoke_id}.{iid}",
                        lambda directory: self.sandbox.spawn(inst, task["username"], workdir, script, directory),
                        {"invoke_id": invoke_id, "instance_id": iid, "script": script, "started": started,
                         "timeout": task["timeout"], "termination_mode": task.get("termination_mode", "")})
        self._follow(invoke_id, iid, run, script, task, started + task["timeout"])

    def _follow(self, invoke_id: str, iid: str, run: Run, script: str, task: dict[str, Any], deadline: float) -> None:
        """Watch a run to its end (publishing output, killing it at the deadline) and report it."""
        with self._lock:
            self._running[(invoke_id, iid)] = (run, script, task)
        row = self.results.get(invoke_id, iid)
        if row is not None and row["status"] == "Stopping":  # StopInvocation came between claim and spawn
            terminate(run, script, task)
        buffer = TailBuffer(self.options.output_limit)
        ended = threading.Event()
        reader = threading.Thread(target=run.follow, args=(buffer.add, ended), daemon=True)
        reader.start()
        timed_out = self._wait((run, script, task), invoke_id, iid, buffer, deadline)
        ended.set()
        reader.join(timeout=5)
        with self._lock:
            self._running.pop((invoke_id, iid), None)
        output, dropped = buffer.snapshot()
        self._report(invoke_id, iid, run.returncode, output, dropped, timed_out, deadline)
        run.discard()

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
            task = {"timeout": meta["timeout"], "termination_mode": meta["termination_mode"]}
            with self._lock:
                self._active[key[1]] = self._active.get(key[1], 0) + 1
            threading.Thread(target=self._follow_adopted, args=(key, run, meta, task), daemon=True).start()
            resumed.add(key)
        return resumed

    def _follow_adopted(self, key: tuple[str, str], run: Run, meta: dict[str, Any], task: dict[str, Any]) -> None:
        try:
            self._follow(key[0], key[1], run, meta["script"], task, meta["started"] + meta["timeout"])
        except Exception:  # the agent must always report; never leave a task Running
            LOG.exception("resumed task %s on %s failed", *key)
            self.results.finish(key[0], key[1], "Error", error_code="ExecutionException")
        finally:
            with self._lock:
                self._active[key[1]] -= 1

    def _wait(self, running: tuple[Any, str, dict[str, Any]], invoke_id: str, iid: str, buffer: TailBuffer,
              deadline: float) -> bool:
        """Wait for exit, publishing partial output; kill per TerminationMode at the deadline."""
        proc = running[0]
        published = (b"", 0)
        while True:
            remaining = deadline - time.time()
            if remaining <= 0:
                terminate(*running)
                proc.wait()
                return True
            try:
                proc.wait(timeout=min(remaining, self.options.progress_interval))
                return False
            except subprocess.TimeoutExpired:  # still running: publish partial output
                current = buffer.snapshot()
                if current != published:
                    self.results.progress(invoke_id, iid, *current)
                    published = current

    def _report(self, invoke_id: str, iid: str, code: int, output: bytes, dropped: int, timed_out: bool,
                deadline: float) -> None:
        killed = self.options.killed_exit_code
        inst = self.lookup(iid)
        if timed_out:
            self.results.finish(invoke_id, iid, "Timeout", exit_code=killed, output=output, dropped=dropped,
                                error_code="ExecutionTimeout", finished=deadline)
        elif inst is None or inst["status"] != "Running" or self.shutting_down:
            self.results.finish(invoke_id, iid, "Error", exit_code=killed, output=output, dropped=dropped,
                                error_code="ExecutionInterrupted")
        elif code == 0:
            self.results.finish(invoke_id, iid, "Success", output=output, dropped=dropped)
        else:
            self.results.finish(invoke_id, iid, "Failed", exit_code=killed if code < 0 else code, output=output,
                                dropped=dropped, error_code="ExitCodeNonzero")

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
    """Timeout or StopInvocation: ``ProcessTree`` kills all the script started, ``Process`` (the default, ⚠ contract
    §2.1) only the script's shell; its background children keep running."""
    if task.get("termination_mode") == "ProcessTree":
        kill_tree(proc.pid)
    else:
        kill_process(proc.pid, ["/bin/sh", script])


def substitute(content: bytes, inst: dict[str, Any], invoke_id: str, task: dict[str, Any]) -> bytes:
    """Replace the built-in ``{{ACS::…}}`` parameters the agent resolves itself (contract §2.15)."""
    if not task.get("enable_parameter"):
        return content
    values = {"ACS::RegionId": inst["region"], "ACS::InstanceId": inst["id"], "ACS::InstanceName": inst["name"],
              "ACS::InvokeId": invoke_id, "ACS::CommandId": task.get("command_id", ""),
              "ACS::AccountId": "1234567890123456"}
    text = content.decode("utf-8", errors="surrogateescape")
    text = BUILTIN.sub(lambda m: values.get(m.group(1), m.group(0)), text)
    return text.encode("utf-8", errors="surrogateescape")
