"""Per-instance result rows and their allowed transitions (compare-and-set, so agent and API never race)."""
from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from ..store import Store
from .status import ERROR_INFO


ROW_COLUMNS = ("seq", "invoke_id", "instance_id", "status", "exit_code", "output", "dropped", "error_code", "error_info",
               "repeats", "created", "started", "updated", "finished", "stopped")


class Results:
    """The only writer of the ``results`` table; every transition names the states it may start from."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def create(self, invoke_id: str, instance_ids: Iterable[str], now: float) -> None:
        """One Pending row per target instance."""
        self.store.executemany("INSERT INTO results(invoke_id, instance_id, status, created, updated) "
                               "VALUES (?, ?, 'Pending', ?, ?)", [(invoke_id, i, now, now) for i in instance_ids])

    def dry_run(self, invoke_id: str, now: float) -> None:
        """RepeatMode=DryRun: every record ends at once ``Success``, Repeats 0, no output (⚠ docs/api-contract.md#open-points leaves
        the per-instance outcome open; a fixed answer keeps pollers deterministic)."""
        self.store.execute("UPDATE results SET status='Success', finished=?, updated=? WHERE invoke_id=?",
                           (now, now, invoke_id))

    def claim(self, invoke_id: str, instance_id: str) -> bool:
        """Agent starts a run: Pending (or Scheduled, for a due run of a schedule) → Running; Repeats + 1. False if
        it was cancelled meanwhile."""
        now = time.time()
        return self.store.execute("UPDATE results SET status='Running', started=?, updated=?, finished=NULL, "
                                  "repeats=repeats+1 WHERE invoke_id=? AND instance_id=? "
                                  "AND status IN ('Pending', 'Scheduled')", (now, now, invoke_id, instance_id)) == 1

    def arm(self, invoke_id: str, instance_id: str) -> bool:
        """A scheduled task reached its agent: Pending → Scheduled (waits for its time or a reboot)."""
        return self.store.execute("UPDATE results SET status='Scheduled', updated=? WHERE invoke_id=? AND "
                                  "instance_id=? AND status='Pending'", (time.time(), invoke_id, instance_id)) == 1

    def record_run(self, invoke_id: str, instance_id: str, again: bool) -> None:
        """A run of a schedule ended: keep it in the history (IncludeHistory); ``again`` re-arms the task
        (Scheduled) unless it was stopped."""
        with self.store.transaction():
            row = self.get(invoke_id, instance_id)
            if row is None or row["status"] in ("Pending", "Scheduled", "Running", "Stopping"):
                return
            self.store.execute(
                "INSERT INTO history(invoke_id, instance_id, status, exit_code, output, dropped, error_code, "
                "error_info, repeats, started, finished, stopped) SELECT invoke_id, instance_id, status, exit_code, "
                "output, dropped, error_code, error_info, repeats, started, finished, stopped FROM results "
                "WHERE invoke_id=? AND instance_id=?", (invoke_id, instance_id))
            if again and row["status"] not in ("Terminated", "Cancelled"):
                self.store.execute("UPDATE results SET status='Scheduled', updated=? WHERE invoke_id=? AND "
                                   "instance_id=?", (time.time(), invoke_id, instance_id))

    def history(self, invoke_id: str, instance_id: str) -> list[dict[str, Any]]:
        """Past runs of a scheduled task, oldest first."""
        return self.store.query("SELECT * FROM history WHERE invoke_id=? AND instance_id=? ORDER BY seq",
                                (invoke_id, instance_id))

    def progress(self, invoke_id: str, instance_id: str, output: bytes, dropped: int) -> None:
        """Publish partial output of a running command (the real agent streams it every ~3 s)."""
        self.store.execute("UPDATE results SET output=?, dropped=?, updated=? WHERE invoke_id=? AND instance_id=? "
                           "AND status IN ('Running', 'Stopping')",
                           (output, dropped, time.time(), invoke_id, instance_id))

    def finish(self, invoke_id: str, instance_id: str, status: str, *, exit_code: int = 0, output: bytes = b"",
               dropped: int = 0, error_code: str = "", finished: float | None = None,
               error_info: str | None = None) -> None:
        """Final report of a started task; a task being stopped ends Terminated whatever the process did."""
        now = time.time()
        info = ERROR_INFO.get(error_code, "") if error_info is None else error_info
        with self.store.transaction():
            row = self.get(invoke_id, instance_id)
            if row is None or row["status"] not in ("Running", "Stopping"):
                return
            if row["status"] == "Stopping":
                status, error_code, info = "Terminated", "ExecutionInterrupted", ERROR_INFO["ExecutionInterrupted"]
            self.store.execute(
                "UPDATE results SET status=?, exit_code=?, output=?, dropped=?, error_code=?, error_info=?, "
                "finished=?, updated=? WHERE invoke_id=? AND instance_id=?",
                (status, exit_code, output, dropped, error_code, info, finished or now, now, invoke_id, instance_id))

    def reject(self, invoke_id: str, instance_id: str, status: str, error_code: str,
               error_info: str | None = None, waiting: tuple[str, ...] = ("Pending",)) -> bool:
        """A task that is not running ends (Aborted/Invalid, or Cancelled from Pending/Scheduled)."""
        info = ERROR_INFO.get(error_code, "") if error_info is None else error_info
        marks = ",".join("?" * len(waiting))
        return self.store.execute(
            "UPDATE results SET status=?, error_code=?, error_info=?, updated=? "
            f"WHERE invoke_id=? AND instance_id=? AND status IN ({marks})",
            (status, error_code, info, time.time(), invoke_id, instance_id, *waiting)) == 1

    def request_stop(self, invoke_id: str, instance_id: str) -> bool:
        """StopInvocation on a running task: Running → Stopping (the agent then kills it)."""
        now = time.time()
        return self.store.execute("UPDATE results SET status='Stopping', stopped=?, updated=? "
                                  "WHERE invoke_id=? AND instance_id=? AND status='Running'",
                                  (now, now, invoke_id, instance_id)) == 1

    def mark_stop_time(self, invoke_id: str, instance_id: str) -> None:
        """StopTime = when StopInvocation was called (docs/api-contract.md#describeinvocationresults)."""
        self.store.execute("UPDATE results SET stopped=? WHERE invoke_id=? AND instance_id=?",
                           (time.time(), invoke_id, instance_id))

    def get(self, invoke_id: str, instance_id: str) -> dict[str, Any] | None:
        """One row."""
        return self.store.one("SELECT * FROM results WHERE invoke_id=? AND instance_id=?", (invoke_id, instance_id))

    def for_invokes(self, invoke_ids: list[str], with_output: bool = True) -> dict[str, list[dict[str, Any]]]:
        """Rows grouped by invocation, in target order (without their output unless ``with_output``)."""
        out: dict[str, list[dict[str, Any]]] = {i: [] for i in invoke_ids}
        columns = "*" if with_output else ", ".join(column for column in ROW_COLUMNS if column != "output")
        for chunk in range(0, len(invoke_ids), 500):
            ids = invoke_ids[chunk:chunk + 500]
            marks = ",".join("?" * len(ids))
            for row in self.store.query(f"SELECT {columns} FROM results WHERE invoke_id IN ({marks}) ORDER BY seq", ids):
                out[row["invoke_id"]].append(row)
        return out

    def outputs(self, seqs: list[int]) -> dict[int, bytes]:
        """The output of each result row named by ``seq`` (rows read without it)."""
        found: dict[int, bytes] = {}
        for chunk in range(0, len(seqs), 500):
            ids = seqs[chunk:chunk + 500]
            marks = ",".join("?" * len(ids))
            found.update((row["seq"], row["output"])
                         for row in self.store.query(f"SELECT seq, output FROM results WHERE seq IN ({marks})", ids))
        return found

    def interrupted_at_restart(self, resumed: set[tuple[str, str]]) -> list[dict[str, Any]]:
        """After a restart: running tasks that lost their process (not ``resumed``) → Error; pending ones are
        returned for re-delivery."""
        now = time.time()
        for row in self.store.query("SELECT invoke_id, instance_id FROM results WHERE status IN ('Running', 'Stopping')"):
            if (row["invoke_id"], row["instance_id"]) in resumed:
                continue
            self.store.execute("UPDATE results SET status='Error', error_code='ExecutionInterrupted', error_info=?, "
                               "finished=?, updated=? WHERE invoke_id=? AND instance_id=? AND status IN "
                               "('Running', 'Stopping')",
                               (ERROR_INFO["ExecutionInterrupted"], now, now, row["invoke_id"], row["instance_id"]))
        return self.store.query("SELECT invoke_id, instance_id FROM results WHERE status='Pending' ORDER BY seq")
