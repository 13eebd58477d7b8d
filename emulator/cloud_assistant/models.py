"""Cloud Assistant state: invocations (command and file tasks), target checks, StopInvocation."""
from __future__ import annotations

import base64
import json
import secrets
import time
from typing import Any

from ..agent import Agent
from ..config import Options
from ..ecs.models import Instances
from ..errors import ApiError
from ..fleet import ALNUM
from ..store import Store
from .results import Results


def new_id(prefix: str) -> str:
    """Random id in the service's shape (``t-…``, ``c-…``, ``f-…``)."""
    return f"{prefix}-" + "".join(secrets.choice(ALNUM) for _position in range(20))


class CloudAssistant:
    """Creates invocations, hands them to the agent, answers queries about them."""

    def __init__(self, store: Store, instances: Instances, results: Results, agent: Agent,
                 options: Options) -> None:
        self.store = store
        self.instances = instances
        self.results = results
        self.agent = agent
        self.options = options

    def targets(self, region: str, instance_ids: list[str], not_found: str) -> list[dict[str, Any]]:
        """Resolve and check targets: all must exist in the region ("if one does not meet the conditions,
        the call fails"); a non-Running one fails the call unless ``stopped_instance=record``."""
        found = []
        for iid in dict.fromkeys(instance_ids):
            inst = self.instances.get(iid)
            if inst is None or inst["region"] != region:
                raise ApiError("InvalidInstance.NotFound", not_found, 404)
            if inst["status"] != "Running" and self.options.stopped_instance == "error":
                raise ApiError("InvalidInstance.NotMatch", "The specified instance type does not match the command.")
            found.append(inst)
        return found

    def by_tags(self, region: str, tags: list[dict[str, str]]) -> list[str]:
        """Instance ids having every ResourceTag (RunCommand ResourceTag.N)."""
        def match(inst: dict[str, Any]) -> bool:
            return all(t.get("Key") in inst["tags"] and (t.get("Value") is None or inst["tags"][t["Key"]] == t["Value"])
                       for t in tags)
        return [i["id"] for i in self.instances.in_region(region) if match(i)]

    def _create(self, kind: str, prefix: str, region: str, data: dict[str, Any],
                targets: list[dict[str, Any]]) -> str:
        invoke_id = new_id(prefix)
        now = time.time()
        self.store.execute("INSERT INTO invocations(id, kind, region, data, created) VALUES (?,?,?,?,?)",
                           (invoke_id, kind, region, json.dumps(data), now))
        # Indexed, so a Tag.N filter finds its few invocations among an instance's thousands.
        self.store.executemany("INSERT INTO invocation_tags(invoke_id, key, value) VALUES (?, ?, ?)",
                               [(invoke_id, tag["TagKey"], tag["TagValue"]) for tag in data.get("tags") or []])
        self.results.create(invoke_id, [t["id"] for t in targets], now)
        if data.get("repeat_mode") == "DryRun":  # validated and recorded, never delivered (⚠ docs/api-contract.md#open-points)
            self.results.dry_run(invoke_id, now)
            return invoke_id
        for inst in targets:
            self.agent.submit(invoke_id, inst["id"], task_from(kind, data))
        return invoke_id

    def run_command(self, region: str, spec: dict[str, Any], targets: list[dict[str, Any]],
                    command_id: str | None = None) -> dict[str, str]:
        """An invocation of a new command (RunCommand) or of a saved one (InvokeCommand, ``command_id``)."""
        spec = {**spec, "command_id": command_id or new_id("c")}
        invoke_id = self._create("command", "t", region, spec, targets)
        return {"CommandId": spec["command_id"], "InvokeId": invoke_id}

    def send_file(self, region: str, spec: dict[str, Any], targets: list[dict[str, Any]]) -> dict[str, str]:
        """SendFile: one file task per instance."""
        return {"InvokeId": self._create("file", "f", region, spec, targets)}

    def invocations(self, kind: str, region: str, invoke_id: str | None = None,
                    instance_id: str | None = None, tags: list[dict[str, str]] | None = None,
                    with_output: bool = True) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
        """(invocation, result rows) newest first, narrowed by id / instance / Tag.N filter (every key present;
        a value, when given, must match too); callers filter further. Without ``with_output`` the rows lack
        their output (``Results.outputs`` reads it for the rows a page actually returns)."""
        sql, args = "SELECT * FROM invocations WHERE kind=? AND region=?", [kind, region]
        if invoke_id:
            sql, args = sql + " AND id=?", [*args, invoke_id]
        # With tags, the tagged invocations (a handful) drive the query and the instance is checked per row;
        # without, the instance's invocations do. Either way no query reads every invocation of a busy instance.
        for tag in tags or []:
            sql += " AND id IN (SELECT invoke_id FROM invocation_tags WHERE key=?" + (" AND value=?)" if tag["TagValue"] else ")")
            args += [tag["TagKey"], tag["TagValue"]] if tag["TagValue"] else [tag["TagKey"]]
        if instance_id and tags:
            sql += " AND EXISTS (SELECT 1 FROM results WHERE invoke_id=invocations.id AND instance_id=?)"
            args.append(instance_id)
        elif instance_id:
            sql += " AND id IN (SELECT invoke_id FROM results WHERE instance_id=?)"
            args.append(instance_id)
        rows = self.store.query(sql + " ORDER BY seq DESC", args)
        grouped = self.results.for_invokes([r["id"] for r in rows], with_output)
        return [(r | {"data": json.loads(r["data"])}, grouped[r["id"]]) for r in rows]

    def stop(self, region: str, invoke_id: str, instance_ids: list[str]) -> None:
        """StopInvocation: Pending → Cancelled; Running → Stopping → Terminated (⚠ ``stop_running``)."""
        found = self.invocations("command", region, invoke_id)
        if not found:
            raise ApiError("InvalidInvokeId.NotFound", "The specified invoke ID does not exist.", 404)
        rows = {r["instance_id"]: r for r in found[0][1]}
        for iid in instance_ids:
            if iid not in rows:
                raise ApiError("InvalidInstanceId.NotFound", "The specified parameter InstanceId does not exist.", 404)
        for iid in instance_ids or list(rows):
            if self.results.reject(invoke_id, iid, "Cancelled", "", waiting=("Pending", "Scheduled")):
                self.results.mark_stop_time(invoke_id, iid)
            elif self.options.stop_running == "terminate" and self.results.request_stop(invoke_id, iid):
                self.agent.stop(invoke_id, iid)
            elif rows[iid]["status"] == "Running":
                self.results.mark_stop_time(invoke_id, iid)

    def redeliver(self, resumed: set[tuple[str, str]]) -> None:
        """After a restart: re-deliver tasks that were still Pending; running ones the agent did not ``resumed``
        (they lost their process) are marked interrupted."""
        pending = self.results.interrupted_at_restart(resumed)
        datas = {r["id"]: r for r in self.store.query("SELECT id, kind, data FROM invocations WHERE id IN "
                                                      "(SELECT invoke_id FROM results WHERE status='Pending')")}
        for row in pending:
            inv = datas[row["invoke_id"]]
            self.agent.submit(row["invoke_id"], row["instance_id"], task_from(inv["kind"], json.loads(inv["data"])))


def task_from(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """What the agent needs from a stored invocation (bytes decoded from their stored Base64)."""
    if kind == "file":
        return {"kind": "file", "name": data["name"], "target_dir": data["target_dir"],
                "data": base64.b64decode(data["data_b64"]), "file_mode": data["file_mode"],
                "owner": data["owner"], "group": data["group"], "overwrite": data["overwrite"]}
    return {"kind": "command", "type": data["type"], "content": base64.b64decode(data["script_b64"]),
            "username": data["username"], "working_dir": data["working_dir"], "timeout": data["timeout"],
            "enable_parameter": data["enable_parameter"], "command_id": data["command_id"],
            "repeat_mode": data["repeat_mode"], "frequency": data["frequency"],
            "termination_mode": data.get("termination_mode", "")}
