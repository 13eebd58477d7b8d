"""The emulator's object graph: state, instances, isolation, agent, counters and faults, wired once."""
from __future__ import annotations

import logging
import shutil
import threading
from functools import partial
from collections import Counter
from pathlib import Path
from typing import Any

from .agent import Agent
from .cloud_assistant.models import CloudAssistant
from .cloud_assistant.results import Results
from .cloud_assistant.schedule import Scheduler
from .config import Options
from .ecs.models import Instances
from .ecs.maintenance import Maintenance
from .ecs.power import Power
from .errors import ApiError, missing, region_not_found
from .faults import Faults
from .fleet import Fleet
from .isolation import choose
from .metadata import MetadataService
from .oos import parameters
from .oos.executions import Executions
from .protocol import NonceCache, Params
from .session.manager import Sessions
from .store import Store

LOG = logging.getLogger("emulator")


class Emulator:
    """Everything a request handler may touch; built by the server, torn down at shutdown."""

    def __init__(self, fleet: Fleet, state_dir: Path, options: Options) -> None:
        self.fleet = fleet
        self.options = options
        self.state_dir = state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(state_dir / "state.db")
        self.instances = Instances(self.store, fleet.regions)
        self.power = Power(self.instances, options.transition_delay)
        self.maintenance = Maintenance(self.instances, self.power)
        self.sandbox = choose(options.isolation, state_dir, self.instances.set_init)
        self.results = Results(self.store)
        self.faults = Faults()
        self.faults.latency_ms = options.latency_ms
        self.agent = Agent(self.results, self.instances.get, self.sandbox, options, self.faults, state_dir / "runs")
        self.ca = CloudAssistant(self.store, self.instances, self.results, self.agent, options)
        self.scheduler = Scheduler(self.store, self.results, self.agent, options)
        self.power.boot_listeners.append(self.scheduler.on_boot)
        self.agent.power_listeners.append(self._power_exit_code)
        self.agent.parameter_store = partial(parameters.resolve, self)
        self.executions = Executions(self)
        self.sessions = Sessions(self.sandbox, self.instances.get, options, self.faults)
        self.nonces = NonceCache()
        self.sts_sessions: dict[str, dict[str, str]] = {}  # issued STS key id → {role, session}
        self.metadata = MetadataService(self)
        self.idempotency_lock = threading.Lock()
        self.token_locks: dict[tuple[str, str], threading.Lock] = {}
        self._counters: Counter[str] = Counter()
        self._counter_lock = threading.Lock()
        self.instances.listeners.append(self._on_instance_change)

    def start(self) -> None:
        """Take over the instances and commands a previous process left running (a crash or kill leaves them, as
        an API restart leaves real instances), seed the fleet (existing records win), re-deliver pending tasks."""
        for inst in self.instances.all():
            if not self.sandbox.adopt(inst["id"], inst["init_pid"], inst["init_start"]):
                self.instances.set_init(inst["id"], None, None)
        self.instances.seed(self.fleet.instances, replace=False)
        self.ca.redeliver(self.agent.resume())
        self.executions.interrupt_all()
        self.scheduler.start()
        self.maintenance.start()

    def shutdown(self) -> None:
        """Kill every instance init and command (a clean stop stops the instances too); the database stays for the
        next start, which finds the commands interrupted. Only a crash leaves instances and commands running."""
        self.agent.shutting_down = True
        self.sessions.end_all()
        self.scheduler.shutdown()
        self.maintenance.shutdown()
        self.agent.kill_all()
        self.sandbox.shutdown()
        shutil.rmtree(self.state_dir / "runs", ignore_errors=True)
        self.store.close()

    def reset(self) -> None:
        """Back to the fleet file: fresh instance filesystems, no invocations, counters and faults cleared."""
        self.sessions.clear()
        self.agent.kill_all()
        self.sandbox.shutdown()
        shutil.rmtree(self.state_dir / "runs", ignore_errors=True)
        for table in ("results", "history", "invocations", "commands", "templates", "executions", "parameters",
                      "tokens", "instances"):
            self.store.execute(f"DELETE FROM {table}")
        shutil.rmtree(self.state_dir / "instances", ignore_errors=True)
        (self.state_dir / "instances").mkdir(parents=True, exist_ok=True)
        self.instances.seed(self.fleet.instances)
        self.faults.configure({"latency_ms": self.options.latency_ms})
        self.reset_counters()

    def region(self, p: Params) -> str:
        """RegionId of a regional action: mandatory and known."""
        region = p.get("RegionId")
        if region is None:
            raise missing("RegionId")
        if region not in {r["id"] for r in self.fleet.regions}:
            raise region_not_found()
        return region

    def count(self, action: str) -> None:
        """Per-action call counter (benchmarks count API calls per task)."""
        with self._counter_lock:
            self._counters[action] += 1

    def counters(self) -> dict[str, int]:
        """Snapshot of the counters."""
        with self._counter_lock:
            return dict(self._counters)

    def reset_counters(self) -> None:
        """Zero the counters."""
        with self._counter_lock:
            self._counters.clear()

    def _power_exit_code(self, instance_id: str, action: str) -> None:
        """A command ended with 193 (power off) or 194 (reboot): the agent shuts the instance down after reporting
        (agent/taskengine/host/processor.go ``SideEffect``); the instance goes through the API's transitions."""
        try:
            (self.power.reboot if action == "reboot" else self.power.stop)(instance_id)
        except ApiError:  # no longer Running (stopped meanwhile): nothing to shut down
            LOG.info("instance %s: %s after exit code skipped, not Running", instance_id, action)

    def _on_instance_change(self, instance_id: str, record: dict[str, Any]) -> None:
        if record["status"] != "Running":
            self.sessions.end_instance(instance_id)
            self.sandbox.stop_instance(instance_id)
