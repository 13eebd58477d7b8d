"""What a request handler may touch (its context), as a type: the handler modules depend on this, not on app.py.

``app.Emulator`` builds the parts and satisfies this protocol; the handlers of ecs/, cloud_assistant/, oos/ and
session/ (and idempotency, routes, sts, metadata) import only this module, so app.py imports the parts it assembles
and no handler imports app.py back, not even for a type checker. The parts are typed by the model modules, which import no
handler; the two parts whose classes live beside their handlers (power, OOS executions) are typed by the
calls the handlers make on them.
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .cloud_assistant.models import CloudAssistant
    from .cloud_assistant.results import Results
    from .config import Options
    from .ecs.models import Instances
    from .fleet import Fleet
    from .protocol import Params
    from .session.manager import Sessions
    from .store import Store


class PowerControl(Protocol):
    """The power transitions StartInstance, StopInstance and RebootInstance ask for (ecs/power.py)."""

    def start(self, instance_id: str) -> None:
        ...

    def stop(self, instance_id: str) -> None:
        ...

    def reboot(self, instance_id: str) -> None:
        ...


class ExecutionControl(Protocol):
    """The OOS execution worker the execution handlers drive (oos/executions.py)."""

    def start(self, record: dict[str, Any]) -> None:
        ...

    def cancel(self, exec_id: str) -> None:
        ...

    def notify(self, exec_id: str, notify_type: str, task_execution_id: str) -> None:
        ...


class Services(Protocol):
    """Everything a request handler may touch."""

    fleet: Fleet
    options: Options
    store: Store
    instances: Instances
    ca: CloudAssistant
    results: Results
    power: PowerControl
    executions: ExecutionControl
    idempotency_lock: threading.Lock
    token_locks: dict[tuple[str, str], threading.Lock]
    sts_sessions: dict[str, dict[str, str]]
    sessions: Sessions

    def region(self, p: Params) -> str:
        ...

    def count(self, action: str) -> None:
        ...
