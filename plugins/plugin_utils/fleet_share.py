# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One fleet run shared by the per-host tasks of one ansible run, across its forked workers.

ansible runs an action once per host, each in a worker process forked from its main process, at most
``forks`` at a time. For ``alicloud.ecs.run`` to cost one RunCommand per 100 instances whatever
``forks`` is, the first host's task to arrive (the *leader*) runs the command for every target of
the batch, and every other host's task waits for the result of its own instance. The workers
share nothing but files, so this module keeps them in a directory per ansible run:

* ``<tmp>/alicloud-ecs-run-<uid>/<main pid>-<its start time>/`` — one per ansible run; directories of
  runs whose main process is gone are removed when a new run starts;
* ``<run>/<share key>/`` — one per task and batch of hosts (the caller builds the key);
* ``arrivals/<host>`` — how many times this host's task arrived (a ``loop`` or a task run again
  arrives once per round, and round N of every host belongs together);
* ``<round>.lead`` — created exclusively by the leader of a round (holds its pid);
* ``<round>/<instance>.json`` — each instance's result, written before ``<round>.done``;
* ``<round>.done`` — the run's summary, or its error, written last.

Nothing here calls the API.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
import typing as t
from pathlib import Path

# How often a waiting host looks for the result; no API call is made while waiting.
WAIT_STEP = 0.2


class LeaderGone(RuntimeError):
    """The leader's process ended without a result: its hosts must not run the command again."""


def digest(*parts: str) -> str:
    return hashlib.sha1("\0".join(parts).encode()).hexdigest()[:20]


def _start_time(pid: int) -> str:
    """A process's start time (clock ticks since boot), so that a reused pid is not taken for the same run."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "0"


def run_directory() -> Path:
    """This ansible run's directory: the workers' parent is ansible's main process."""
    base = Path(tempfile.gettempdir()) / f"alicloud-ecs-run-{os.getuid()}"
    base.mkdir(mode=0o700, exist_ok=True)
    parent = os.getppid()
    directory = base / f"{parent}-{_start_time(parent)}"
    try:
        directory.mkdir(mode=0o700)
    except FileExistsError:
        return directory
    for entry in base.iterdir():
        pid, _sep, started = entry.name.partition("-")
        if entry != directory and pid.isdigit() and _start_time(int(pid)) != started:
            shutil.rmtree(entry, ignore_errors=True)
    return directory


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _write(path: Path, data: t.Any) -> None:
    """Write JSON atomically: a reader sees the whole file or none."""
    temp = path.with_name(f".{path.name}.{os.getpid()}")
    temp.write_text(json.dumps(data))
    os.replace(temp, path)


class SharedRun:
    """The files of one task over one batch of hosts, seen from one host's task."""

    def __init__(self, directory: Path, host: str) -> None:
        self.directory = directory
        self.host = host
        (directory / "arrivals").mkdir(parents=True, exist_ok=True)
        self.round = self._arrive()

    def _arrive(self) -> int:
        counter = self.directory / "arrivals" / digest(self.host)
        try:
            arrived = int(counter.read_text())
        except (OSError, ValueError):
            arrived = 0
        _write(counter, arrived + 1)
        return arrived

    def _path(self, suffix: str) -> Path:
        return self.directory / f"{self.round}{suffix}"

    def lead(self) -> bool:
        """True for exactly one host's task per round: the one that runs the command for all."""
        try:
            descriptor = os.open(self._path(".lead"), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            return False
        with os.fdopen(descriptor, "w") as handle:
            handle.write(f"{os.getpid()} {self.host}")
        return True

    def publish(self, results: t.Mapping[str, t.Mapping[str, t.Any]], outcome: t.Mapping[str, t.Any]) -> None:
        """Each instance's result (keyed by instance id), then the outcome every host reads."""
        folder = self._path("")
        folder.mkdir(exist_ok=True)
        for instance_id, result in results.items():
            _write(folder / f"{digest(instance_id)}.json", result)
        _write(self._path(".done"), outcome)

    def wait(self, sleep: t.Callable[[float], None] = time.sleep) -> dict[str, t.Any]:
        """The leader's outcome, once it is there; LeaderGone when the leader died before writing it."""
        done = self._path(".done")
        while True:
            if done.exists():
                return json.loads(done.read_text())
            pid_text, _sep, leader = self._path(".lead").read_text().partition(" ")
            if pid_text.isdigit() and not _alive(int(pid_text)) and not done.exists():
                raise LeaderGone(f"the task of host {leader}, which ran the command for this batch, ended "
                                 "without a result; the command is not sent again (see that host's result)")
            sleep(WAIT_STEP)

    def result_of(self, instance_id: str) -> dict[str, t.Any] | None:
        try:
            return json.loads((self._path("") / f"{digest(instance_id)}.json").read_text())
        except FileNotFoundError:
            return None
