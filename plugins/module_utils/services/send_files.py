# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Putting one file on many instances: look first (one RunCommand for all), then send only where needed.

A file that fits one SendFile call goes with SendFile (≤ 50 instances a call) and is followed with
DescribeSendFileResults. A larger one goes through the connection's transfer engine (verified
chunks, assembled on the instance), one instance at a time per worker, since the chunks are staged
per instance. Both paths report per instance in the SendFile vocabulary (status, error code, info).

Everything on the instance runs as root, so no step may follow a path another user controls. The agent
writes a SendFile file in place and follows a link at the target (agent/taskengine/sendfile.go in
aliyun/aliyun_assist_client): SendFile is used only where root alone can change the directory. Anywhere
else the file is assembled in a private directory, given its owner and mode there, and renamed into place.
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
    InvocationTimeout, PollSchedule, describe_results, wait_for_results,
)
from ..engine.invocations_api import describe_send_file_results, invoke_instances, new_client_token, run_command
from ..execution.exec_errors import RemoteExecError
from ..execution.exec_options import ExecOptions
from ..execution.remote_exec import InstanceExecutor

SENDFILE_INSTANCES_MAX = 50        # docs/api-contract.md#sendfile
RUNCOMMAND_INSTANCES_MAX = 100     # docs/api-contract.md#runcommand
DESCRIBE_INSTANCES_MAX = 100
NAME_MAX = 255
TARGET_DIR_MAX = 255
OWNER_MAX = 64
TIMEOUT_MIN = 10
TIMEOUT_MAX = 86400                # ⚠ docs/api-contract.md#open-points: not documented; the commonly cited maximum
PROBE_TIMEOUT = 30                 # seconds the look at the target may run
WAIT_MARGIN = 30.0                 # seconds past the task timeout the controller keeps looking
DIFF_MAX = 8192                    # files up to this size are shown in diffs (both sides)
LARGE_PARALLELISM = 4              # instances receiving a large file at once
MODE = re.compile(r"^[0-7]{3,4}$")
FILE_TERMINAL = frozenset({"Success", "Failed", "Invalid", "Aborted", "Error", "Timeout"})
OK_STATUSES = frozenset({"Success", "Unchanged", "Skipped", "Planned"})
NOT_RUNNING = ("InstanceNotRunning", "the instance is not running when create task")  # docs/api-contract.md#sendfile


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
        """Whether the agent would write exactly this file: it refuses empty content, drops setuid, setgid and
        sticky bits, and looks owner and group up by name only."""
        by_name = not self.owner.isdigit() and not self.group.isdigit()
        return 0 < len(self.data) <= SENDFILE_BYTES and not int(self.mode, 8) & 0o7000 and by_name


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
        odd = any(char.isspace() or char == ":" for char in value or "")
        if not value or len(value) > OWNER_MAX or value.startswith("-") or odd:
            raise ValueError(f"{option} must be 1 to {OWNER_MAX} characters without spaces or ':', not starting "
                             f"with '-', got {value!r}")
    if not TIMEOUT_MIN <= spec.timeout <= TIMEOUT_MAX:
        raise ValueError(f"timeout must be between {TIMEOUT_MIN} and {TIMEOUT_MAX} seconds, got {spec.timeout}")


def batches(items: t.Sequence[str], size: int) -> t.Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


def outcome(instance_id: str, status: str, *, changed: bool = False, error_code: str = "", error_info: str = "",
            invoke_id: str = "", before: dict[str, t.Any] | None = None, method: str = "") -> dict[str, t.Any]:
    """One instance's line of the module result."""
    return {"instance_id": instance_id, "status": status, "changed": changed, "error_code": error_code,
            "error_info": error_info, "invoke_id": invoke_id, "before": before, "method": method}


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
    """What one instance holds at the target path, and who can change the directory it is in.

    ``directory`` is ``private`` when only root can add or replace entries in it (and on the way to it),
    ``shared`` when the target directory itself is another user's or open to others, ``unsafe`` when a
    directory or link above it is (``why`` names it), ``invalid`` when the path cannot be a directory.
    """

    exists: bool
    regular: bool = False
    sha256: str = ""
    owner: str = ""
    uid: str = ""
    group: str = ""
    gid: str = ""
    mode: str = ""
    size: int = 0
    content: bytes | None = None  # only for small files in a private directory, when a diff was asked for
    link: bool = False
    directory: str = "private"
    why: str = ""
    missing: str = ""             # "Owner" or "Group" when the instance has no such user or group

    def matches(self, spec: FileSpec) -> bool:
        same_owner = spec.owner in (self.owner, self.uid) and spec.group in (self.group, self.gid)
        return self.regular and self.sha256 == spec.sha256 and same_owner and int(self.mode or "0", 8) == int(spec.mode, 8)

    def summary(self) -> dict[str, t.Any]:
        if not self.exists:
            return {"exists": False}
        if self.link:
            return {"exists": True, "regular": False, "link": True}
        return {"exists": True, "regular": self.regular, "sha256": self.sha256, "owner": self.owner,
                "group": self.group, "mode": self.mode.zfill(4), "size": self.size}


# The kernel's walk to the target directory, done by hand so that every entry on the way can be checked:
# each directory looked in must be root's (or the running user's) and closed to others or sticky, and each
# entry stepped through (link or directory, all but the last) must be root's too. Otherwise another user
# could swap it for a link between a check and the write that trusts it. ``walk DIR make`` also creates
# what is missing (0755, like the agent's MkdirAll under a 022 umask); the real path ends in $real; return
# 1 (someone else can change the path) or 2 (not a directory) with the reason in $why.
WALK_SHELL = r"""
me=$(id -u)
ours() { [ "$1" = 0 ] || [ "$1" = "$me" ]; }
owner_of() { stat -c %u -- "$1"; }
locked() {
  set -- $(stat -L -c '%u %a' -- "$1" 2>/dev/null)
  [ -n "$1" ] && ours "$1" && { [ $((0$2 & 022)) = 0 ] || [ $((0$2 & 01000)) != 0 ]; }
}
closed() {
  set -- $(stat -L -c '%u %a' -- "$1" 2>/dev/null)
  [ -n "$1" ] && ours "$1" && [ $((0$2 & 022)) = 0 ]
}
walk() {
  todo=${1#/} real= hops=0 gap=
  while [ -n "$todo" ]; do
    c=${todo%%/*}
    case $todo in */*) todo=${todo#*/} ;; *) todo= ;; esac
    case $c in ''|.) continue ;; ..) real=${real%/*}; continue ;; esac
    locked "${real:-/}" || { why="${real:-/} can be changed by another user"; return 1; }
    p=$real/$c
    if [ -L "$p" ]; then
      ours "$(owner_of "$p")" || { why="$p is a link another user owns"; return 1; }
      hops=$((hops + 1))
      [ $hops -le 40 ] || { why="$p: too many levels of links"; return 2; }
      to=$(readlink -- "$p")
      case $to in /*) real= ;; esac
      todo=$to${todo:+/$todo}
      continue
    fi
    if [ ! -e "$p" ]; then
      [ "$2" = make ] || { gap=$p; break; }
      mkdir -m 755 -- "$p" 2>/dev/null || [ -e "$p" ] || [ -L "$p" ] || { why="cannot create $p"; return 2; }
      todo=$c${todo:+/$todo}
      continue
    fi
    [ -d "$p" ] || { why="$p is not a directory"; return 2; }
    [ -z "$todo" ] || ours "$(owner_of "$p")" || { why="$p belongs to another user"; return 1; }
    real=$p
  done
  real=${real:-/}
}
"""


def probe_script(spec: FileSpec, with_content: bool) -> str:
    """Print ``ACE-DIR``, ``ACE-OWNER`` and ``ACE-FILE`` lines about the target (and, for a diff, a small
    file's Base64 body): read-only, no link at the target is followed, and the body is shown only from a
    directory no other user can change, so the probe never prints a file someone else pointed it at."""
    directory, name = shlex.quote(spec.target_dir), shlex.quote(spec.name)
    owner, group = shlex.quote(spec.owner), shlex.quote(spec.group)
    body = (f"  if [ \"$v\" = private ] && [ \"$(stat -c %s -- \"$f\")\" -le {DIFF_MAX} ]; then printf 'ACE-BODY '; "
            "base64 -w0 < \"$f\"; echo; fi\n") if with_content else ""
    return (
        "#!/bin/sh\n"
        f"{WALK_SHELL}"
        f"if getent passwd {owner} >/dev/null 2>&1; then"
        f" getent group {group} >/dev/null 2>&1 && echo 'ACE-OWNER ok' || echo 'ACE-OWNER Group'\n"
        "else echo 'ACE-OWNER Owner'; fi\n"
        f"walk {directory} look; rc=$?\n"
        "if [ $rc != 0 ]; then\n"
        "  [ $rc = 1 ] && echo 'ACE-DIR unsafe' || echo 'ACE-DIR invalid'; printf 'ACE-WHY %s\\n' \"$why\"; exit 0\n"
        "fi\n"
        "closed \"$real\" && v=private || v=shared\n"
        "echo \"ACE-DIR $v\"\n"
        "[ -z \"$gap\" ] || { echo 'ACE-FILE absent'; exit 0; }\n"
        f"f=${{real%/}}/{name}\n"
        "if [ -L \"$f\" ]; then echo 'ACE-FILE link'\n"
        "elif [ -f \"$f\" ]; then\n"
        "  printf 'ACE-FILE present %s %s\\n' "
        "\"$(dd if=\"$f\" iflag=nofollow,nonblock bs=65536 2>/dev/null | sha256sum | cut -c1-64)\" "
        "\"$(stat -c '%U %u %G %g %a %s' -- \"$f\")\"\n"
        f"{body}"
        "elif [ -e \"$f\" ]; then echo 'ACE-FILE other'\n"
        "else echo 'ACE-FILE absent'; fi\n")


def parse_probe(output: bytes) -> RemoteFile:
    """The probe's answer; ValueError when the script did not print one."""
    lines = output.decode("utf-8", "replace").splitlines()

    def last(tag: str) -> str | None:
        found = [line[len(tag) + 1:] for line in lines if line.startswith(tag + " ")]
        return found[-1] if found else None

    directory, why, owner, file = last("ACE-DIR"), last("ACE-WHY"), last("ACE-OWNER"), last("ACE-FILE")
    if directory is None or owner is None or (file is None and directory in ("private", "shared")):
        raise ValueError(f"unexpected probe output: {output[-200:]!r}")
    facts = {"directory": directory, "why": why or "", "missing": "" if owner == "ok" else owner}
    fields = (file or "absent").split()
    if directory not in ("private", "shared") or fields[0] == "absent":
        return RemoteFile(exists=False, **facts)
    if fields[0] == "link":
        return RemoteFile(exists=True, link=True, **facts)
    if fields[0] == "other" or len(fields) != 8:
        return RemoteFile(exists=True, **facts)
    body = last("ACE-BODY")
    sha, owner_name, uid, group, gid, mode, size = fields[1:]
    return RemoteFile(True, True, sha, owner_name, uid, group, gid, mode, int(size),
                      base64.b64decode(body) if body is not None else None, **facts)


def verdict(instance_id: str, spec: FileSpec, found: RemoteFile) -> dict[str, t.Any] | None:
    """The outcome known from the look alone (nothing to send, or nothing that may be sent), else None."""
    path = spec.path
    if found.directory == "unsafe":
        return outcome(instance_id, "Failed", error_code="UnsafePath", error_info=(
            f"{path}: {found.why}; send_file writes nothing as root on a path another user can change"))
    if found.directory != "private" and found.directory != "shared":
        return outcome(instance_id, "Failed", error_code="FilePathInvalid", error_info=f"{path}: {found.why}")
    if found.matches(spec) or (found.exists and not spec.overwrite):
        return outcome(instance_id, "Unchanged" if found.matches(spec) else "Skipped", before=found.summary())
    if found.link:
        return outcome(instance_id, "Failed", error_code="UnsafePath", before=found.summary(), error_info=(
            f"{path} is a symbolic link; send_file neither writes through a link nor replaces one"))
    if found.missing:
        return outcome(instance_id, "Invalid", error_code="UserGroupNotExists", before=found.summary(),
                       error_info=f"{found.missing} not exists")
    return None


def by_sendfile(spec: FileSpec, found: RemoteFile) -> bool:
    """Whether SendFile puts exactly this file there safely. The agent follows a link at the target and
    writes in place, so the directory must be one only root can change; it skips chown for root:root, so a
    file someone else owns would keep its owner."""
    keeps_owner = found.exists and (spec.owner, spec.group) == ("root", "root") and (found.uid, found.gid) != ("0", "0")
    return spec.fits_sendfile and found.directory == "private" and not keeps_owner


def probe(client: CloudClient, instance_ids: t.Sequence[str], spec: FileSpec, with_content: bool,
          deadline: float) -> dict[str, RemoteFile | dict[str, t.Any]]:
    """One RunCommand per 100 instances reading sha256 and stat of the target; an instance that could
    not answer maps to its failed outcome instead."""
    found: dict[str, RemoteFile | dict[str, t.Any]] = {}
    script = probe_script(spec, with_content)
    for batch in batches(instance_ids, RUNCOMMAND_INSTANCES_MAX):
        invoke_id = run_command(client, batch, script, name="alicloud.ecs.send_file probe",
                                timeout=PROBE_TIMEOUT).invoke_id
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
            for invocation in describe_send_file_results(client, invoke_id):
                for item in invoke_instances(invocation):
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
    """Shell that writes stdin to the target with owner, group and mode, reporting failures with SendFile's
    error codes (docs/api-contract.md#sendfile, and UnsafePath) on stderr.

    The file is written, chowned and chmodded in a new 0700 directory of root's, where no other user can
    reach it, then renamed over the target (a link there is replaced, never followed). That directory is made
    in the target directory when only root can rename entries in it, else in its parent (which must be, and
    on the same mount, for the rename); anything else is refused with the path named.
    """
    directory, path = shlex.quote(spec.target_dir), shlex.quote(spec.name)
    owner, group = shlex.quote(spec.owner), shlex.quote(spec.group)
    place = (
        "mv -f -T -- \"$t/f\" \"$dest\" 2>/dev/null && exit 0\n"
        "[ -d \"$dest\" ] && [ ! -L \"$dest\" ] && fail \"FilePathInvalid: $dest is a directory\"\n"
    ) if spec.overwrite else (
        "ln -T -- \"$t/f\" \"$dest\" 2>/dev/null && exit 0\n"
        "{ [ -e \"$dest\" ] || [ -L \"$dest\" ]; } && fail 'FileAlreadyExists: File already exists'\n")
    return (
        "umask 077\n"
        "fail() { printf '%s\\n' \"$1\" >&2; exit 70; }\n"
        f"{WALK_SHELL}"
        f"getent passwd {owner} >/dev/null 2>&1 || fail 'UserGroupNotExists: Owner not exists'\n"
        f"getent group {group} >/dev/null 2>&1 || fail 'UserGroupNotExists: Group not exists'\n"
        f"walk {directory} make; rc=$?\n"
        "[ $rc = 1 ] && fail \"UnsafePath: $why; send_file writes nothing as root on a path another user can change\"\n"
        "[ $rc = 0 ] || fail \"FilePathInvalid: $why\"\n"
        f"dest=${{real%/}}/{path}\n"
        "if ours \"$(owner_of \"$real\")\" && locked \"$real\"; then base=$real\n"
        "else\n"
        "  up=${real%/*}; up=${up:-/}\n"
        "  [ \"$(stat -c '%d %m' -- \"$up\")\" = \"$(stat -c '%d %m' -- \"$real\")\" ] ||\n"
        "    fail \"UnsafePath: $real can be changed by another user and $up is not on its mount, so the file cannot "
        "be renamed into it from a private directory\"\n"
        "  base=$up\n"
        "fi\n"
        "t=$(mktemp -d -- \"$base/.alicloud-ecs-send.XXXXXXXX\") || fail \"FileCreateFail: cannot create a directory "
        "in $base\"\n"
        "trap 'rm -rf -- \"$t\"' EXIT\n"
        f"cat > \"$t/f\" && chown -- {owner}:{group} \"$t/f\" && chmod -- {spec.mode} \"$t/f\" || "
        "fail 'FileCreateFail: the file creation is failed due to unknown error'\n"
        f"{place}"
        "fail 'FileCreateFail: the file creation is failed due to unknown error'\n"
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
        # The statuses the agent gives these codes (agent/taskengine/sendfile.go): a bad owner or group and an
        # existing file kept by overwrite=false are Invalid.
        invalid = code in ("UserGroupNotExists", "FileAlreadyExists")
        return outcome(instance_id, "Invalid" if invalid else "Failed", error_code=code, error_info=info)

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
