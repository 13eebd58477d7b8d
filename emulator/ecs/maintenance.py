"""Due system events are carried out: at ``NotBefore`` a Scheduled/Inquiring ``*.Reboot`` or ``*.Redeploy`` event
reboots its instance and a ``*.Stop`` event stops it (through the same power transitions as the API); the event
becomes Executed with ``EventFinishTime``. Other kinds (``*.Delete``) stay data."""
from __future__ import annotations

import logging
import threading
import time
from typing import Any

from ..errors import ApiError
from .models import Instances
from .power import Power

LOG = logging.getLogger("emulator.events")
ACTIONS = {"Reboot": "reboot", "Redeploy": "reboot", "Stop": "stop"}
CHECK_EVERY = 0.5  # seconds


class Maintenance:
    """A thread that checks the instances having events for due ones."""

    def __init__(self, instances: Instances, power: Power) -> None:
        self.instances = instances
        self.power = power
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="maintenance", daemon=True)

    def start(self) -> None:
        """Begin checking."""
        self._thread.start()

    def shutdown(self) -> None:
        """Stop checking."""
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(CHECK_EVERY):
            try:
                self.run_due(time.time())
            except Exception:  # the checker must survive one bad record
                LOG.exception("system event check failed")

    def run_due(self, now: float) -> None:
        """Execute every due event (only instances with events are read)."""
        rows = self.instances.store.query("SELECT id FROM instances WHERE json_array_length(data, '$.events') > 0")
        for row in rows:
            due: list[dict[str, Any]] = []

            def execute(record: dict[str, Any]) -> None:
                for event in record["events"]:
                    if event["status"] in ("Scheduled", "Inquiring") and event["not_before"] <= now:
                        event["status"], event["finish_time"] = "Executed", now
                        due.append(event)
            self.instances.modify(row["id"], execute)
            for event in due:
                action = ACTIONS.get(event["type"].rsplit(".", 1)[-1])
                try:
                    if action == "reboot":
                        self.power.reboot(row["id"])
                    elif action == "stop":
                        self.power.stop(row["id"])
                except ApiError:
                    pass  # ⚠ not Running: the event is still recorded as Executed
