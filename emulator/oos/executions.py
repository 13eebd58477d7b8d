"""OOS executions (docs/api-contract.md#oos): StartExecution / ListExecutions / CancelExecution / NotifyExecution. Only the public
``ACS-ECS-BulkyRunCommand`` runs: its targets are selected, then every instance gets a RunCommand through the same
Cloud Assistant engine as the ECS API, under the template's rateControl (Concurrency or Batch, MaxErrors)."""
from __future__ import annotations

import base64
import json
import logging
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ..clock import iso_seconds
from ..cloud_assistant.responses import check_targets, run_options
from ..errors import ApiError
from ..pagination import token_page
from ..protocol import Params
from . import templates
from .rate import batches, limit
from .tasks import current_tasks, new_task

if TYPE_CHECKING:
    from ..handler_context import Services

LOG = logging.getLogger("emulator.oos")
TERMINAL = ("Success", "Failed", "Cancelled")
FINAL_TASK = ("Success", "Failed", "Timeout", "Error", "Invalid", "Aborted", "Cancelled", "Terminated")
RESUME = ("Approve", "ResumeExecution")  # ⚠ NotifyType values that let a paused batch loop go on
NOTIFY_TYPES = (*RESUME, "Reject", "RetryTask", "SkipTask", "ExecuteTask", "CancelTask", "CompleteExecution")
SHELL_TYPES = {"RunPythonScript": "RunShellScript", "RunPerlScript": "RunShellScript"}  # docs/api-contract.md#oos


class Executions:
    """Execution records (SQLite) and one worker thread per running execution.

    Item threads and the execution's thread share one record dict: every change to it and every save happens
    under ``_lock`` so a save never serialises a record another thread is changing."""

    def __init__(self, emu: Services) -> None:
        self.emu = emu
        self._events: dict[str, threading.Event] = {}  # resume signals of Waiting executions (batch pauses)
        self._decisions: dict[str, tuple[threading.Event, list[str]]] = {}  # failed items awaiting Retry/Skip
        self._cancelled: set[str] = set()
        self._rejected: set[str] = set()
        self._lock = threading.Lock()

    def interrupt_all(self) -> None:
        """At start-up: executions of a previous process cannot go on (⚠ they end Failed)."""
        for row in self.emu.store.query("SELECT id FROM executions"):
            record = self.get(row["id"])
            if record["status"] not in TERMINAL:
                self.save(record | {"status": "Failed", "status_message": "Interrupted by an emulator restart.",
                                    "ended": time.time()})

    def get(self, exec_id: str) -> dict[str, Any]:
        """One execution record."""
        row = self.emu.store.one("SELECT data FROM executions WHERE id=?", (exec_id,))
        if row is None:
            raise ApiError("EntityNotExists.Execution", "The specified execution does not exist.", 404)
        return json.loads(row["data"])

    def save(self, record: dict[str, Any]) -> None:
        """Update a record (updated = now); a record wiped by a reset stays gone."""
        record["updated"] = time.time()
        self.emu.store.execute("UPDATE executions SET data=? WHERE id=?", (json.dumps(record), record["id"]))

    def _change(self, record: dict[str, Any], target: dict[str, Any] | None = None, **changes: Any) -> None:
        """Apply ``changes`` to ``target`` (a task of the record, or the record) and save, under the lock."""
        with self._lock:
            (record if target is None else target).update(changes, updated=time.time())
            self.save(record)

    def start(self, record: dict[str, Any]) -> None:
        """Persist and launch the worker."""
        record["updated"] = time.time()
        self.emu.store.execute("INSERT INTO executions(id, region, data) VALUES (?,?,?)",
                               (record["id"], record["region"], json.dumps(record)))
        threading.Thread(target=self._run, args=(record["id"],), name=record["id"], daemon=True).start()

    def cancel(self, exec_id: str) -> None:
        """CancelExecution: no new item starts, running commands are stopped, status Cancelled."""
        record = self.get(exec_id)
        if record["status"] in TERMINAL:
            return
        with self._lock:
            self._cancelled.add(exec_id)
            self._release(exec_id, "Cancel")

    def _release(self, exec_id: str, decision: str) -> None:
        """Wake every wait of the execution (caller holds the lock)."""
        event = self._events.get(exec_id)
        if event:
            event.set()
        for task_id, (waiter, box) in list(self._decisions.items()):
            if task_id.startswith(f"{exec_id}/"):
                box.append(decision)
                waiter.set()

    def notify(self, exec_id: str, notify_type: str, task_execution_id: str) -> None:
        """NotifyExecution on a Waiting execution: Approve/ResumeExecution go on after a batch pause; RetryTask
        and SkipTask settle one failed loop item of a FailurePause execution; Reject ends it Failed ⚠."""
        record = self.get(exec_id)
        if notify_type not in NOTIFY_TYPES:
            raise ApiError("InvalidParameter", 'The specified parameter "NotifyType" is not valid.')
        not_waiting = ApiError("InvalidStatus.Execution", "The execution is not waiting for a notification.")
        if record["status"] != "Waiting":
            raise not_waiting
        with self._lock:
            if notify_type in ("RetryTask", "SkipTask"):
                if not task_execution_id:
                    raise ApiError("MissingParameter.TaskExecutionId", 'The input parameter "TaskExecutionId" that '
                                   "is mandatory for processing this request is not supplied.")
                waiting = self._decisions.pop(f"{exec_id}/{task_execution_id}", None)  # settled once
                if waiting is None:
                    raise ApiError("InvalidParameter", 'The specified parameter "TaskExecutionId" is not valid.')
                waiting[1].append(notify_type)
                waiting[0].set()
            elif notify_type == "Reject" and (exec_id in self._events or any(
                    key.startswith(f"{exec_id}/") for key in self._decisions)):
                self._rejected.add(exec_id)
                self._release(exec_id, "Reject")
            elif notify_type in RESUME and exec_id in self._events:
                self._events[exec_id].set()
            else:  # ⚠ Debug-mode notifications (ExecuteTask, CancelTask, CompleteExecution) are not emulated
                raise not_waiting

    def _stopped(self, exec_id: str) -> bool:
        with self._lock:
            return exec_id in self._cancelled or exec_id in self._rejected

    def _run(self, exec_id: str) -> None:
        try:
            self._execute(exec_id)
        except Exception as exc:  # the execution must end; never leave it Running
            LOG.exception("execution %s", exec_id)
            row = self.emu.store.one("SELECT data FROM executions WHERE id=?", (exec_id,))
            if row is not None:  # not wiped by a reset meanwhile
                self.save(json.loads(row["data"]) | {"status": "Failed", "status_message": str(exc),
                                                     "ended": time.time()})

    def _execute(self, exec_id: str) -> None:
        record = self.get(exec_id)
        params = record["parameters"]
        ids = self.select(record["region"], params.get("targets") or {})
        found = new_task("getInstance", "ACS::SelectTargets", properties={"targets": params.get("targets")})
        found.update(status="Success" if ids else "Failed", outputs={"instanceIds": ids}, ended=time.time(),
                     message="" if ids else "No instance matched the targets.")
        record |= {"status": "Running", "started": time.time(), "tasks": [found],
                   "counters": {"Total": len(ids), "Success": 0, "Failed": 0}}
        self.save(record)
        if not ids:
            self.save(record | {"status": "Failed", "status_message": "No instance matched the targets.",
                                "ended": time.time()})  # ⚠ an empty selection fails the execution
            return
        rate = params.get("rateControl") or {"Mode": "Concurrency", "MaxErrors": 0, "Concurrency": 10}
        loop = new_task("runCommand", "ACS::ECS::RunCommand", properties={"rateControl": rate})
        self._change(record, tasks=[found, loop])
        max_errors = limit(rate.get("MaxErrors", 0), len(ids))
        outputs: list[str] = []
        state = {"failed": 0, "success": 0, "skipped": 0}
        for number, (batch, concurrency) in enumerate(batches(rate, ids)):
            if number and self._pause(record, rate, number):
                break
            with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
                for iid in batch:
                    pool.submit(self._tally, record, (iid, loop["id"], number + 1), state, max_errors, outputs)
            self._change(record, counters=counters(len(ids), state))
            if state["failed"] > max_errors or self._stopped(exec_id):
                break
        if exec_id in self._cancelled:
            status, message = "Cancelled", "Cancelled by the user."
        elif exec_id in self._rejected:
            status, message = "Failed", "Rejected by the user."
        elif state["failed"] > max_errors:
            status, message = "Failed", f"{state['failed']} loop items failed; MaxErrors is {max_errors}."
        else:
            status, message = "Success", ""
        self._change(record, loop, status=status, message=message, ended=time.time(),
                     outputs={"commandOutputs": outputs})
        self._change(record, status=status, status_message=message, ended=time.time(),
                     outputs={"commandOutputs": outputs})

    def _pause(self, record: dict[str, Any], rate: dict[str, Any], number: int) -> bool:
        """Between batches: FirstBatchPause waits once, EveryBatchPause every time; True = cancelled/rejected."""
        option = rate.get("BatchPauseOption") or record["loop_mode"]
        if not (option == "EveryBatchPause" or (option == "FirstBatchPause" and number == 1)):
            return self._stopped(record["id"])
        event = threading.Event()
        with self._lock:
            self._events[record["id"]] = event
        self._change(record, status="Waiting")
        event.wait()
        with self._lock:
            self._events.pop(record["id"], None)
        self._change(record, status="Running")
        return self._stopped(record["id"])

    def select(self, region: str, targets: dict[str, Any]) -> list[str]:
        """ACS::SelectTargets: ResourceIds or Tags, Running instances only."""
        region = str(targets.get("RegionId") or region)
        instances = [i for i in self.emu.instances.in_region(region) if i["status"] == "Running"]
        if targets.get("Type") == "ResourceIds":
            wanted = [str(i) for i in targets.get("ResourceIds") or []]
            return [i["id"] for i in instances if i["id"] in wanted]
        if targets.get("Type") == "Tags":
            tags = targets.get("Tags") or []
            return [i["id"] for i in instances
                    if all(t.get("Key") in i["tags"] and (t.get("Value") is None or i["tags"][t["Key"]] == t["Value"])
                           for t in tags)]
        return []  # start_execution admits only the two types above

    def _tally(self, record: dict[str, Any], item: tuple[str, str, int], state: dict[str, int], max_errors: int,
               outputs: list[str]) -> None:
        """Run one item (instance, loop task id, batch number) unless MaxErrors is already exceeded; in
        FailurePause mode a failed item waits for RetryTask/SkipTask; count it and keep its output."""
        iid, parent, batch = item
        with self._lock:
            if state["failed"] > max_errors:
                return
            ctype = record["parameters"].get("commandType", "RunShellScript")
            task = new_task("runCommand", "ACS::ECS::RunCommand", loop_item=iid, parent=parent,
                            properties={"instanceId": iid, "commandType": ctype})
            task["batch"] = batch
            record["tasks"].append(task)
            self.save(record)
        while True:
            try:
                ok, text, message = self._item(record, iid)
            except Exception as exc:  # an item must always be counted; never lose it in the pool
                LOG.exception("execution %s item %s", record["id"], iid)
                ok, text, message = False, str(exc), str(exc)
            if ok is False and record["mode"] == "FailurePause":
                decision = self._await_decision(record, task, text, message)
                if decision == "RetryTask":
                    continue
                if decision == "SkipTask":
                    self._finish(record, task, ("Skipped", text, message), state, outputs)
                    return
            break
        if ok is None:
            self._finish(record, task, ("Cancelled", "", ""), state, outputs)
        else:
            self._finish(record, task, ("Success" if ok else "Failed", text, message), state, outputs)

    def _finish(self, record: dict[str, Any], task: dict[str, Any], outcome: tuple[str, str, str],
                state: dict[str, int], outputs: list[str]) -> None:
        status, text, message = outcome
        with self._lock:
            task.update(status=status, message=message, outputs={"invocationOutput": text}, ended=time.time(),
                        updated=time.time())
            key = {"Success": "success", "Failed": "failed", "Skipped": "skipped"}.get(status)
            if key:
                state[key] += 1
            if status in ("Success", "Failed"):
                outputs.append(text)
            record["counters"] = counters(record["counters"]["Total"], state)
            self.save(record)

    def _await_decision(self, record: dict[str, Any], task: dict[str, Any], text: str, message: str) -> str:
        """FailurePause: the item shows Failed and the execution Waiting until RetryTask, SkipTask, Reject or a
        cancel settles it."""
        event, box = threading.Event(), []
        key = f"{record['id']}/{task['id']}"
        with self._lock:
            if record["id"] in self._cancelled or record["id"] in self._rejected:
                return "Cancel"
            self._decisions[key] = (event, box)
            task.update(status="Failed", message=message, outputs={"invocationOutput": text}, ended=time.time())
            record["paused_items"] = record.get("paused_items", 0) + 1
            record["status"] = "Waiting"
            self.save(record)
        event.wait()
        with self._lock:
            self._decisions.pop(key, None)  # still there after a cancel or reject
            record["paused_items"] -= 1
            if not record["paused_items"]:
                record["status"] = "Running"
            decision = box[0] if box else "Cancel"
            if decision == "RetryTask":
                task.update(status="Running", message="", ended=None)
            self.save(record)
        return decision

    def _item(self, record: dict[str, Any], iid: str) -> tuple[bool | None, str, str]:
        """One loop item (ACS::ECS::RunCommand on one instance) → (ok, output, status message); ok is None when
        the execution was cancelled before the item started."""
        if self._stopped(record["id"]):
            return None, "", ""
        params = record["parameters"]
        content = str(params.get("commandContent", "")).encode()
        requested = str(params.get("commandType", "RunShellScript"))
        ctype = SHELL_TYPES.get(requested, requested)
        try:
            options = run_options(Params({"WorkingDir": str(params.get("workingDir", "")),
                                          "Username": str(params.get("username", ""))}))
            targets = check_targets(self.emu, record["region"], [iid], ctype)
        except ApiError as err:
            return False, f"{err.code}: {err.message}", f"{err.code}: {err.message}"
        b64 = base64.b64encode(content).decode()
        spec = {"type": ctype, "name": record["id"], "description": "", "content_b64": b64, "script_b64": b64,
                "parameters": {}, "enable_parameter": bool(params.get("enableParameter", False)),
                "timeout": int(params.get("timeout", 600)), **options}
        invoke_id = self.emu.ca.run_command(record["region"], spec, targets)["InvokeId"]
        while True:
            row = self.emu.results.get(invoke_id, iid)
            if row is not None and row["status"] in FINAL_TASK:
                if row["status"] in ("Terminated", "Cancelled") and self._stopped(record["id"]):
                    return None, "", ""  # ⚠ an item whose command the cancel stopped ends Cancelled, not Failed
                message = f"{row['error_code']}: {row['error_info']}" if row["error_code"] else ""
                return row["status"] == "Success", bytes(row["output"]).decode("utf-8", "replace"), message
            if self._stopped(record["id"]):
                self.emu.ca.stop(record["region"], invoke_id, [iid])
            time.sleep(0.1)


def counters(total: int, state: dict[str, int]) -> dict[str, int]:
    """``Counters``: Total, Success, Failed, and Skipped once a FailurePause item was skipped."""
    out = {"Total": total, "Success": state["success"], "Failed": state["failed"]}
    if state.get("skipped"):
        out["Skipped"] = state["skipped"]
    return out


def new_execution_id() -> str:
    """``exec-`` + 15 hex digits (doc example ``exec-44d32b45d2a449e``)."""
    return "exec-" + secrets.token_hex(8)[:15]


def render(record: dict[str, Any], listing: bool) -> dict[str, Any]:
    """An ``Execution``: Parameters is a JSON string in StartExecution, an object in ListExecutions."""
    return {"ExecutionId": record["id"], "TemplateId": f"t-{record['template_name'][:20]}",
            "TemplateName": record["template_name"], "TemplateVersion": record["template_version"],
            "Mode": record["mode"], "LoopMode": record["loop_mode"], "SafetyCheck": record["safety_check"],
            "Status": record["status"], "StatusMessage": record.get("status_message", ""), "StatusReason": "",
            "WaitingStatus": "", "Category": "Other", "ExecutedBy": "emulator", "RamRole": "",
            "Description": record["description"],
            "Parameters": record["parameters"] if listing else json.dumps(record["parameters"]),
            "Outputs": json.dumps(record.get("outputs", {})), "Counters": record.get("counters", {}),
            "Tags": record["tags"], "Targets": json.dumps(record["parameters"].get("targets", {})),
            "ResourceStatus": "", "CurrentTasks": current_tasks(record), "IsParent": False, "ParentExecutionId": "",
            "ResourceGroupId": "", "CreateDate": iso_seconds(record["created"]),
            "StartDate": iso_seconds(record.get("started")), "UpdateDate": iso_seconds(record.get("updated")),
            "EndDate": iso_seconds(record.get("ended"))}


def start_execution(emu: Services, p: Params) -> dict[str, Any]:
    """StartExecution: by TemplateName (only the public BulkyRunCommand executes ⚠) with JSON Parameters."""
    region = emu.region(p)
    template = templates.load(emu, region, p.require("TemplateName"))
    try:
        params = json.loads(p.get("Parameters") or "{}")
    except ValueError:
        params = None
    if not isinstance(params, dict):
        raise ApiError("InvalidParameter", 'The specified parameter "Parameters" is not valid.')
    if template["name"] != templates.BULKY:
        raise ApiError("InvalidTemplate", "The emulator only executes ACS-ECS-BulkyRunCommand.")
    if not params.get("commandContent") or not isinstance(params.get("targets"), dict):
        raise ApiError("InvalidParameter", "Parameters commandContent and targets are required.")
    if params["targets"].get("Type") not in ("ResourceIds", "Tags"):  # ⚠ other target types are not emulated
        raise ApiError("InvalidParameter", "targets.Type must be ResourceIds or Tags.")
    if len(str(params["commandContent"])) > 16384:
        raise ApiError("InvalidParameter", "commandContent exceeds MaxLength 16384.")
    choices = (("Mode", ("Automatic", "FailurePause")), ("LoopMode", ("Automatic", "FirstBatchPause", "EveryBatchPause")),
               ("SafetyCheck", ("ConfirmEveryHighRiskAction", "Skip")))
    for name, allowed in choices:  # ⚠ Debug mode is refused: the emulator cannot step through tasks
        if p.get(name) and p.get(name) not in allowed:
            raise ApiError("InvalidParameter", f'The specified parameter "{name}" is not valid.')
    if p.get("SafetyCheck") == "Skip" and (p.get("Mode") or "Automatic") != "Automatic":
        raise ApiError("InvalidParameter", 'The specified parameter "SafetyCheck" is not valid.')
    tags = json.loads(p.get("Tags") or "{}")
    record = {"id": new_execution_id(), "region": region, "template_name": template["name"],
              "template_version": p.get("TemplateVersion") or template["version"],
              "mode": p.get("Mode") or "Automatic", "loop_mode": p.get("LoopMode") or "Automatic",
              "safety_check": p.get("SafetyCheck") or "ConfirmEveryHighRiskAction",
              "description": p.get("Description") or "", "parameters": params, "tags": tags, "status": "Started",
              "created": time.time()}
    emu.executions.start(record)
    return {"Execution": render(record, listing=False)}


def list_executions(emu: Services, p: Params) -> dict[str, Any]:
    """ListExecutions: unknown ExecutionId → empty list; newest StartDate first unless SortOrder=Ascending."""
    region = emu.region(p)
    rows = emu.store.query("SELECT data FROM executions WHERE region=? ORDER BY seq", (region,))
    items = [json.loads(r["data"]) for r in rows]
    for key, field in (("ExecutionId", "id"), ("Status", "status"), ("Mode", "mode")):
        if p.get(key):
            items = [i for i in items if i[field] == p.get(key)]
    if p.get("TemplateName"):
        items = [i for i in items if p.get("TemplateName", "") in i["template_name"]]
    if p.get("SortOrder") != "Ascending":
        items.reverse()
    size = min(max(p.integer("MaxResults", 50) or 50, 10), 100)  # ⚠ out-of-range values are clamped
    page, next_token = token_page(items, p, size)
    return {"Executions": [render(i, listing=True) for i in page], "MaxResults": size,
            "NextToken": next_token, "TotalCount": len(items)}


def cancel_execution(emu: Services, p: Params) -> dict[str, Any]:
    """CancelExecution."""
    emu.region(p)
    emu.executions.cancel(p.require("ExecutionId"))
    return {}


def notify_execution(emu: Services, p: Params) -> dict[str, Any]:
    """NotifyExecution: resume a paused batch loop, retry or skip a failed item (FailurePause), or reject."""
    emu.region(p)
    emu.executions.notify(p.require("ExecutionId"), p.require("NotifyType"), p.get("TaskExecutionId") or "")
    return {}
