# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the controller remembers about each instance between tasks.

ansible runs every task in a fresh process, so this lives in one small JSON file per instance:
which transfer chunks the instance already holds, how long each kind of command usually takes
there (so the first result poll lands just after the command finishes), and which payload of each
module it keeps as the base of the next one (stdin_delta; the bytes themselves, module code without
the task's arguments, are stored once per scope, cut into content-addressed pieces, since the
payloads of one playbook run share most of them). It is only ever a hint: a wrong entry costs an
extra round trip, never a wrong result.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
import typing as t

from .file_transfer import split_pieces
from .stdin_delta import carries_arguments

PIECE_BYTES = 32 << 10    # kept payloads are stored in pieces this big, end-aligned: a run's payloads share all but the head
PIECE_DAYS = 7            # stored pieces no base has used for this long are removed...
PRUNE_EVERY = 3600        # ... in a sweep at most this often (seconds)


class InstanceCache:
    """One instance's memory, scoped by endpoint and access key so accounts never share it.

    What the instance holds (chunks, kept bases) is per remote user and per staging directory: ``user`` joins
    the scope, and ``place`` (the staging directory the holdings are in) is stored with them, so after a change
    of user or of directory (an upgrade that moved it) nothing is believed present that is not, and the change
    costs at most one round of chunks reported missing.
    """

    def __init__(self, directory: str, scope: str, instance_id: str, user: str = "", place: str = "") -> None:
        digest = hashlib.sha256(f"{scope}|{user}".encode() if user else scope.encode()).hexdigest()[:16]
        self.path = os.path.join(os.path.expanduser(directory), digest, f"{instance_id}.json")
        self.pieces = os.path.join(os.path.dirname(self.path), "pieces")
        self.place = place

    def _load(self) -> dict[str, t.Any]:
        try:
            with open(self.path, encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        if data.get("place", "") != self.place:  # holdings of another staging directory: not here
            data.pop("chunks", None)
            data.pop("bases", None)
        return data

    def _save(self, data: dict[str, t.Any]) -> None:
        data["place"] = self.place
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

    def remembered(self, key: str) -> str | None:
        value = self._load().get("answers", {}).get(key)
        return value if isinstance(value, str) else None

    def remember(self, key: str, value: str) -> None:
        """A stable answer of the instance (a home directory), so the question need not be asked again."""
        data = self._load()
        data.setdefault("answers", {})[key] = value
        self._save(data)

    def base(self, module: str) -> tuple[str, bytes] | None:
        """(sha256, bytes) of the payload of ``module`` the instance keeps, when all of it is still here."""
        entry = self._load().get("bases", {}).get(module)
        if not isinstance(entry, dict):
            return None
        try:
            parts = []
            for name in entry["pieces"]:
                path = os.path.join(self.pieces, name)
                with open(path, "rb") as handle:
                    parts.append(handle.read())
                os.utime(path)  # in use: spared by the sweep
        except (OSError, KeyError, TypeError):
            return None
        data = b"".join(parts)
        return (entry.get("sha256"), data) if hashlib.sha256(data).hexdigest() == entry.get("sha256") else None

    def set_base(self, module: str, data: bytes) -> None:
        """Keep ``data`` as the base of ``module``'s next payload: only ever a payload without its arguments
        (stdin_delta.split_arguments); one that still holds some is refused here too, never stored."""
        if carries_arguments(data):
            return
        os.makedirs(self.pieces, mode=0o700, exist_ok=True)
        names = []
        for piece in split_pieces(data, PIECE_BYTES):
            name = hashlib.sha256(piece).hexdigest()
            path = os.path.join(self.pieces, name)
            if not os.path.exists(path):
                handle, temp = tempfile.mkstemp(dir=self.pieces)
                with os.fdopen(handle, "wb") as stream:
                    stream.write(piece)
                os.replace(temp, path)
            names.append(name)
        stored = self._load()
        stored.setdefault("bases", {})[module] = {"sha256": hashlib.sha256(data).hexdigest(), "pieces": names}
        self._save(stored)
        self._sweep()

    def forget_holdings(self) -> None:
        """Forget every chunk and base the instance was believed to hold (its directory was cleaned)."""
        stored = self._load()
        stored.pop("chunks", None)
        stored.pop("bases", None)
        self._save(stored)

    def _sweep(self) -> None:
        """Remove pieces unused for PIECE_DAYS: every run of a playbook leaves a few (the payload heads)."""
        stamp = os.path.join(self.pieces, ".swept")
        now = time.time()
        try:
            if now - os.stat(stamp).st_mtime < PRUNE_EVERY:
                return
        except OSError:
            pass
        with open(stamp, "w", encoding="ascii"):
            pass
        for entry in os.scandir(self.pieces):
            try:
                if entry.name != ".swept" and now - entry.stat().st_mtime > PIECE_DAYS * 86400:
                    os.unlink(entry.path)
            except OSError:
                pass
