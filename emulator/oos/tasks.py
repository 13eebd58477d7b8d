"""OOS task executions (docs/api-contract.md#oos "Related"): the records an execution of ``ACS-ECS-BulkyRunCommand`` keeps per
task and per loop item, and ``ListTaskExecutions`` over them.

One execution has a ``getInstance`` task (ACS::SelectTargets), a ``runCommand`` loop task (ACS::ECS::RunCommand) and
one child task execution per loop item (``LoopItem`` = the instance id, ``ParentTaskExecutionId`` = the loop task).
⚠ The real service models each loop item of a nested action as a child execution as well; the emulator keeps the
item's status and ``invocationOutput`` on the item's task execution and leaves ``ChildExecutionId`` empty."""
from __future__ import annotations

import json
import secrets
import time
from typing import TYPE_CHECKING, Any

from ..clock import iso_seconds
from ..errors import ApiError
from ..pagination import token_page
from ..protocol import Params

if TYPE_CHECKING:
    from ..handler_context import Services


def new_task(name: str, action: str, *, loop_item: str = "", parent: str = "",
             properties: dict[str, Any] | None = None) -> dict[str, Any]:
    """A task execution record, Running from now."""
    now = time.time()
    return {"id": "task-exec-" + secrets.token_hex(8), "name": name, "action": action, "status": "Running",
            "message": "", "outputs": {}, "properties": properties or {}, "loop_item": loop_item, "parent": parent,
            "batch": 0, "created": now, "started": now, "ended": None, "updated": now}


def render_task(exec_id: str, task: dict[str, Any]) -> dict[str, Any]:
    """One ``TaskExecution`` (Outputs and Properties are JSON strings, like the execution's Outputs)."""
    return {"TaskExecutionId": task["id"], "ExecutionId": exec_id, "TaskName": task["name"],
            "TaskAction": task["action"], "Status": task["status"], "StatusMessage": task["message"],
            "Properties": json.dumps(task["properties"]), "Outputs": json.dumps(task["outputs"]),
            "LoopItem": task["loop_item"], "LoopBatchNumber": task["batch"],
            "ParentTaskExecutionId": task["parent"], "ChildExecutionId": "", "ExtraData": {},
            "CreateDate": iso_seconds(task["created"]), "StartDate": iso_seconds(task["started"]),
            "UpdateDate": iso_seconds(task["updated"]), "EndDate": iso_seconds(task["ended"])}


def current_tasks(record: dict[str, Any]) -> list[dict[str, str]]:
    """``CurrentTasks`` of an execution: its task executions still running or waiting for a notification."""
    return [{"TaskName": t["name"], "TaskExecutionId": t["id"], "TaskAction": t["action"]}
            for t in record.get("tasks", []) if t["status"] in ("Running", "Waiting") and t["loop_item"]]


def list_task_executions(emu: Services, p: Params) -> dict[str, Any]:
    """ListTaskExecutions of one execution: top-level tasks only unless IncludeChildTaskExecution=true;
    filters TaskName, Status, TaskExecutionId, ParentTaskExecutionId; MaxResults (10–100, clamped ⚠)/NextToken."""
    region = emu.region(p)
    exec_id = p.require("ExecutionId")  # ⚠ the service also lists across executions; the emulator needs one
    row = emu.store.one("SELECT data FROM executions WHERE id=? AND region=?", (exec_id, region))
    if row is None:
        raise ApiError("EntityNotExists.Execution", "The specified execution does not exist.", 404)
    tasks = json.loads(row["data"]).get("tasks", [])
    if not p.boolean("IncludeChildTaskExecution") and not p.get("ParentTaskExecutionId"):
        tasks = [t for t in tasks if not t["parent"]]
    for key, field in (("TaskName", "name"), ("Status", "status"), ("TaskExecutionId", "id"),
                       ("ParentTaskExecutionId", "parent")):
        if p.get(key):
            tasks = [t for t in tasks if t[field] == p.get(key)]
    size = min(max(p.integer("MaxResults", 50) or 50, 10), 100)
    page, next_token = token_page(tasks, p, size)
    return {"TaskExecutions": [render_task(exec_id, t) for t in page], "MaxResults": size, "NextToken": next_token}
