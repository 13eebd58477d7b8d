# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether this ansible run has reached an API endpoint yet, known to every process of the run.

A call that cannot connect is retried for the whole outage budget (retries.py) once its endpoint has answered
in this run: an outage in the middle of a run is waited out. An endpoint the run has never reached is far more
often a typo (endpoint, region, port) or a network that does not lead there (proxy, DNS, firewall), and waiting
two minutes only delays the error, so the client gives a first contact FIRST_CONTACT_SECONDS (client.py).

"This run" spans processes: ansible runs each host's task in a worker forked from its main process, and a module
in a process of its own below that worker (through the local connection, sometimes sudo). So the fact is a file,
``reached/<run pid>-<its start time>/<digest of the endpoint URL>``, in the controller's private state directory
(private_dirs.py: no other user can plant or remove it). The run is the ansible command this process descends
from (ansible-playbook, ansible, ansible-inventory, ansible-console, ansible-pull): the first such process above
it and the ones above that which are ansible commands too (a forked worker has its main process's command line),
read from /proc. Directories of runs whose process is gone are removed when a new run starts.

A process that descends from no ansible command (a module run on a remote host, a script using the client
directly, a controller without /proc) has no run to tell: its endpoints count as reached, so every call keeps
the outage budget, as before first contacts were told apart.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
import typing as t

from .errors import ConfigError
from .private_dirs import open_private, private_subdirectory, read_private, write_private

ANSIBLE_COMMANDS = frozenset({"ansible", "ansible-playbook", "ansible-inventory", "ansible-console", "ansible-pull"})
MAX_ANCESTORS = 64  # a process tree deeper than this is not a run we can tell
# A run prints one progress line about a failing endpoint at most this often, whichever of its processes waits
# (fifty forks waiting out one outage print one line, not fifty); a little under the client's 10 s cadence, so
# that one waiting process is never skipped for its own jitter.
REPORT_SPACING = 9.0


def start_time(pid: int) -> str:
    """A process's start time (clock ticks since boot), so that a reused pid is not taken for the same process;
    "0" when it cannot be read. The one reader of it (call_slots.py and the session holder use it too)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "0"


def _parent(pid: int) -> int:
    """The parent of ``pid`` (0 when unknown): the field after the state in /proc/<pid>/stat."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def _command(pid: int) -> tuple[str, ...]:
    """The command line of ``pid`` (empty when it cannot be read)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return tuple(part.decode("utf-8", "replace") for part in handle.read().split(b"\0") if part)
    except OSError:
        return ()


def is_ansible_command(argv: t.Sequence[str]) -> bool:
    """Whether a command line runs one of ansible's commands (directly, or as ``python .../ansible-playbook``)."""
    return any(os.path.basename(part) in ANSIBLE_COMMANDS for part in argv[:3])


def run_of(pid: int, parent: t.Callable[[int], int] = _parent,
           command: t.Callable[[int], t.Sequence[str]] = _command) -> int | None:
    """The pid of the ansible command whose run ``pid`` belongs to, or None (see the module's docstring)."""
    found = None
    for _step in range(MAX_ANCESTORS):
        if pid < 1:  # pid 1 is looked at too: in a container ansible-playbook may be it
            break
        if is_ansible_command(command(pid)):
            found = pid
        elif found is not None:
            break  # the chain of ansible processes ended: the last one is the run's main process
        pid = parent(pid)
    return found


class Contacts:
    """The endpoints this process's run has reached: remembered here, and told to the run's other processes."""

    def __init__(self, run: int | None, started: str = "0", env: t.Mapping[str, str] | None = None,
                 clock: t.Callable[[], float] = time.time) -> None:
        self.run = run
        self.started = started
        self.env = env
        self.clock = clock  # wall clock: compared across processes
        self.reached: set[str] = set()

    def _directory(self) -> str:
        base = private_subdirectory("reached", env=self.env)
        directory = os.path.join(base, f"{self.run}-{self.started}")
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            return directory
        for name in os.listdir(base):  # the first process of a run sweeps the directories of ended runs
            pid, _sep, started = name.partition("-")
            if name != os.path.basename(directory) and pid.isdigit() and start_time(int(pid)) != started:
                shutil.rmtree(os.path.join(base, name), ignore_errors=True)
        return directory

    @staticmethod
    def _name(url: str) -> str:
        return hashlib.sha1(url.encode()).hexdigest()[:20]

    def known(self, url: str) -> bool:
        """Whether ``url`` has answered in this run (always true without a run: the outage budget applies)."""
        if self.run is None or url in self.reached:
            return True
        try:
            found = os.path.exists(os.path.join(self._directory(), self._name(url)))
        except (OSError, ConfigError):
            return True  # the state directory cannot be used: keep the outage budget rather than fail early
        if found:
            self.reached.add(url)
        return found

    def note(self, url: str) -> None:
        """``url`` answered (anything, even an error): from now on an outage there is waited out, in every process
        of the run. One file per endpoint and process at most; when the state directory cannot be used, nothing
        is told (and ``known`` keeps the outage budget for everyone)."""
        if self.run is None or url in self.reached:
            return
        self.reached.add(url)
        try:
            os.close(open_private(os.path.join(self._directory(), self._name(url)), os.O_WRONLY | os.O_CREAT))
        except (OSError, ConfigError):
            pass

    def turn_to_report(self, url: str) -> bool:
        """Whether this process prints the run's next progress line about ``url`` failing: none of the run's
        processes printed one in the last REPORT_SPACING seconds. Two processes deciding at the same instant may
        both print; that is all a race costs."""
        if self.run is None:
            return True
        try:
            path = os.path.join(self._directory(), self._name(url) + ".said")
            try:
                last = float(read_private(path).decode("ascii") or 0)
            except (FileNotFoundError, ValueError, UnicodeDecodeError):
                last = 0.0
            now = self.clock()
            if now - last < REPORT_SPACING:
                return False
            write_private(path, repr(now).encode("ascii"))
        except (OSError, ConfigError):
            pass  # no shared state: every process says it
        return True


_PROCESS: dict[int, Contacts] = {}


def process_contacts() -> Contacts:
    """This process's Contacts (a forked worker finds its own, for the same run)."""
    pid = os.getpid()
    if pid not in _PROCESS:
        run = run_of(pid)
        _PROCESS[pid] = Contacts(run, start_time(run) if run is not None else "0")
    return _PROCESS[pid]
