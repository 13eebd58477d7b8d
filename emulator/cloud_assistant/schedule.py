"""Scheduled invocations: RepeatMode Period (rate/at/cron, docs/api-contract.md#schedules) and NextRebootOnly/EveryReboot (driven
by RebootInstance). A task is armed (Scheduled) when its agent receives it; each due run is handed to the agent
again; after a run the task is re-armed while its schedule goes on. StopInvocation (Scheduled → Cancelled) ends it."""
from __future__ import annotations

import json
import threading
import time
from typing import Any

from ..agent import Agent
from ..config import Options
from ..store import Store
from .frequency import Schedule, parse
from .models import task_from
from .results import Results

TICK = 0.1  # seconds between due-time checks


class Scheduler:
    """One thread for every Period task; reboot tasks are started by the boot listener."""

    def __init__(self, store: Store, results: Results, agent: Agent, options: Options) -> None:
        self.store = store
        self.results = results
        self.agent = agent
        self.options = options
        self._due: dict[tuple[str, str], float | None] = {}  # None: a run is in flight
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)
        agent.run_listeners.append(self._after_run)

    def start(self) -> None:
        """Begin checking due times (after a restart the next due time is recomputed from now)."""
        self._thread.start()

    def shutdown(self) -> None:
        """Stop the thread."""
        self._stop.set()

    def _schedule(self, data: dict[str, Any]) -> Schedule:
        return parse(data["frequency"], data["timeout"], time.time(), self.options.period_min, check=False)

    def _armed(self, modes: tuple[str, ...], instance_id: str | None = None) -> list[tuple[str, str, dict[str, Any]]]:
        sql = ("SELECT r.invoke_id, r.instance_id, i.kind, i.data FROM results r JOIN invocations i "
               "ON i.id = r.invoke_id WHERE r.status = 'Scheduled'")
        args: list[Any] = []
        if instance_id:
            sql, args = sql + " AND r.instance_id = ?", [instance_id]
        rows = []
        for row in self.store.query(sql, args):
            data = json.loads(row["data"])
            if data.get("repeat_mode") in modes:
                rows.append((row["invoke_id"], row["instance_id"], data))
        return rows

    def _loop(self) -> None:
        while not self._stop.wait(TICK):
            now = time.time()
            for invoke_id, instance_id, data in self._armed(("Period",)):
                key = (invoke_id, instance_id)
                with self._lock:
                    if key not in self._due:
                        self._due[key] = self._schedule(data).first(now)
                    due = self._due[key]
                    if due is None or due > now:
                        continue
                    self._due[key] = None
                self._fire(invoke_id, instance_id, data)

    def _fire(self, invoke_id: str, instance_id: str, data: dict[str, Any]) -> None:
        self.agent.submit(invoke_id, instance_id, {**task_from("command", data), "due": True})

    def on_boot(self, instance_id: str, how: str) -> None:
        """Power listener: a (re)boot runs the instance's NextRebootOnly/EveryReboot tasks (⚠ StartInstance after a
        stop counts as a boot too)."""
        del how
        for invoke_id, iid, data in self._armed(("NextRebootOnly", "EveryReboot"), instance_id):
            self._fire(invoke_id, iid, data)

    def _after_run(self, invoke_id: str, instance_id: str, task: dict[str, Any]) -> None:
        mode = task.get("repeat_mode")
        if mode == "Period":
            data = {"frequency": task["frequency"], "timeout": task["timeout"]}
            following = self._schedule(data).following(time.time())
            self.results.record_run(invoke_id, instance_id, again=following is not None)
            with self._lock:
                if following is None:
                    self._due.pop((invoke_id, instance_id), None)
                else:
                    self._due[(invoke_id, instance_id)] = following
        else:
            self.results.record_run(invoke_id, instance_id, again=mode == "EveryReboot")
