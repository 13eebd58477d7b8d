"""A command's run, detached from the emulator's process: it survives an API restart, as on a real instance.

The real agent runs on the instance and keeps running (and keeps the results) while the control plane blinks. So
the agent here does not hold a command by a pipe: a small host-side wrapper runs it with its output going to a
file in a per-run directory of the state dir and writes the exit code next to it when the command ends. The
emulator follows the file; an emulator started on the same state dir after a crash finds the directory (and the
wrapper's pid with its kernel start time, so a recycled pid is never taken for it) and follows it on.
"""
from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from .procs import start_time

# The wrapper (perl, on the host): $ARGV[0] is the run directory, the rest the command. Its output goes to "out";
# its exit status lands in "rc" once it has ended, -N when a signal N ended it (the agent reports Go's
# ProcessState.ExitCode(), -1 for a signalled child; a shell's $? could not tell a signal from exit 128+N). One
# write(2), so a reader sees rc empty or whole (a whole one ends in a newline): no rename, which would cost one more
# process per command (a page read of a large fetch is one command; thousands of them run back to back).
WRAP = (r'my $d = shift @ARGV; open(STDIN, "<", "/dev/null"); open(STDOUT, ">", "$d/out") or exit 127; '
        r'open(STDERR, ">&", \*STDOUT); system { $ARGV[0] } @ARGV; '
        r'my $rc = $? == -1 ? 127 : ($? & 127) ? -($? & 127) : $? >> 8; '
        r'open(my $f, ">", "$d/rc") or exit 1; syswrite($f, "$rc\n");')
POLL = 0.05


def wrap(run_dir: Path, argv: list[str]) -> list[str]:
    """argv of the wrapper running ``argv`` with its output and exit code kept in ``run_dir``."""
    return ["perl", "-e", WRAP, str(run_dir), *argv]


class Run:
    """A wrapper process (started here, or adopted from an earlier emulator process) and its run directory."""

    def __init__(self, directory: Path, pid: int, started: str | None, popen: subprocess.Popen[bytes] | None = None):
        self.directory = directory
        self.pid = pid
        self.started = started
        self.popen = popen

    @classmethod
    def start(cls, directory: Path, spawn: Any, meta: dict[str, Any]) -> Run:
        """Create the directory, start the wrapper with ``spawn(directory)``, and record how to find it again."""
        directory.mkdir(parents=True, exist_ok=True)
        popen = spawn(directory)
        run = cls(directory, popen.pid, start_time(popen.pid), popen)
        (directory / "run.json").write_text(json.dumps({**meta, "pid": run.pid, "start": run.started}))
        return run

    @classmethod
    def adopt(cls, directory: Path) -> tuple[Run, dict[str, Any]] | None:
        """The run an earlier emulator process left in ``directory``, with its metadata (None if unreadable)."""
        try:
            meta = json.loads((directory / "run.json").read_text())
        except (OSError, ValueError):
            return None
        return cls(directory, int(meta["pid"]), meta.get("start")), meta

    @property
    def output_path(self) -> Path:
        return self.directory / "out"

    def ended(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is not None
        return self._written_rc() is not None or start_time(self.pid) != self.started

    def _written_rc(self) -> int | None:
        """The exit status in rc once the wrapper has written it whole; None before."""
        try:
            text = (self.directory / "rc").read_text()
        except OSError:
            return None
        return int(text) if text.endswith("\n") and text.strip().lstrip("-").isdigit() else None

    def wait(self, timeout: float | None = None) -> None:
        """Until the wrapper has ended; subprocess.TimeoutExpired after ``timeout`` seconds (as Popen.wait).

        Popen.wait with a timeout polls with sleeps that grow to 50 ms, so a run's end would be seen up to
        50 ms late: every command would seem that much slower than the agent reports it. A pidfd (Linux
        5.3+) becomes readable the moment the process exits; the polling wait is only the fallback.
        """
        if self.popen is not None:
            exited = None if timeout is None else self._exited_within(timeout)
            if exited is False:
                raise subprocess.TimeoutExpired(self.popen.args, timeout or 0)
            self.popen.wait(None if exited else timeout)
            return
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.ended():
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"run {self.pid}", timeout or 0)
            time.sleep(POLL)

    def _exited_within(self, timeout: float) -> bool | None:
        """Whether the wrapper exits within ``timeout`` seconds, watched through a pidfd; None without pidfds."""
        if self.popen is not None and self.popen.returncode is not None:
            return True
        try:
            descriptor = os.pidfd_open(self.pid)
        except (AttributeError, OSError):  # no pidfd on this system
            return None
        try:
            return bool(select.select([descriptor], [], [], timeout)[0])
        finally:
            os.close(descriptor)

    @property
    def returncode(self) -> int:
        """The command's exit status; negative (killed) when the wrapper itself died before writing it."""
        written = self._written_rc()
        if written is not None:
            return written
        code = self.popen.returncode if self.popen is not None else None
        return code if code is not None and code < 0 else -9

    def follow(self, feed: Any, ended: threading.Event) -> None:
        """Hand the output file's bytes to ``feed`` as they are written, until ``ended`` is set and all is read."""
        while not self.output_path.exists() and not ended.is_set():
            ended.wait(POLL)
        try:
            stream = self.output_path.open("rb")
        except OSError:
            return
        with stream:
            while True:
                chunk = stream.read(65536)
                if chunk:
                    feed(chunk)
                elif ended.is_set():
                    rest = stream.read()
                    if rest:
                        feed(rest)
                    return
                else:
                    ended.wait(POLL)  # wakes at once when the run ends, so its last bytes cost no extra pause

    def discard(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
