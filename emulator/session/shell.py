"""The agent's session behaviour (agent/session/shell/shell.go, shell_unix.go, channel/sessionchannel.go): a
terminal inside the instance running ``bash`` or the CommandLine as ``ecs-assist-user`` or the given user, its
output sent in chunks of at most 1,024 bytes cut at UTF-8 boundaries with a pause between chunks (the rate limit),
cancelled after ``idle`` seconds without a message from the client and after ``max`` seconds in all."""
from __future__ import annotations

import fcntl
import os
import select
import shlex
import signal
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..isolation import BASE_ENV, Sandbox
from ..procs import children_map, kill_tree

CHUNK = 1024  # the agent's sendPackageSize: bytes read from the terminal per send
DEFAULT_USER = "ecs-assist-user"
TERM = "xterm-256color"
# The agent creates its default user once, with passwordless sudo (agent/util/process/process_unix.go
# CreateLocalAdminUser, process_linux.go): useradd -m, nologin shell, a 0440 sudoers file.
CREATE_USER = (f"id -u {DEFAULT_USER} >/dev/null 2>&1 || {{ useradd -m {DEFAULT_USER} -s /sbin/nologin && "
               f"printf '# User rules for {DEFAULT_USER}\\n{DEFAULT_USER} ALL=(ALL) NOPASSWD:ALL\\n' "
               f"> /etc/sudoers.d/{DEFAULT_USER} && chmod 0440 /etc/sudoers.d/{DEFAULT_USER}; }}")


class StartFailed(Exception):
    """The terminal could not start (the agent's Open_pty_failed): unknown user, bad CommandLine."""


@dataclass
class Account:
    """Who the terminal runs as, inside the instance."""

    name: str
    uid: int
    gid: int
    home: str


def interval_ms(bits_per_second: int) -> int | None:
    """The pause between chunks for a rate, as the agent computes it (shell.go ``NewShellPlugin``:
    1000 / (rate / 8 / 1024) in integer arithmetic); None where the agent would divide by zero (below 8,192
    bit/s), which the emulator ignores ⚠."""
    packets = bits_per_second // 8 // CHUNK
    return 1000 // packets if packets else None


def utf8_cut(data: bytes) -> tuple[bytes, bytes]:
    """(what to send, what to keep for the next read): an incomplete UTF-8 sequence in the last three bytes waits
    for its remaining bytes (shell.go ``processStdoutData``); invalid bytes elsewhere are sent as they are."""
    for back in range(1, min(3, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 == 0x80:
            continue
        if byte >= 0xC0:
            needed = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            if needed > back:
                return data[:-back], data[-back:]
        break
    return data, b""


def resolve_account(sandbox: Sandbox, instance: dict[str, Any], username: str) -> Account:
    """The account inside the instance (created first when it is the agent's default user); StartFailed when it
    does not exist, as the agent fails the session for a missing RunAs user. Host mode (no isolation) runs as
    the emulator's own user in the instance's host directory: it never creates users on the host."""
    if sandbox.mode == "none":
        return Account(username or DEFAULT_USER, os.getuid(), os.getgid(), sandbox.home(instance))
    name = username or DEFAULT_USER
    script = (CREATE_USER + "; " if not username else "") + f"getent passwd {shlex.quote(name)}"
    done = sandbox.exec(instance, script, timeout=30)
    fields = done["stdout"].strip().splitlines()[-1].split(":") if done["stdout"].strip() else []
    if len(fields) < 7:
        raise StartFailed(f"failed to start pty since RunAs user {name} does not exist")
    return Account(name, int(fields[2]), int(fields[3]), fields[5] or "/")


def command_argv(command_line: str) -> list[str]:
    """``bash`` or the CommandLine split as a shell would (the agent uses shlex.Split, shell_unix.go)."""
    if not command_line:
        return ["bash"]
    try:
        argv = shlex.split(command_line)
    except ValueError as exc:
        raise StartFailed(f"split command content failed: {exc}") from None
    if not argv:
        raise StartFailed("split command content failed: empty command")
    return argv


class Terminal:
    """A process on a pseudo-terminal inside the instance, in a session of its own with the terminal as its
    controlling terminal. ``end`` kills everything in that session and below the process, so nothing the
    terminal started is left in the instance.

    The pump reads and the client's reader writes from two threads while ``end`` may close the terminal: every
    use of its descriptor happens under a lock after a check that it is still open (a closed descriptor's number
    is soon another session's terminal), and the descriptor is non-blocking, so no thread waits under the lock."""

    def __init__(self, sandbox: Sandbox, instance: dict[str, Any], account: Account, command_line: str) -> None:
        argv = command_argv(command_line)
        env = {**BASE_ENV, "TERM": TERM, "HOME": account.home}
        if sandbox.mode == "none":
            full = ["setsid", "-c", *argv]
            cwd: str | None = account.home
        else:
            full = [*sandbox.prefix(instance, account.home), "setsid", "-c", "setpriv", f"--reuid={account.uid}",
                    f"--regid={account.gid}", "--init-groups", "--", *argv]
            cwd = None
        self.master, slave = os.openpty()
        os.set_blocking(self.master, False)
        self._ended = False
        self._closed = False
        self._lock = threading.Lock()
        try:
            self.proc = subprocess.Popen(full, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
                                         start_new_session=True, close_fds=True)
        except OSError as exc:
            os.close(self.master)
            raise StartFailed(f"Failed to start pty: {exc}") from None
        finally:
            os.close(slave)

    def resize(self, rows: int, cols: int) -> None:
        """TIOCSWINSZ on the terminal (set_size)."""
        with self._lock:
            if self._closed:
                return
            try:
                fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", max(rows, 0), max(cols, 0), 0, 0))
            except OSError:
                pass

    def write(self, data: bytes) -> None:
        """Input to the terminal, all of it: a full terminal buffer holds the client's reader back, as a real pty
        does; OSError once the terminal is closed."""
        view = memoryview(data)
        while view:
            wait_for(self.master, select.POLLOUT, 0.2)
            with self._lock:
                if self._closed:
                    raise OSError("the terminal is closed")
                try:
                    view = view[os.write(self.master, view):]
                except BlockingIOError:
                    continue

    def read(self, size: int, wait: float) -> bytes | None:
        """Up to ``size`` bytes; b"" once the terminal is closed on either side (the agent's read error ends
        its pump), None when nothing came within ``wait`` seconds."""
        wait_for(self.master, select.POLLIN, wait)
        with self._lock:
            if self._closed:
                return b""
            try:
                return os.read(self.master, size)
            except BlockingIOError:
                return None
            except OSError:
                return b""

    def end(self) -> None:
        """Kill the terminal's whole session and process tree, reap the process, close the terminal (once)."""
        with self._lock:
            if self._ended:
                return
            self._ended = True
        kill_session(self.proc.pid)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        with self._lock:
            self._closed = True
            try:
                os.close(self.master)
            except OSError:
                pass


def wait_for(fd: int, events: int, seconds: float) -> None:
    """Until ``fd`` is ready or ``seconds`` pass (poll, not select: an emulator serving thousands of connections
    has descriptors above select's 1,024). A closed descriptor just returns: the caller checks under its lock."""
    poller = select.poll()
    poller.register(fd, events)
    try:
        poller.poll(seconds * 1000)
    except OSError:
        pass


def session_of(pid: int) -> int | None:
    """The session id (field 6 of /proc/pid/stat) of a process, None once it is gone."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[3])
    except (OSError, IndexError, ValueError):
        return None


def kill_session(pid: int) -> None:
    """SIGKILL ``pid``, everything below it, and every process of the sessions they lead or belong to (a job
    put in the background by the shell, reparented to the instance's init once the shell died)."""
    tree = children_map()
    todo, below = [pid], []
    while todo:
        current = todo.pop()
        below.append(current)
        todo.extend(tree.get(current, []))
    own = {session_of(os.getpid()), 0, 1, None}
    sessions = {session_of(p) for p in below} - own
    kill_tree(pid)
    for entry in os.listdir("/proc"):
        if entry.isdigit() and session_of(int(entry)) in sessions:
            try:
                os.kill(int(entry), signal.SIGKILL)
            except OSError:
                pass


class Pump:
    """The agent's write pump and its cancel timers, in one thread per session: wait ``start_delay`` (the agent
    sleeps a second before its first read, shell.go ``writePump``), then read at most 1,024 bytes, send what is
    complete UTF-8, pause ``interval`` ms, again; stop when the terminal closes ("Exit"), after ``idle`` seconds
    without a client message or ``max_seconds`` in all ("Timeout" ⚠: the agent reports Timeout to the service,
    what the service then sends the client is not public)."""

    def __init__(self, terminal: Terminal, send: Callable[[bytes], bool], finish: Callable[[str], None],
                 rate_bps: int, idle: float, max_seconds: float, start_delay: float) -> None:
        self.terminal = terminal
        self.send = send
        self.finish = finish
        self.interval = (interval_ms(rate_bps) or 40) / 1000
        self.idle = idle
        self.max_seconds = max_seconds
        self.start_delay = start_delay
        self.started = time.monotonic()
        self.last_input = self.started
        self.stopped = threading.Event()

    def touch(self) -> None:
        """A message came from the client: the idle count starts again (sessionchannel.go input_stream_cnt)."""
        self.last_input = time.monotonic()

    def set_rate(self, bits_per_second: int) -> None:
        """Status code 7: a new output rate."""
        pause = interval_ms(bits_per_second)
        if pause is not None:
            self.interval = pause / 1000

    def run(self) -> None:
        """The pump loop; calls ``finish`` with the reason once, unless stopped from outside first."""
        reason = self._loop()
        if not self.stopped.is_set():
            self.finish(reason)

    def _expired(self) -> bool:
        now = time.monotonic()
        return now - self.last_input > self.idle or now - self.started > self.max_seconds

    def _loop(self) -> str:
        if self.stopped.wait(self.start_delay):
            return "Exit"
        pending = b""
        while not self.stopped.is_set():
            if self._expired():
                return "Timeout"
            data = self.terminal.read(CHUNK - len(pending), 0.2)
            if data is None:
                continue
            if not data:
                if pending:
                    self.send(pending)
                return "Exit"
            chunk, pending = utf8_cut(pending + data)
            if chunk and not self.send(chunk):
                return "Exit"
            if self.stopped.wait(self.interval):
                break
        return "Exit"
