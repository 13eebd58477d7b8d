# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Steps that prepare a task's temporary directory ride along with the task's next command.

ansible prepares the remote temporary directory of a copy, template, script or unarchive task with
commands of their own: create the directory, write a file into it, make its files readable. Over
Cloud Assistant each would cost a RunCommand and a result poll. What those steps answer when they
succeed is known in advance, and what they do matters only to later commands of the same task (the
directory is the task's own), so the connection answers them at once and runs them, in order, in
front of the task's next command (POSIX sh only). When one fails there, nothing after it runs and the
failure is reported with the step's own rc and output, naming the step, instead of the next command's
result: no error report is lost, it arrives one command later. A task that ends with steps still
pending never needed them, so they are dropped; removing a directory whose creation is still pending
costs no command at all.
"""

from __future__ import annotations

import os
import re
import shlex
import typing as t
from dataclasses import dataclass

from .stdin_plan import pack_inline

# Paths the connection predicts ``echo`` output for and names unquoted: no shell-special characters.
_SAFE_PATH = r"/[A-Za-z0-9_.@%+=:,/-]*"
_WRAPPED = re.compile(r"^\S+ -c '(?P<body>[^']*)'$")
_MKDTEMP = re.compile(
    r"^\( umask 77 && mkdir -p \"` echo (?P<base>%(p)s) `\"&& mkdir \"` echo (?P<dir>%(p)s) `\" && "
    r"echo (?P<name>[A-Za-z0-9_.-]+)=\"` echo (?P=dir) `\" \)(?: && sleep 0)?$" % {"p": _SAFE_PATH})
# Only the owner's bits: ansible raises on every failure of such a chmod, where a group or world chmod that
# fails makes it try another way (so that one must answer truly, at once).
_CHMOD = re.compile(r"^chmod (?P<mode>u\+[rwxX]+) (?P<paths>%(p)s(?: %(p)s)*)(?: && sleep 0)?$" % {"p": _SAFE_PATH})
_REMOVE = re.compile(r"^rm -f -r (?P<path>%(p)s) > /dev/null 2>&1(?: && sleep 0)?$" % {"p": _SAFE_PATH})
MAX_PUT_PACKED = 3 * 1024  # a file travels inside the next command only while it stays this small packed
_FAILURE = re.compile(rb"\n<<alicloud-ecs step (?P<index>\d+) of (?P<nonce>[0-9a-f]{16}) failed rc=(?P<rc>\d+)>>\n\Z")

Answer = t.Tuple[int, bytes, bytes]


@dataclass
class Step:
    """One deferred command: what ansible asked for, the shell code doing it, and its known answer."""

    kind: str        # "mkdtemp", "chmod" or "put"
    label: str       # what ansible asked for, for messages
    script: str      # POSIX sh code doing it
    expected: str    # its standard output (and error) on success, trailing newlines stripped
    path: str        # the directory created, or the file written


class StepFailed(Exception):
    """A deferred step failed in front of a later command; that command did not run."""

    def __init__(self, step: Step, rc: int, output: bytes) -> None:
        self.step = step
        self.rc = rc
        self.output = output
        super().__init__(f"{step.label} failed (rc {rc})")


def _unwrap(command: str) -> str:
    """The command without the ``/bin/sh -c '...'`` ansible wraps it in (when it does)."""
    wrapped = _WRAPPED.match(command)
    return wrapped.group("body") if wrapped else command


def _inside(path: str, directory: str) -> bool:
    directory = directory.rstrip("/")
    return bool(directory) and (path.rstrip("/") == directory or path.startswith(directory + "/"))


class DeferredSteps:
    """The steps of one connection waiting for its next command."""

    def __init__(self) -> None:
        self.steps: list[Step] = []

    def defer(self, command: str, tmpdir: str | None) -> Answer | None:
        """The answer to ``command`` if it is a step that can wait (it is then queued), else None."""
        body = _unwrap(command)
        created = _MKDTEMP.match(body)
        if created:
            path = created.group("dir")
            self.steps.append(Step("mkdtemp", f"creating the temporary directory {path}", body,
                                   f"{created.group('name')}={path}", path))
            return 0, f"{created.group('name')}={path}\n".encode(), b""
        chmod = _CHMOD.match(body)
        if chmod and tmpdir and all(_inside(path, tmpdir) for path in chmod.group("paths").split(" ")):
            self.steps.append(Step("chmod", f"setting permissions ({chmod.group('mode')}) on {chmod.group('paths')}",
                                   body, "", tmpdir))
            return 0, b"", b""
        removed = _REMOVE.match(body)
        if removed:
            # What was queued for a directory being removed is no longer needed, and a directory whose
            # creation is still queued needs no removal either.
            gone = [step for step in self.steps if _inside(step.path, removed.group("path"))]
            self.steps = [step for step in self.steps if step not in gone]
            if any(step.kind == "mkdtemp" for step in gone):
                return 0, b"", b""
        return None

    def defer_put(self, data: bytes, out_path: str, tmpdir: str | None) -> bool:
        """Queue writing a small file into the task's temporary directory; False when it must go now."""
        if not tmpdir or not re.fullmatch(_SAFE_PATH, out_path) or not _inside(out_path, tmpdir) or out_path == tmpdir:
            return False
        packed = pack_inline(data)
        if len(packed) > MAX_PUT_PACKED:
            return False
        script = f"printf '%s' '{packed}' | base64 -d | gzip -dc > {shlex.quote(out_path)}"
        self.steps.append(Step("put", f"writing {out_path}", script, "", out_path))
        return True

    def take(self, command: bytes) -> tuple[bytes, list[Step], str]:
        """``command`` with the queued steps in front (the queue empties), the steps and the run's nonce."""
        steps, self.steps = self.steps, []
        if not steps:
            return command, [], ""
        nonce = os.urandom(8).hex()
        lines = []
        for index, step in enumerate(steps):
            # Each step reads nothing of the command's stdin; its output (both streams) must be the known answer.
            lines.append(
                f"_ae_o=$( {{ {step.script}\n}} </dev/null 2>&1 ); _ae_r=$?\n"
                f"if [ $_ae_r -ne 0 ] || [ \"$_ae_o\" != {shlex.quote(step.expected)} ]; then\n"
                f"  printf '%s\\n<<alicloud-ecs step {index} of {nonce} failed rc=%d>>\\n' \"$_ae_o\" $_ae_r >&2\n"
                "  [ $_ae_r -ne 0 ] || _ae_r=1; exit $_ae_r\n"
                "fi\n")
        return "".join(lines).encode() + command, steps, nonce

    @staticmethod
    def check(stderr: bytes, steps: t.Sequence[Step], nonce: str) -> None:
        """Raise StepFailed when one of ``steps`` failed in front of the command (which then did not run)."""
        failed = _FAILURE.search(stderr) if steps else None
        if failed and failed.group("nonce").decode() == nonce:
            raise StepFailed(steps[int(failed.group("index"))], int(failed.group("rc")), stderr[:failed.start()])

    def drop(self) -> list[Step]:
        """Forget what is still queued (the task ended without another command), returning it."""
        steps, self.steps = self.steps, []
        return steps
