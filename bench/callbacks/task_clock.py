"""ansible callback for the task benchmark: wall time and API calls of every task, as JSON lines.

A task's span runs from its start to the next task's start (the last one's to the end of the play), so
the controller's own work between tasks counts as it does in a real playbook while ansible's start-up
does not count at all. API calls are the change in the emulator's counters over the same span, by
action (read from BENCH_EMULATOR_ENDPOINT between tasks, outside the timed spans, with the control API's token
from ALICLOUD_ECS_EMULATOR_TOKEN); records go to
BENCH_TASK_LOG. Where the time goes: CPU seconds of the controller (ansible-playbook and the task's
worker processes, which are reaped within the span) and of the emulator with its instances' processes
(BENCH_EMULATOR_PID, from /proc) over the same span.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    """Enabled by the benchmark only (ANSIBLE_CALLBACKS_ENABLED=task_clock)."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "task_clock"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.endpoint = os.environ["BENCH_EMULATOR_ENDPOINT"]
        self.token = os.environ.get("ALICLOUD_ECS_EMULATOR_TOKEN", "")
        self.log = os.environ["BENCH_TASK_LOG"]
        self.current: dict | None = None
        self.emulator_pid = os.environ.get("BENCH_EMULATOR_PID")

    def cpu(self) -> tuple[float, float]:
        """CPU seconds so far of the controller (this process and its reaped workers) and of the emulator
        (itself and its reaped children)."""
        own = os.times()
        controller = own.user + own.system + own.children_user + own.children_system
        emulator = 0.0
        if self.emulator_pid:
            try:
                with open(f"/proc/{self.emulator_pid}/stat", encoding="ascii") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
                emulator = sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")
            except OSError:
                pass
        return controller, emulator

    def counters(self) -> dict[str, int]:
        request = urllib.request.Request(f"{self.endpoint}/_emulator/counters",
                                         headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def close_task(self) -> dict[str, int]:
        """End the open task's span; returns the counters as read afterwards."""
        ended = time.perf_counter()
        controller, emulator = self.cpu()
        counters = self.counters()
        if self.current is not None:
            record = self.current
            before = record.pop("counters_before")
            actions = {action: count - before.get(action, 0) for action, count in counters.items() if count != before.get(action, 0)}
            record.update(seconds=ended - record.pop("started"), calls=sum(actions.values()), actions=actions,
                          controller_cpu=controller - record.pop("controller_before"),
                          emulator_cpu=emulator - record.pop("emulator_before"))
            with open(self.log, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")
            self.current = None
        return counters

    def v2_playbook_on_task_start(self, task, is_conditional) -> None:
        counters = self.close_task()
        controller, emulator = self.cpu()
        self.current = {"name": task.get_name(), "changed": None, "counters_before": counters,
                        "controller_before": controller, "emulator_before": emulator, "started": time.perf_counter()}

    def v2_runner_on_ok(self, result) -> None:
        if self.current is not None:
            self.current["changed"] = bool(result.result.get("changed"))

    def v2_playbook_on_stats(self, stats) -> None:
        self.close_task()
