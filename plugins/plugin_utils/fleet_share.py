# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One fleet run shared by the per-host tasks of one ansible run, across its forked workers.

ansible runs an action once per host, each in a worker process forked from its main process, at most
``forks`` at a time. For ``alicloud.ecs.run`` to cost one RunCommand per 100 instances whatever
``forks`` is, the first host's task to arrive (the *leader*) runs the command for every target of
the batch, and every other host's task waits for the result of its own instance. The workers
share nothing but files, so this module keeps them in a directory per ansible run:

* ``<state>/fleet-runs/<main pid>-<its start time>/`` — one per ansible run, in this user's private state
  directory (module_utils/api/private_dirs.py: no other user can enter it, plant files in it or hold its
  locks); directories of runs whose main process is gone are removed when a new run starts;
* ``<run>/<share key>/`` — one per task and batch of hosts (the caller builds the key);
* ``arrivals/<host>`` — how many times this host's task arrived (a ``loop`` or a task run again
  arrives once per round, and round N of every host belongs together);
* ``<round>.lead`` — created exclusively by the leader of a round (holds its pid and that process's start time);
* ``<round>/<instance>.json`` — each instance's result, written before ``<round>.done``;
* ``<round>.all.json`` — with explicit targets, the whole run (every result, the full summary), for the hosts
  that are not among those targets (localhost, a bastion group), written before ``<round>.done``;
* ``<round>.done`` — the run's summary, or its error, written last.

Where the leader cannot know which hosts will run the task (hosts moving on their own under
``strategy: free``, tasks of a dynamic include, whose copies differ between hosts), hosts *gather*
instead (``Gathering``): the first to arrive opens a group, those arriving while it is open join it,
and its leader closes it once nobody new came for a moment (or every host of the batch is in), then
runs the command for the members only. A group is a ``SharedRun`` of its own. Its members wait for their
leader to close it; when that leader died first (or still has not closed it well past GATHER_MAX), one of
them closes it in its place. Whoever creates ``<round>.lead`` runs the command, and only one can, so no
command runs twice.

Every file is written 0600, never through a link; every lock is waited for with a deadline. Nothing here
calls the API.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import typing as t
from pathlib import Path

from ansible_collections.alicloud.ecs.plugins.module_utils.api.contact import start_time as _start_time
from ansible_collections.alicloud.ecs.plugins.module_utils.api.private_dirs import (
    lock_any, open_private, private_subdirectory, read_private, write_private,
)

# How often a waiting host looks for the result; no API call is made while waiting.
WAIT_STEP = 0.2
# A group closes once nobody new joined for this long (ansible starts the workers one after the other),
# and after GATHER_MAX seconds at the latest.
GATHER_QUIET = 1.0
GATHER_MAX = 10.0
# A member whose leader has not closed the group this long after it joined closes it itself (a live leader
# closes it within GATHER_MAX, plus the moments its lock waits take).
GATHER_TAKEOVER = GATHER_MAX + 20.0


class LeaderGone(RuntimeError):
    """The leader's process ended without a result: its hosts must not run the command again."""


def digest(*parts: str) -> str:
    return hashlib.sha1("\0".join(parts).encode()).hexdigest()[:20]


def run_directory() -> Path:
    """This ansible run's directory: the workers' parent is ansible's main process."""
    base = Path(private_subdirectory("fleet-runs"))
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


def _alive(pid: int, started: str | None = None) -> bool:
    """Whether ``pid`` runs, and is still the process that started at ``started`` (when known): a pid reused by
    another process is not the leader."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return started is None or _start_time(pid) == started


def _me() -> str:
    return f"{os.getpid()} {_start_time(os.getpid())}"


def _write(path: Path, data: t.Any) -> None:
    """Write JSON atomically (a reader sees the whole file or none), 0600."""
    write_private(str(path), json.dumps(data).encode())


def _read(path: Path) -> t.Any:
    return json.loads(read_private(str(path)))


class SharedRun:
    """The files of one task over one batch of hosts, seen from one host's task."""

    def __init__(self, directory: Path, host: str, round_number: int | None = None) -> None:
        self.directory = directory
        self.host = host
        directory.mkdir(mode=0o700, exist_ok=True)
        (directory / "arrivals").mkdir(mode=0o700, exist_ok=True)
        self.round = self._arrive() if round_number is None else round_number

    def _arrive(self) -> int:
        counter = self.directory / "arrivals" / digest(self.host)
        try:
            arrived = int(_read(counter))
        except (OSError, ValueError):
            arrived = 0
        _write(counter, arrived + 1)
        return arrived

    def _path(self, suffix: str) -> Path:
        return self.directory / f"{self.round}{suffix}"

    def lead(self) -> bool:
        """True for exactly one host's task per round: the one that runs the command for all."""
        try:
            descriptor = open_private(str(self._path(".lead")), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return False
        with os.fdopen(descriptor, "w") as handle:
            handle.write(f"{_me()} {self.host}")
        return True

    def led(self) -> bool:
        """Whether some host's task has become this round's leader."""
        return self._path(".lead").exists()

    def publish(self, results: t.Mapping[str, t.Mapping[str, t.Any]], outcome: t.Mapping[str, t.Any],
                whole: t.Mapping[str, t.Any] | None = None) -> None:
        """Each instance's result (keyed by instance id), the ``whole`` run when given, then the outcome every
        host reads."""
        folder = self._path("")
        folder.mkdir(mode=0o700, exist_ok=True)
        for instance_id, result in results.items():
            _write(folder / f"{digest(instance_id)}.json", result)
        if whole is not None:
            _write(self._path(".all.json"), whole)
        _write(self._path(".done"), outcome)

    def whole(self) -> dict[str, t.Any] | None:
        """The whole run the leader published (``publish(whole=...)``), once ``wait()`` returned; else None."""
        try:
            return _read(self._path(".all.json"))
        except FileNotFoundError:
            return None

    def wait(self, sleep: t.Callable[[float], None] = time.sleep) -> dict[str, t.Any]:
        """The leader's outcome, once it is there; LeaderGone when the leader died before writing it."""
        done = self._path(".done")
        while True:
            if done.exists():
                return _read(done)
            try:
                pid_text, started, leader = (read_private(str(self._path(".lead"))).decode() + "  ").split(" ", 2)
            except FileNotFoundError:  # a gathered group whose leader has not closed it yet
                pid_text, started, leader = "", "", ""
            if pid_text.isdigit() and not _alive(int(pid_text), started) and not done.exists():
                raise LeaderGone(f"the task of host {leader.strip()}, which ran the command for this batch, ended "
                                 "without a result; the command is not sent again (see that host's result)")
            sleep(WAIT_STEP)

    def result_of(self, instance_id: str) -> dict[str, t.Any] | None:
        try:
            return _read(self._path("") / f"{digest(instance_id)}.json")
        except FileNotFoundError:
            return None


class Gathering:
    """Hosts of one round that share a command because they arrived together (see the module's docstring)."""

    def __init__(self, directory: Path, host: str, options: str) -> None:
        self.round = SharedRun(directory, host).round
        self.directory = directory / f"{self.round}.groups"
        self.directory.mkdir(mode=0o700, exist_ok=True)
        self.host = host
        with self._locked():
            state = self._state()
            group = state.get("open")
            if group is None or state["options"] != options:
                group = state["count"]
                state.update(count=group + 1, open=group, options=options, members=[], changed=time.monotonic(),
                             leader=f"{_me()} {host}")
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
            return _read(self.directory / "state.json")
        except FileNotFoundError:
            return {"count": 0, "open": None, "options": "", "members": []}

    def settle(self, everyone: int, sleep: t.Callable[[float], None] = time.sleep,
               clock: t.Callable[[], float] = time.monotonic) -> list[str] | None:
        """The members when this host's task runs the command for the group, else None (its leader does: wait
        for the outcome with ``run.wait()``)."""
        if self.leads:
            return self.close(everyone, sleep, clock)
        return self.follow(sleep, clock)

    def close(self, everyone: int, sleep: t.Callable[[float], None] = time.sleep,
              clock: t.Callable[[], float] = time.monotonic) -> list[str] | None:
        """(Leader) wait until nobody new joins (or all ``everyone`` hosts are in), close the group, its members.

        None when a member closed it first (this leader was too slow, see ``follow``): that member runs it.
        """
        started = clock()
        while True:
            with self._locked():
                state = self._state()
                if state.get("open") != self.group:
                    return None
                quiet = clock() - state["changed"] >= GATHER_QUIET
                if len(state["members"]) >= everyone or quiet or clock() - started >= GATHER_MAX:
                    return self._take_over(state)
            sleep(WAIT_STEP)

    def follow(self, sleep: t.Callable[[float], None] = time.sleep,
               clock: t.Callable[[], float] = time.monotonic) -> list[str] | None:
        """(Member) None once the leader closed the group; the members, without the leader's host, when the
        leader's process ended before closing it; the members when it has not closed it GATHER_TAKEOVER seconds
        after this host joined. In the last two cases this host's task runs the command in the leader's place."""
        deadline = clock() + GATHER_TAKEOVER
        while True:
            if self.run.led():
                return None
            with self._locked():
                state = self._state()
                if state.get("open") != self.group:
                    return None
                pid_text, started, leader = (str(state.get("leader", "")) + "  ").split(" ", 2)
                if pid_text.isdigit() and not _alive(int(pid_text), started):
                    state["members"] = [host for host in state["members"] if host != leader.strip()]
                    return self._take_over(state)
                if clock() >= deadline:
                    return self._take_over(state)
            sleep(WAIT_STEP)

    def _take_over(self, state: dict[str, t.Any]) -> list[str] | None:
        """(Under the lock) become the group's leader and close it: the ``.lead`` file first, so that a closed
        group always has one; None when another task already leads it."""
        if not self.run.lead():
            return None
        state["open"] = None
        _write(self.directory / "state.json", state)
        return list(state["members"])


class _FileLock:
    """An exclusive flock on a file, for a few reads and writes; waited for ANSIBLE_ALICLOUD_LOCK_WAIT at most."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.descriptor = -1

    def __enter__(self) -> _FileLock:
        descriptor = open_private(str(self.path))
        try:
            lock_any([descriptor], f"file {self.path} (a fleet run's gathering of hosts)")
        except BaseException:
            os.close(descriptor)
            raise
        self.descriptor = descriptor
        return self

    def __exit__(self, *exc: t.Any) -> None:
        if self.descriptor < 0:  # __enter__ never ran: nothing is locked
            return
        os.close(self.descriptor)  # closing the descriptor releases its lock
        self.descriptor = -1
