# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A worker's handle on the kept Session Manager session of one host (``transport: session``).

The session itself lives in a holder process (holder.py), one per (endpoint, region, instance, session user,
AccessKey ID), found through its Unix socket in the controller's private state directory
(module_utils/api/private_dirs.py) and started here, under a lock in that directory, by the first worker that
needs it. The worker gives the holder its API settings and current credentials through a pipe (never argv,
environment or a file), and its current credentials again with each command, so a holder outliving a
temporary token uses the renewed one.

Errors say what the caller should do:

* SessionUnavailable -- this host cannot use a session (Session Manager off, the websocket not reachable, no
  python3 or no sudo for the helper): nothing ran; use the RunCommand path.
* ChannelLost -- the channel dropped with the command in flight: it may or may not have run, and it is not
  sent again (ansible's UNREACHABLE, as for a dropped ssh connection).
* CommandTimeout -- the command ran past its timeout and was killed on the instance.
* TransferFailed -- put or fetch ran and failed on the instance (the reason is the instance's words).
"""

from __future__ import annotations

import hashlib
import json
import os
import select
import shlex
import subprocess
import sys
import time
import typing as t
import uuid

from ansible_collections.alicloud.ecs.plugins.module_utils.api.contact import run_of, start_time
from ansible_collections.alicloud.ecs.plugins.module_utils.api.private_dirs import (
    lock_any, open_private, private_subdirectory)
from ansible_collections.alicloud.ecs.plugins.plugin_utils.session import wire
from ansible_collections.alicloud.ecs.plugins.plugin_utils.session.holder import KEEPALIVE, MAX_AGE

DEFAULT_COMMAND_TIMEOUT = 3600.0
ANSWER_MARGIN = 30.0  # the holder answers a timed-out command within this of its timeout (kill, then reply)
ATTEMPTS = 3  # holders found closing (or gone before taking the request) before giving up
HOLDER_ENTRY = ("import sys;sys.path.insert(0,sys.argv[1]);"
                "from ansible_collections.alicloud.ecs.plugins.plugin_utils.session.holder import main;main()")


class SessionUnavailable(Exception):
    """This host cannot use a session; nothing ran (``reason`` says why, for the fallback's warning)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ChannelLost(Exception):
    """The channel dropped with a command in flight: its outcome is unknown (UNREACHABLE)."""


class CommandTimeout(Exception):
    """The command ran longer than its timeout and was killed on the instance."""


class TransferFailed(Exception):
    """put or fetch failed on the instance."""


def _collections_root() -> str:
    """The directory holding ``ansible_collections``, for the holder's import path."""
    here = os.path.dirname(os.path.abspath(__file__))
    for _level in range(5):  # session, plugin_utils, plugins, ecs, alicloud
        here = os.path.dirname(here)
    if os.path.basename(here) != "ansible_collections":
        raise SessionUnavailable(f"the collection is not installed under an ansible_collections directory ({here})")
    return os.path.dirname(here)


class SessionChannel:
    """Commands and files over the kept session of one host, through its holder (see the module's docstring).

    ``client_factory``: a zero-argument callable returning the CloudClient the connection built (called once,
    on first use). ``username``: the remote user; root (or none) runs the helper as the agent's
    ecs-assist-user through ``sudo -n``, any other user is the session's Username. ``idle_seconds``: the
    holder's own idle time before it ends the session. ``start_timeout``: the longest wait for a session to
    start (API call, websocket, helper). ``keepalive_seconds`` and ``max_age_seconds`` (the quiet time before a
    no-op, the age at which a session is replaced between commands) default to what the agent's limits need;
    they are parameters for tests against an emulator with shorter limits. All four are the first starter's:
    a holder already running keeps its own.
    """

    def __init__(self, client_factory: t.Callable[[], t.Any], instance_id: str, region: str, username: str, *,
                 idle_seconds: float = 60, start_timeout: float = 30, keepalive_seconds: float = KEEPALIVE,
                 max_age_seconds: float = MAX_AGE) -> None:
        if not callable(client_factory):
            raise ValueError("client_factory must be a callable returning a CloudClient")
        for name, value in (("instance_id", instance_id), ("region", region)):
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{name} must be a non-empty string, got {value!r}")
        if username is not None and not isinstance(username, str):
            raise ValueError(f"username must be a string, got {username!r}")
        for name, number in (("idle_seconds", idle_seconds), ("start_timeout", start_timeout),
                             ("keepalive_seconds", keepalive_seconds), ("max_age_seconds", max_age_seconds)):
            if not isinstance(number, (int, float)) or not number > 0:
                raise ValueError(f"{name} must be a number of seconds above 0, got {number!r}")
        self._client_factory = client_factory
        self._client: t.Any = None
        self.instance_id = instance_id
        self.region = region
        self.username = username or "root"
        self.idle_seconds = float(idle_seconds)
        self.start_timeout = float(start_timeout)
        self.keepalive_seconds = float(keepalive_seconds)
        self.max_age_seconds = float(max_age_seconds)
        self._sock: t.Any = None

    # --- public ----------------------------------------------------------------------------------------------

    def exec(self, command: str, stdin: bytes | None = None, timeout: float | None = None) -> tuple[int, bytes, bytes]:
        """Run ``/bin/sh -c command`` on the instance with ``stdin``; (rc, stdout, stderr), byte exact."""
        if not isinstance(command, str) or not command:
            raise ValueError("command must be a non-empty string")
        if stdin is not None and not isinstance(stdin, (bytes, bytearray)):
            raise ValueError("stdin must be bytes or None")
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout must be a number of seconds above 0, got {timeout!r}")
        answer, data = self._run({"op": "exec", "cmd": command, "timeout": timeout}, bytes(stdin or b""), timeout)
        split = int(answer["stdout"])
        return int(answer["rc"]), data[:split], data[split:]

    def put(self, data_or_path: bytes | str | os.PathLike, remote_path: str, mode: int | None = None,
            timeout: float | None = None) -> None:
        """Write ``data_or_path`` (bytes, or the path of a local file) to ``remote_path`` on the instance: sent in
        pieces as the stdin of ``cat`` into a temporary name, then moved into place (a reader never sees half a
        file); ``mode`` (e.g. 0o644) is set before the move."""
        data = _local_bytes(data_or_path)
        if not isinstance(remote_path, str) or not remote_path:
            raise ValueError("remote_path must be a non-empty string")
        if mode is not None and (not isinstance(mode, int) or not 0 <= mode <= 0o7777):
            raise ValueError(f"mode must be a permission number such as 0o644, got {mode!r}")
        temp = shlex.quote(f"{remote_path}.session-{uuid.uuid4().hex[:12]}")
        chmod = f"chmod {mode:o} {temp} && " if mode is not None else ""
        command = (f"cat > {temp} && {chmod}mv -f {temp} {shlex.quote(remote_path)} || "
                   f"{{ rc=$?; rm -f {temp}; exit $rc; }}")
        rc, _stdout, stderr = self.exec(command, data, timeout)
        if rc != 0:
            raise TransferFailed(f"writing {remote_path} failed (rc {rc}): {_text(stderr)}")

    def fetch(self, remote_path: str, local_path: str | os.PathLike | None = None,
              timeout: float | None = None) -> bytes:
        """The content of ``remote_path`` on the instance (``cat`` of it, its output in pieces); also written to
        ``local_path`` when one is given."""
        if not isinstance(remote_path, str) or not remote_path:
            raise ValueError("remote_path must be a non-empty string")
        rc, stdout, stderr = self.exec(f"cat -- {shlex.quote(remote_path)}", None, timeout)
        if rc != 0:
            raise TransferFailed(f"reading {remote_path} failed (rc {rc}): {_text(stderr)}")
        if local_path is not None:
            with open(local_path, "wb") as handle:
                handle.write(stdout)
        return stdout

    def stats(self) -> dict[str, t.Any]:
        """The holder's counters (starts, reconnects, lost, commands, keepalives), its pid and session id."""
        for attempt in range(2):  # a connection the holder dropped as quiet is made again once
            sock = self._holder()
            try:
                wire.send(sock, {"op": "stats"})
                return wire.receive(sock, time.monotonic() + self.start_timeout)[0]
            except (wire.WireClosed, wire.WireTimeout) as error:
                self._drop()
                if attempt:
                    raise ChannelLost(str(error)) from None
        raise ChannelLost("unreachable")

    def end_holder(self) -> None:
        """Ask the holder to end the session and exit now (the play's end does the same by itself)."""
        try:
            sock = wire.connect(self.socket_path, self.start_timeout)
        except wire.WireClosed:
            return
        try:
            wire.send(sock, {"op": "close"})
            wire.receive(sock, time.monotonic() + self.start_timeout)
        except (wire.WireClosed, wire.WireTimeout):
            pass
        finally:
            sock.close()
        self._drop()

    def close(self) -> None:
        """Drop this worker's link to the holder; the holder (and the session) live on."""
        self._drop()

    # --- the holder ------------------------------------------------------------------------------------------

    @property
    def client(self) -> t.Any:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    @property
    def session_user(self) -> str:
        return "ecs-assist-user" if self.username == "root" else self.username

    def _key(self) -> str:
        settings = self.client.settings
        parts = (settings.endpoint or "", self.region, self.instance_id, self.username, settings.access_key_id)
        return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()[:24]

    @property
    def socket_path(self) -> str:
        return os.path.join(private_subdirectory("sessions"), f"{self._key()}.sock")

    def _drop(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None

    def _holder(self) -> t.Any:
        """A connection to this host's holder, starting one when none answers."""
        if self._sock is not None:
            return self._sock
        path = self.socket_path
        try:
            self._sock = wire.connect(path, self.start_timeout)
            return self._sock
        except wire.WireClosed:
            pass
        lock = open_private(path[:-len(".sock")] + ".lock")
        try:
            # The worker holding the lock may be starting a holder: that takes start_timeout + ANSWER_MARGIN at most.
            lock_any([lock], path[:-len(".sock")] + ".lock", 2 * (self.start_timeout + ANSWER_MARGIN))
            try:
                self._sock = wire.connect(path, self.start_timeout)
            except wire.WireClosed:
                self._spawn(path)
                self._sock = wire.connect(path, self.start_timeout)
        except wire.WireClosed as error:
            raise SessionUnavailable(f"the session holder cannot be reached: {error}") from None
        finally:
            os.close(lock)  # closing the descriptor lets go of its flock
        return self._sock

    @staticmethod
    def _run_of() -> list[t.Any]:
        """[pid, start time] of the ansible run this worker belongs to (outside ansible: the parent process)."""
        run = run_of(os.getpid())
        parent = run if run is not None else os.getppid()
        return [parent, start_time(parent)]

    def _config(self, path: str) -> dict[str, t.Any]:
        settings = self.client.settings
        return {
            "socket": path, "instance_id": self.instance_id, "region": self.region, "username": self.username,
            "endpoint": settings.endpoint, "connect_timeout": settings.connect_timeout,
            "read_timeout": settings.read_timeout, "retry_budget": settings.retry_budget,
            "credential": settings.credentials.current().to_json(), "idle_seconds": self.idle_seconds,
            "start_timeout": self.start_timeout, "parent": self._run_of(),
            "keepalive": self.keepalive_seconds, "max_age": self.max_age_seconds,
        }

    def _spawn(self, path: str) -> None:
        """Start a holder and wait (start_timeout, plus the API call's own time) for its first line."""
        log = open_private(path[:-len(".sock")] + ".log", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            process = subprocess.Popen(  # pylint: disable=consider-using-with
                [sys.executable, "-c", HOLDER_ENTRY, _collections_root()], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=log, start_new_session=True, close_fds=True, cwd="/")
        finally:
            os.close(log)
        try:
            process.stdin.write((json.dumps(self._config(path)) + "\n").encode("utf-8"))
            process.stdin.close()
        except OSError:
            pass
        answer = _first_line(process, self.start_timeout + ANSWER_MARGIN)
        if not answer.get("ok"):
            raise SessionUnavailable(str(answer.get("reason") or "the session holder did not start"))

    def _run(self, header: dict[str, t.Any], body: bytes, timeout: float | None) -> tuple[dict[str, t.Any], bytes]:
        """Send one request; retried on another holder only while it is sure the command was not taken."""
        wait = (timeout or DEFAULT_COMMAND_TIMEOUT) + ANSWER_MARGIN
        for _attempt in range(ATTEMPTS):
            sock = self._holder()
            header["credential"] = self.client.settings.credentials.current().to_json()
            header["run"] = self._run_of()
            try:
                wire.send(sock, header, body)
                first, _none = wire.receive(sock, time.monotonic() + self.start_timeout + ANSWER_MARGIN)
            except (wire.WireClosed, wire.WireTimeout):
                self._drop()  # the holder went away before taking the command: nothing ran
                continue
            if first.get("error") == "retry":
                self._drop()
                time.sleep(0.2)
                continue
            if not first.get("taken"):
                return _checked(first, b"")
            try:
                return _checked(*wire.receive(sock, time.monotonic() + wait))
            except (wire.WireClosed, wire.WireTimeout) as error:
                self._drop()
                raise ChannelLost(f"the session holder was lost with the command in flight: {error}") from None
        raise SessionUnavailable("no session holder took the command (each was closing or gone)")


def _checked(answer: dict[str, t.Any], data: bytes) -> tuple[dict[str, t.Any], bytes]:
    if answer.get("ok"):
        return answer, data
    error, reason = answer.get("error"), str(answer.get("reason") or "")
    if error == "unavailable":
        raise SessionUnavailable(reason)
    if error == "timeout":
        raise CommandTimeout(reason)
    if error == "lost":
        raise ChannelLost(f"the session was lost with the command in flight: {reason}")
    raise ChannelLost(f"the session could not run the command: {reason}")


def _first_line(process: subprocess.Popen, seconds: float) -> dict[str, t.Any]:
    """The holder's status line, waited for at most ``seconds``; a holder silent that long is killed."""
    deadline = time.monotonic() + seconds
    data = b""
    fd = process.stdout.fileno()
    while b"\n" not in data:
        left = deadline - time.monotonic()
        ready = select.select([fd], [], [], max(0.0, left))[0] if left > 0 else []
        if not ready:
            process.kill()
            return {"ok": False, "reason": f"the session holder did not start within {seconds:g} s"}
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    process.stdout.close()
    try:
        return json.loads(data.split(b"\n", 1)[0].decode("utf-8"))
    except ValueError:
        return {"ok": False, "reason": "the session holder exited without a word (see its log in the state directory)"}


def _local_bytes(data_or_path: bytes | str | os.PathLike) -> bytes:
    if isinstance(data_or_path, (bytes, bytearray)):
        return bytes(data_or_path)
    if isinstance(data_or_path, (str, os.PathLike)):
        with open(data_or_path, "rb") as handle:
            return handle.read()
    raise ValueError("data_or_path must be bytes or the path of a local file")


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace").strip()[-500:] or "no message"
