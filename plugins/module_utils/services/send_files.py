# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Putting one file on many instances: look first (one RunCommand for all), then send only where needed.

A file that fits one SendFile call goes with SendFile (≤ 50 instances a call) and is followed with
DescribeSendFileResults. A larger one goes through the connection's transfer engine (verified
chunks, assembled on the instance), one instance at a time per worker, since the chunks are staged
per instance. Both paths report per instance in the SendFile vocabulary (status, error code, info).
"""

from __future__ import annotations

import base64
import hashlib
import re
import shlex
import time
import typing as t
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..api.client import CloudClient, Json
from ..execution.file_transfer import SENDFILE_BYTES
from .instances import describe_instances
from ..engine.invocation import (
    InvocationTimeout, PollSchedule, describe_results, new_client_token, run_command, wait_for_results,
)
from ..execution.remote_exec import ExecOptions, InstanceExecutor, RemoteExecError

SENDFILE_INSTANCES_MAX = 50        # contract §2.10
RUNCOMMAND_INSTANCES_MAX = 100     # contract §2.1
DESCRIBE_INSTANCES_MAX = 100
NAME_MAX = 255
TARGET_DIR_MAX = 255
OWNER_MAX = 64
TIMEOUT_MIN = 10
TIMEOUT_MAX = 86400                # ⚠ contract §6.1: not documented; the commonly cited maximum
PROBE_TIMEOUT = 30                 # seconds the look at the target may run
WAIT_MARGIN = 30.0                 # seconds past the task timeout the controller keeps looking
DIFF_MAX = 8192                    # files up to this size are shown in diffs (both sides)
LARGE_PARALLELISM = 4              # instances receiving a large file at once
MODE = re.compile(r"^[0-7]{3,4}$")
FILE_TERMINAL = frozenset({"Success", "Failed", "Invalid", "Aborted", "Error", "Timeout"})
OK_STATUSES = frozenset({"Success", "Unchanged", "Skipped", "Planned"})
NOT_RUNNING = ("InstanceNotRunning", "the instance is not running when create task")  # contract §3.6


@dataclass
class FileSpec:
    """The file the task wants on every instance."""

    data: bytes
    name: str
    target_dir: str
    owner: str = "root"
    group: str = "root"
    mode: str = "0644"
    overwrite: bool = True
    timeout: int = 60

    @property
    def path(self) -> str:
        return f"{self.target_dir.rstrip('/')}/{self.name}"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def fits_sendfile(self) -> bool:
        return len(self.data) <= SENDFILE_BYTES


def check_spec(spec: FileSpec, instance_ids: t.Sequence[str]) -> None:
    """Raise ValueError for the first input SendFile would refuse, before any call."""
    if not instance_ids:
        raise ValueError("instance_ids is empty")
    if not spec.name or len(spec.name) > NAME_MAX or "/" in spec.name or spec.name in (".", ".."):
        raise ValueError(f"name must be a file name (no /) of 1 to {NAME_MAX} characters, got {spec.name!r}")
    if not spec.target_dir.startswith("/") or len(spec.target_dir) > TARGET_DIR_MAX:
        raise ValueError(f"target_dir must be an absolute path of at most {TARGET_DIR_MAX} characters")
    if not MODE.match(spec.mode):
        raise ValueError(f"mode must be 3 or 4 octal digits such as 0644, got {spec.mode!r}")
    for option, value in (("owner", spec.owner), ("group", spec.group)):
        if not value or len(value) > OWNER_MAX or any(char.isspace() or char == ":" for char in value):
            raise ValueError(f"{option} must be 1 to {OWNER_MAX} characters without spaces or ':', got {value!r}")
    if not TIMEOUT_MIN <= spec.timeout <= TIMEOUT_MAX:
        raise ValueError(f"timeout must be between {TIMEOUT_MIN} and {TIMEOUT_MAX} seconds, got {spec.timeout}")


def batches(items: t.Sequence[str], size: int) -> t.Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


def outcome(instance_id: str, status: str, *, changed: bool = False, error_code: str = "", error_info: str = "",
            invoke_id: str = "", before: dict[str, t.Any] | None = None) -> dict[str, t.Any]:
    """One instance's line of the module result."""
    return {"instance_id": instance_id, "status": status, "changed": changed, "error_code": error_code,
            "error_info": error_info, "invoke_id": invoke_id, "before": before}


def instance_states(client: CloudClient, instance_ids: t.Sequence[str]) -> dict[str, str]:
    """Status of each instance that exists in the region (a missing id is simply absent)."""
    states: dict[str, str] = {}
    for batch in batches(instance_ids, DESCRIBE_INSTANCES_MAX):
        for item in describe_instances(client, InstanceIds=Json(batch)):
            states[item["InstanceId"]] = item.get("Status", "")
    return states


# -- looking at what the instances hold ------------------------------------------------------

@dataclass
class RemoteFile:
    """What one instance holds at the target path."""

    exists: bool
    regular: bool = False
    sha256: str = ""
    owner: str = ""
    uid: str = ""
    group: str = ""
    gid: str = ""
    mode: str = ""
    size: int = 0
    content: bytes | None = None  # only for small files, when a diff was asked for

    def matches(self, spec: FileSpec) -> bool:
        same_owner = spec.owner in (self.owner, self.uid) and spec.group in (self.group, self.gid)
        return self.regular and self.sha256 == spec.sha256 and same_owner and int(self.mode or "0", 8) == int(spec.mode, 8)

    def summary(self) -> dict[str, t.Any]:
        if not self.exists:
            return {"exists": False}
        return {"exists": True, "regular": self.regular, "sha256": self.sha256, "owner": self.owner,
                "group": self.group, "mode": self.mode.zfill(4), "size": self.size}


def probe_script(path: str, with_content: bool) -> str:
    """Print one ``ACE-FILE`` line describing ``path`` (and, for a diff, a small file's Base64 body)."""
    quoted = shlex.quote(path)
    body = (f"  if [ \"$(stat -c %s {quoted})\" -le {DIFF_MAX} ]; then printf 'ACE-BODY '; base64 -w0 < {quoted}; "
            "echo; fi\n") if with_content else ""
    return (
        "#!/bin/sh\n"
        f"if [ -f {quoted} ]; then\n"
        f"  printf 'ACE-FILE present %s %s\\n' \"$(sha256sum < {quoted} | cut -c1-64)\" "
        f"\"$(stat -c '%U %u %G %g %a %s' {quoted})\"\n"
        f"{body}"
        f"elif [ -e {quoted} ]; then echo 'ACE-FILE other'\n"
        "else echo 'ACE-FILE absent'; fi\n")


def parse_probe(output: bytes) -> RemoteFile:
    """The probe's answer; ValueError when the script did not print one."""
    lines = output.decode("utf-8", "replace").splitlines()
    found = [line.split() for line in lines if line.startswith("ACE-FILE ")]
    if not found:
        raise ValueError(f"unexpected probe output: {output[-200:]!r}")
    fields = found[-1][1:]
    if fields[0] == "absent":
        return RemoteFile(exists=False)
    if fields[0] == "other" or len(fields) != 8:
        return RemoteFile(exists=True)
    bodies = [line[len("ACE-BODY "):] for line in lines if line.startswith("ACE-BODY ")]
    sha, owner, uid, group, gid, mode, size = fields[1:]
    return RemoteFile(True, True, sha, owner, uid, group, gid, mode, int(size),
                      base64.b64decode(bodies[-1]) if bodies else None)


def probe(client: CloudClient, instance_ids: t.Sequence[str], spec: FileSpec, with_content: bool,
          deadline: float) -> dict[str, RemoteFile | dict[str, t.Any]]:
    """One RunCommand per 100 instances reading sha256 and stat of the target; an instance that could
    not answer maps to its failed outcome instead."""
    found: dict[str, RemoteFile | dict[str, t.Any]] = {}
    script = probe_script(spec.path, with_content)
    for batch in batches(instance_ids, RUNCOMMAND_INSTANCES_MAX):
        invoke_id = run_command(client, batch, script, name="alicloud.ecs.send_file probe", timeout=PROBE_TIMEOUT)
        try:
            results = wait_for_results(client, invoke_id, batch, deadline=deadline).results
        except InvocationTimeout:  # the instances that did answer still count
            results = describe_results(client, invoke_id)
        for instance_id in batch:
            result = results.get(instance_id)
            if result is None or not result.finished:
                found[instance_id] = outcome(instance_id, "Timeout", error_code="WaitTimeout", invoke_id=invoke_id,
                                             error_info=f"the look at {spec.path} did not finish in time")
                continue
            try:
                if result.status != "Success":
                    raise ValueError(result.error_info or result.status)
                found[instance_id] = parse_probe(result.output)
            except ValueError as error:
                found[instance_id] = outcome(instance_id, result.status if result.status != "Success" else "Error",
                                             error_code=result.error_code or "ProbeFailed",
                                             error_info=f"could not look at {spec.path}: {error}", invoke_id=invoke_id)
    return found


# -- sending ---------------------------------------------------------------------------------

def send_small(client: CloudClient, instance_ids: t.Sequence[str], spec: FileSpec, deadline: float,
               clock: t.Callable[[], float] = time.monotonic,
               sleep: t.Callable[[float], None] = time.sleep) -> dict[str, dict[str, t.Any]]:
    """SendFile (≤ 50 instances a call), then DescribeSendFileResults until every instance is done."""
    content = base64.b64encode(spec.data).decode("ascii")
    waiting: dict[str, list[str]] = {}
    for batch in batches(instance_ids, SENDFILE_INSTANCES_MAX):
        response = client.call(
            "SendFile", InstanceId=batch, Name=spec.name, TargetDir=spec.target_dir, Content=content,
            ContentType="Base64", FileMode=spec.mode, FileOwner=spec.owner, FileGroup=spec.group,
            Overwrite=spec.overwrite, Timeout=spec.timeout, ClientToken=new_client_token())
        waiting[response["InvokeId"]] = batch
    done: dict[str, dict[str, t.Any]] = {}
    for delay in PollSchedule(first=0.2, then=0.1, cap=2.0).delays():
        sleep(max(0.0, min(delay, deadline - clock())))
        for invoke_id in list(waiting):
            response = client.call("DescribeSendFileResults", InvokeId=invoke_id)
            for invocation in (response.get("Invocations") or {}).get("Invocation") or []:
                for item in (invocation.get("InvokeInstances") or {}).get("InvokeInstance") or []:
                    if item.get("InvocationStatus") in FILE_TERMINAL:
                        status = item["InvocationStatus"]
                        done[item["InstanceId"]] = outcome(
                            item["InstanceId"], status, changed=status == "Success", invoke_id=invoke_id,
                            error_code=item.get("ErrorCode") or "", error_info=item.get("ErrorInfo") or "")
            if all(instance_id in done for instance_id in waiting[invoke_id]):
                del waiting[invoke_id]
        if not waiting:
            return done
        if clock() >= deadline:
            for invoke_id, batch in waiting.items():
                for instance_id in batch:
                    done.setdefault(instance_id, outcome(
                        instance_id, "Timeout", invoke_id=invoke_id, error_code="WaitTimeout",
                        error_info=f"file task {invoke_id} did not finish before the module's deadline"))
            return done
    raise AssertionError("unreachable")  # pragma: no cover


def install_command(spec: FileSpec) -> bytes:
    """Shell that writes stdin to the target atomically with owner, group and mode, reporting failures
    with SendFile's error codes (contract §3.6) on stderr."""
    directory, path = shlex.quote(spec.target_dir), shlex.quote(spec.path)
    owner, group = shlex.quote(spec.owner), shlex.quote(spec.group)
    exists = "" if spec.overwrite else (
        f"[ -e {path} ] && {{ echo 'FileAlreadyExists: File already exists' >&2; exit 70; }}\n")
    return (
        f"id -u {owner} >/dev/null 2>&1 || {{ echo 'UserGroupNotExists: Owner not exists' >&2; exit 70; }}\n"
        f"getent group {group} >/dev/null 2>&1 || {{ echo 'UserGroupNotExists: Group not exists' >&2; exit 70; }}\n"
        f"mkdir -p {directory} 2>/dev/null && [ -d {directory} ] || {{ echo 'FilePathInvalid: File path is invalid' >&2; exit 70; }}\n"
        f"{exists}"
        f"t=$(mktemp {directory}/.alicloud-ecs-send.XXXXXXXX) || {{ echo 'FileCreateFail: cannot create a temporary file' >&2; exit 70; }}\n"
        f"cat > \"$t\" && chown {owner}:{group} \"$t\" && chmod {spec.mode} \"$t\" && mv -f \"$t\" {path} && exit 0\n"
        "rm -f \"$t\"; echo 'FileCreateFail: the file creation is failed due to unknown error' >&2; exit 70\n"
    ).encode("utf-8")


def send_large(client: CloudClient, instance_ids: t.Sequence[str], spec: FileSpec) -> dict[str, dict[str, t.Any]]:
    """A file too big for one SendFile: the transfer engine stages verified chunks on each instance
    and the install command rebuilds the file from them (sha256-checked before it runs)."""
    command = install_command(spec)
    options = ExecOptions(timeout=spec.timeout, name="alicloud.ecs.send_file", parallelism=8)

    def send(instance_id: str) -> dict[str, t.Any]:
        try:
            frame = InstanceExecutor(client, instance_id, options).run(command, stdin=spec.data)
        except RemoteExecError as error:
            return outcome(instance_id, "Failed", error_code=error.error_code or "ExecutionException",
                           error_info=str(error), invoke_id=error.invoke_id or "")
        if frame.rc == 0:
            return outcome(instance_id, "Success", changed=True)
        code, _sep, info = frame.stderr.decode("utf-8", "replace").strip().partition(": ")
        code, info = (code, info) if info else ("FileCreateFail", code)
        # The statuses SendFile gives these codes (contract §3.4/§3.6): a bad owner or group is Invalid.
        return outcome(instance_id, "Invalid" if code == "UserGroupNotExists" else "Failed", error_code=code,
                       error_info=info)

    with ThreadPoolExecutor(max_workers=max(1, min(LARGE_PARALLELISM, len(instance_ids)))) as pool:
        return {item["instance_id"]: item for item in pool.map(send, instance_ids)}


def is_text(data: bytes) -> bool:
    """Small UTF-8 without NUL bytes: worth showing line by line in a diff."""
    if len(data) > DIFF_MAX or b"\0" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
