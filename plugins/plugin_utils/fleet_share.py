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

Where the leader cannot know which hosts will run the task (hosts moving on their own under
``strategy: free``, tasks of a dynamic include, whose copies differ between hosts), hosts *gather*
instead (``Gathering``): the first to arrive opens a group, those arriving while it is open join it,
and its leader closes it once nobody new came for a moment (or every host of the batch is in), then
runs the command for the members only. A group is a ``SharedRun`` of its own.

Nothing here calls the API.
"""

from __future__ import annotations

import fcntl
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
# A group closes once nobody new joined for this long (ansible starts the workers one after the other),
# and after GATHER_MAX seconds at the latest.
GATHER_QUIET = 1.0
GATHER_MAX = 10.0


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

    def __init__(self, directory: Path, host: str, round_number: int | None = None) -> None:
        self.directory = directory
        self.host = host
        (directory / "arrivals").mkdir(parents=True, exist_ok=True)
        self.round = self._arrive() if round_number is None else round_number

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
            try:
                pid_text, _sep, leader = self._path(".lead").read_text().partition(" ")
            except FileNotFoundError:  # a gathered group whose leader has not closed it yet
                pid_text, leader = "", ""
            if pid_text.isdigit() and not _alive(int(pid_text)) and not done.exists():
                raise LeaderGone(f"the task of host {leader}, which ran the command for this batch, ended "
                                 "without a result; the command is not sent again (see that host's result)")
            sleep(WAIT_STEP)

    def result_of(self, instance_id: str) -> dict[str, t.Any] | None:
        try:
            return json.loads((self._path("") / f"{digest(instance_id)}.json").read_text())
        except FileNotFoundError:
            return None


class Gathering:
    """Hosts of one round that share a command because they arrived together (see the module's docstring)."""

    def __init__(self, directory: Path, host: str, options: str) -> None:
        self.round = SharedRun(directory, host).round
        self.directory = directory / f"{self.round}.groups"
        self.directory.mkdir(exist_ok=True)
        self.host = host
        with self._locked():
            state = self._state()
            group = state.get("open")
            if group is None or state["options"] != options:
                group = state["count"]
                state.update(count=group + 1, open=group, options=options, members=[], changed=time.monotonic())
                self.leads = True
            else:
                self.leads = False
            state["members"].append(host)
            state["changed"] = time.monotonic()
            _write(self.directory / "state.json", state)
        self.group = group
        self.run = SharedRun(self.directory, host, round_number=group)

    def _locked(self) -> t.ContextManager[t.Any]:
        return _FileLock(self.directory / "lock")

    def _state(self) -> dict[str, t.Any]:
        try:
            return json.loads((self.directory / "state.json").read_text())
        except FileNotFoundError:
            return {"count": 0, "open": None, "options": "", "members": []}

    def close(self, everyone: int, sleep: t.Callable[[float], None] = time.sleep,
              clock: t.Callable[[], float] = time.monotonic) -> list[str]:
        """(Leader) wait until nobody new joins (or all ``everyone`` hosts are in), close the group, its members."""
        started = clock()
        while True:
            with self._locked():
                state = self._state()
                quiet = clock() - state["changed"] >= GATHER_QUIET
                if len(state["members"]) >= everyone or quiet or clock() - started >= GATHER_MAX:
                    state["open"] = None
                    _write(self.directory / "state.json", state)
                    self.run.lead()
                    return list(state["members"])
            sleep(WAIT_STEP)


class _FileLock:
    """An exclusive flock on a file, for a few reads and writes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle: t.IO[str] | None = None

    def __enter__(self) -> _FileLock:
        self.handle = open(self.path, "a", encoding="ascii")  # pylint: disable=consider-using-with
        fcntl.flock(self.handle, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: t.Any) -> None:
        if self.handle is None:  # __enter__ never ran: nothing is locked
            return
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()
