"""Power state: StartInstance / StopInstance / RebootInstance, InstallCloudAssistant, GetInstanceConsoleOutput.

Transitions pass through the real intermediate states (Stopping, Starting) for ``--transition-delay`` seconds so
clients that poll for a state are exercised; stopping kills the instance's processes (its files persist). Each
boot is logged (console output) and brings an installed agent online, then tells the boot listeners (reboot
tasks of Cloud Assistant)."""
from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..clock import iso_seconds
from ..errors import ApiError, missing
from ..protocol import Params
from .models import Instances

if TYPE_CHECKING:
    from ..handler_context import Services

BOOT_LOG_KEEP = 5  # boots whose console lines GetInstanceConsoleOutput shows


def incorrect_status() -> ApiError:
    """The generic ECS code for an operation the current power state does not allow (⚠ 403 inferred)."""
    return ApiError("IncorrectInstanceStatus", "The current status of the resource does not support this operation.",
                    403)


class Power:
    """Drives power transitions with timers; compare-and-set updates so a concurrent change wins."""

    def __init__(self, instances: Instances, delay: float) -> None:
        self.instances = instances
        self.delay = delay
        self.boot_listeners: list[Callable[[str, str], None]] = []

    def _later(self, fn: Callable[[], object]) -> None:
        timer = threading.Timer(self.delay, fn)
        timer.daemon = True
        timer.start()

    def start(self, instance_id: str) -> None:
        """Stopped → Starting → Running."""
        if self.instances.transition(instance_id, ("Stopped",), "Starting") is None:
            raise incorrect_status()
        self._later(lambda: self._booted(instance_id, "start"))

    def stop(self, instance_id: str) -> None:
        """Running → Stopping (processes killed) → Stopped."""
        if self.instances.transition(instance_id, ("Running",), "Stopping") is None:
            raise incorrect_status()
        self._later(lambda: self.instances.transition(instance_id, ("Stopping",), "Stopped"))

    def reboot(self, instance_id: str) -> None:
        """Running → Stopping (processes killed) → Starting → Running."""
        if self.instances.transition(instance_id, ("Running",), "Stopping") is None:
            raise incorrect_status()

        def starting() -> None:
            if self.instances.transition(instance_id, ("Stopping",), "Starting"):
                self._later(lambda: self._booted(instance_id, "reboot"))
        self._later(starting)

    def _booted(self, instance_id: str, how: str) -> None:
        def log_boot(record: dict[str, Any]) -> None:
            record["boots"] = [*record.get("boots", []), time.time()][-BOOT_LOG_KEEP:]
            if record["agent"] == "installed":
                record["agent"] = "online"
        self.instances.modify(instance_id, log_boot)
        if self.instances.transition(instance_id, ("Starting",), "Running"):
            for listener in self.boot_listeners:
                listener(instance_id, how)


def _instance(emu: Services, p: Params) -> dict[str, Any]:
    """InstanceId! of the region (InvalidInstanceId.NotFound otherwise)."""
    region = emu.region(p)
    iid = p.get("InstanceId")
    if not iid:
        raise missing("InstanceId")
    inst = emu.instances.get(iid)
    if inst is None or inst["region"] != region:
        raise ApiError("InvalidInstanceId.NotFound", "The specified InstanceId does not exist.", 404)
    return inst


def start_instance(emu: Services, p: Params) -> dict[str, Any]:
    """StartInstance."""
    emu.power.start(_instance(emu, p)["id"])
    return {}


def stop_instance(emu: Services, p: Params) -> dict[str, Any]:
    """StopInstance (ForceStop/StoppedMode accepted: every stop kills the processes, files persist)."""
    emu.power.stop(_instance(emu, p)["id"])
    return {}


def reboot_instance(emu: Services, p: Params) -> dict[str, Any]:
    """RebootInstance: a boot, so an installed agent comes online and reboot tasks run."""
    emu.power.reboot(_instance(emu, p)["id"])
    return {}


def install_cloud_assistant(emu: Services, p: Params) -> dict[str, Any]:
    """InstallCloudAssistant (docs/api-contract.md#installcloudassistant): an agent not online becomes "installed"; online only after a reboot."""
    region = emu.region(p)
    ids = list(dict.fromkeys(p.repeat("InstanceId")))
    if not ids:
        raise ApiError("MissingParam.InstanceId", "The parameter instanceId is missing or empty.")
    if len(ids) > 50:
        raise ApiError("InstanceIds.ExceedLimit", "The count of instance ids exceeds the limit.", 403)
    for iid in ids:
        inst = emu.instances.get(iid)
        if inst is None or inst["region"] != region:
            raise ApiError("InvalidInstance.NotFound", "The specified instance does not exist.", 404)

    def install(record: dict[str, Any]) -> None:
        if record["agent"] == "offline":
            record["agent"] = "installed"
    for iid in ids:
        emu.instances.modify(iid, install)
    return {}


def get_instance_console_output(emu: Services, p: Params) -> dict[str, Any]:
    """GetInstanceConsoleOutput: a Base64 boot log of the last boots (a Pending instance never booted → 405)."""
    inst = _instance(emu, p)
    if inst["status"] == "Pending":
        raise ApiError("IncorrectInstanceStatus", "The current status of the resource does not support this "
                       "operation.", 405)
    boots = inst.get("boots") or [inst["creation_time"] + 60]
    lines = []
    for boot in boots:
        lines += [f"[    0.000000] Linux version 5.10.134-16.al8.x86_64 (mockbuild@alibaba) #1 SMP {iso_seconds(boot)}",
                  "[    0.000000] Command line: BOOT_IMAGE=/boot/vmlinuz root=UUID=emulated ro console=ttyS0,115200n8",
                  "[  OK  ] Started Aliyun Assist (aliyun.service).",
                  "", inst["os_name_en"], "Kernel 5.10.134-16.al8.x86_64 on an x86_64", "",
                  f"{inst['hostname']} login: "]
    text = "\r\n".join(lines) + "\r\n"
    return {"InstanceId": inst["id"], "ConsoleOutput": base64.b64encode(text.encode()).decode(),
            "LastUpdateTime": iso_seconds(boots[-1])}
