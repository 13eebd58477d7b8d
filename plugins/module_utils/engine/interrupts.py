# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stop what this process started on the instances when ansible is interrupted (SIGINT or SIGTERM).

An invocation outlives the process that started it: killed controller or not, the command runs on
to its end on the instance. ansible-playbook passes SIGINT and SIGTERM on to each forked worker,
and the worker at once kills its own process group (itself and any module it runs) with the same
signal (ansible-core's WorkerProcess._term). So every wait on an invocation registers it here
(``tracking``); the first signal while anything is registered sends StopInvocation for each of them
at once, says on standard error which were stopped, and then hands the signal on to the handler
that was installed before (ansible's), so ansible goes on exactly as it would have.

Handlers can only be installed from the main thread, which is where ansible runs a task's
connection, action plugin and module; waits in helper threads (page reads) are registered all the
same, and stopped by the main thread's handler.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import typing as t
from concurrent.futures import ThreadPoolExecutor, wait

from ..api.errors import CloudError
from .invocations_api import stop_invocation

if t.TYPE_CHECKING:  # pragma: no cover
    from ..api.client import CloudClient

SIGNALS = (signal.SIGINT, signal.SIGTERM)
# All stops together get this long: ansible waits about 5 s for its workers before it kills them.
STOP_SECONDS = 3.0
EXECUTION_PREFIX = "exec-"  # OOS execution ids; every other id tracked here is a Cloud Assistant invocation


class _InFlight:
    """The invocations this process waits on, and the handlers it replaced to watch for signals."""

    def __init__(self) -> None:
        self.lock = threading.RLock()  # re-entrant: the handler may interrupt the main thread inside it
        self.entries: dict[int, tuple[CloudClient, str, str]] = {}
        self.next_key = 0
        self.previous: dict[int, t.Any] = {}
        self.stopped: list[str] = []  # what the last signal stopped, as reported (for tests and callers)
        self.handling = False  # a signal's stops are on their way
        self.operator_fd: int | None = None  # where the operator reads what was stopped

    def add(self, client: CloudClient, invoke_id: str, label: str) -> int:
        with self.lock:
            self.next_key += 1
            self.entries[self.next_key] = (client, invoke_id, label)
            return self.next_key

    def remove(self, key: int) -> None:
        with self.lock:
            self.entries.pop(key, None)

    def take_all(self) -> list[tuple[CloudClient, str, str]]:
        """Every invocation in flight, once each; they are forgotten, so nothing is stopped twice."""
        with self.lock:
            seen: dict[str, tuple[CloudClient, str, str]] = {}
            for entry in self.entries.values():
                seen.setdefault(entry[1], entry)
            self.entries.clear()
            return list(seen.values())


IN_FLIGHT = _InFlight()


def install() -> bool:
    """Watch SIGINT and SIGTERM in this process (once; main thread only). True when watching."""
    if threading.current_thread() is not threading.main_thread():
        return bool(IN_FLIGHT.previous)
    with IN_FLIGHT.lock:
        if IN_FLIGHT.operator_fd is None:
            IN_FLIGHT.operator_fd = _operator_stream()
        for signum in SIGNALS:
            current = signal.getsignal(signum)
            if current is not _on_signal:
                IN_FLIGHT.previous[signum] = current
                signal.signal(signum, _on_signal)
    return True


def track(client: CloudClient, invoke_id: str, label: str) -> int:
    """From now on a SIGINT or SIGTERM stops ``invoke_id`` (``label`` says what it was); ``untrack`` the key
    returned once it ended. For waits that are not one block (a fleet run's launches and polls)."""
    install()
    return IN_FLIGHT.add(client, invoke_id, label)


def untrack(key: int) -> None:
    IN_FLIGHT.remove(key)


@contextlib.contextmanager
def tracking(client: CloudClient, invoke_id: str, label: str) -> t.Iterator[None]:
    """While the block runs, a SIGINT or SIGTERM stops ``invoke_id`` (``label`` says what it was)."""
    key = track(client, invoke_id, label)
    try:
        yield
    finally:
        untrack(key)


def stop_all(reason: str, seconds: float = STOP_SECONDS) -> list[str]:
    """StopInvocation for everything in flight, all at once, within ``seconds``; one line per stop."""
    entries = IN_FLIGHT.take_all()
    if not entries:
        return []

    def stop(entry: tuple[CloudClient, str, str]) -> str:
        client, invoke_id, label = entry
        # An OOS execution (exec-…, the fleet run's oos engine) is cancelled: no new instance starts, and OOS
        # stops the commands it runs; an invocation is stopped.
        execution = invoke_id.startswith(EXECUTION_PREFIX)
        what = "execution" if execution else "invocation"
        try:
            # A client of its own: the interrupted thread may be inside the SDK, holding its connection pool.
            own = client.for_region(client.region)
            if execution:
                own.call("CancelExecution", product="oos", ExecutionId=invoke_id, retry=True, budget=seconds / 2)
            else:
                stop_invocation(own, invoke_id, retry=True, budget=seconds / 2)
        except CloudError as error:
            return f"alicloud.ecs: {reason}: could not stop {what} {invoke_id} ({label}): {error}"
        return f"alicloud.ecs: {reason}: {'cancelled' if execution else 'stopped'} {what} {invoke_id} ({label})"

    pool = ThreadPoolExecutor(max_workers=min(32, len(entries)))
    futures = {pool.submit(stop, entry): entry for entry in entries}
    done, pending = wait(futures, timeout=seconds)
    pool.shutdown(wait=False)
    lines = [future.result() for future in done]
    lines += [f"alicloud.ecs: {reason}: no answer to StopInvocation of {futures[future][1]} ({futures[future][2]})"
              for future in pending]
    return sorted(lines)


# The ansible CLIs an operator runs; their standard error is where the lines about stopped invocations belong.
ANSIBLE_CLIS = frozenset({"ansible-playbook", "ansible", "ansible-console", "ansible-pull"})
MAX_ANCESTORS = 12


def _stat_ppid(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def _runs_ansible_cli(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            argv = cmdline.read().split(b"\0")[:2]
    except OSError:
        return False
    return any(os.path.basename(word.decode("utf-8", "replace")) in ANSIBLE_CLIS for word in argv)


def _controller() -> int | None:
    """The outermost ancestor (or this process) running an ansible CLI: ansible-playbook itself."""
    pid, found = os.getpid(), None
    for _step in range(MAX_ANCESTORS):
        if _runs_ansible_cli(pid):
            found = pid
        pid = _stat_ppid(pid)
        if pid <= 1:
            break
    return found


def _operator_stream() -> int:
    """The file descriptor the operator reads: the standard error of ansible-playbook itself.

    ansible's workers have their standard streams on /dev/null and talk to the terminal through a
    queue to the parent, which stops reading it the moment it is interrupted (and on SIGTERM exits at
    once); a module's standard error goes to its worker, which dies first. So a worker or a module
    opens the standard error of the ansible CLI above it while that still lives (Linux's /proc;
    elsewhere, or outside ansible, our own standard error: the lines may be lost, the stops are not).
    """
    controller = _controller()
    if controller is None or controller == os.getpid():
        return 2
    try:
        return os.open(f"/proc/{controller}/fd/2", os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
    except OSError:
        return 2


def tell_operator(text: str) -> None:
    """Write ``text`` where the operator sees it (see _operator_stream)."""
    try:
        os.write(2 if IN_FLIGHT.operator_fd is None else IN_FLIGHT.operator_fd, text.encode("utf-8", "replace"))
    except OSError:
        pass  # no standard error left to write to: the stops were sent all the same


def _on_signal(signum: int, frame: t.Any) -> None:
    """Stop what is in flight, tell the operator, then let the previous handler have the signal.

    ansible's parent follows its SIGINT with a SIGTERM to each worker at once; a signal that comes
    while the stops of an earlier one are on their way lets them finish first, then takes its course.
    """
    if IN_FLIGHT.handling:
        return
    IN_FLIGHT.handling = True
    try:
        lines = stop_all(signal.Signals(signum).name)
    finally:
        IN_FLIGHT.handling = False
    IN_FLIGHT.stopped = lines
    if lines:
        tell_operator("\n".join(lines) + "\n")
    previous = IN_FLIGHT.previous.get(signum, signal.SIG_DFL)
    if callable(previous):
        previous(signum, frame)
    elif previous == signal.SIG_DFL:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
