# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the controller remembers about each instance between tasks.

ansible runs every task in a fresh process, so this lives in one small JSON file per instance:
which transfer chunks the instance already holds, and how long each kind of command usually takes
there (so the first result poll lands just after the command finishes). It is only ever a hint: a wrong entry
costs an extra round trip, never a wrong result.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import typing as t


class InstanceCache:
    """One instance's memory, scoped by endpoint and access key so accounts never share it."""

    def __init__(self, directory: str, scope: str, instance_id: str) -> None:
        digest = hashlib.sha256(scope.encode()).hexdigest()[:16]
        self.path = os.path.join(os.path.expanduser(directory), digest, f"{instance_id}.json")

    def _load(self) -> dict[str, t.Any]:
        try:
            with open(self.path, encoding="utf-8") as handle:
                data = json.load(handle)
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def _save(self, data: dict[str, t.Any]) -> None:
        directory = os.path.dirname(self.path)
        os.makedirs(directory, mode=0o700, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=directory)
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(data, stream)
        os.replace(temp, self.path)  # atomic: parallel forks never read half a file

    def known_chunks(self) -> set[str]:
        return set(self._load().get("chunks", []))

    def update_chunks(self, add: t.Iterable[str] = (), remove: t.Iterable[str] = ()) -> None:
        data = self._load()
        data["chunks"] = sorted((set(data.get("chunks", [])) | set(add)) - set(remove))
        self._save(data)

    def timing(self, kind: str) -> dict[str, float] | None:
        value = self._load().get("timings", {}).get(kind)
        return value if isinstance(value, dict) else None

    def set_timing(self, kind: str, timing: dict[str, float]) -> None:
        data = self._load()
        data.setdefault("timings", {})[kind] = timing
        self._save(data)
