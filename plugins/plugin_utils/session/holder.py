# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The session holder: one process per (endpoint, region, instance, session user, AccessKey ID) that keeps a
Session Manager session open across tasks and worker processes, as ssh's ControlPersist master keeps its
connection.

ansible runs every task in a worker process of its own, so a session opened by a worker would die with it.
The first worker that needs the session starts this process (channel.py) and gives it the API settings and
credentials over a pipe; the holder opens the session, listens on a Unix socket in the controller's private
state directory, and every later worker of this ansible run finds it there. It runs each worker's commands
over the one session (several at once: async tasks), and:

* keeps the session alive under the agent's 180 s idle limit by a no-op round trip through the helper when
  nothing was sent for KEEPALIVE seconds;
* opens a new session when the old one dropped or reached its age limit (the agent's 3 h cap), but only while
  no command is in flight on it; a command in flight when the channel drops is answered "lost" and never sent
  again (its outcome is unknown);
* ends the session (EndTerminalSession) and exits after ``idle_seconds`` without a request, or as soon as the
  ansible run that started it is gone (the main process's pid and start time, so a reused pid is not taken for
  it) and no command is in flight; a second run with the same key (two plays at once) that sent a command keeps
  it until that run is gone too.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import sys
import threading
import time
import traceback
import typing as t

from ansible_collections.alicloud.ecs.plugins.module_utils.api.contact import start_time
from ansible_collections.alicloud.ecs.plugins.module_utils.api.errors import CloudError, ConfigError
from ansible_collections.alicloud.ecs.plugins.plugin_utils.session import wire
from ansible_collections.alicloud.ecs.plugins.plugin_utils.session.link import (
    CommandAbandoned, CommandTimedOut, Link, LinkLost, WebSocketTransport)
from ansible_collections.alicloud.ecs.plugins.plugin_utils.session.remote_helper import bootstrap_command

KEEPALIVE = 60.0  # seconds without input before a no-op (the agent cancels a session after 180 s without)
MAX_AGE = 3 * 3600 - 300  # a session older than this is replaced between commands (the agent's cap is 3 h)
TICK = 0.5  # how often the holder looks at its parent, its idle time and the keepalive
DEFAULT_COMMAND_TIMEOUT = 3600.0
PING_TIMEOUT = 20.0
CONNECTION_SLACK = 60.0  # seconds a worker's connection may stay quiet beyond the idle time
SESSION_USER = "ecs-assist-user"  # the agent's own session user (passwordless sudo)


class Unavailable(Exception):
    """The session cannot be opened on this host (the reason is for the warning)."""


class Starter:
    """Opens a session: StartTerminalSession with the helper's bootstrap, the websocket, the helper."""

    def __init__(self, client: t.Any, instance_id: str, username: str, start_timeout: float) -> None:
        self.client = client
        self.instance_id = instance_id
        self.sudo = username in ("", "root")
        self.session_user = SESSION_USER if self.sudo else username
        self.start_timeout = start_timeout

    def open(self) -> tuple[Link, str]:
        params: dict[str, t.Any] = {"InstanceId": [self.instance_id], "CommandLine": bootstrap_command(self.sudo)}
        if not self.sudo:
            params["Username"] = self.session_user
        try:
            answer = self.client.call("StartTerminalSession", **params)
        except (CloudError, ConfigError) as error:
            raise Unavailable(f"StartTerminalSession failed: {error}") from None
        session_id = str(answer.get("SessionId") or "")
        url, token = answer.get("WebSocketUrl"), answer.get("SecurityToken") or ""
        if not url:
            raise Unavailable("StartTerminalSession answered without a WebSocketUrl")
        deadline = time.monotonic() + self.start_timeout
        try:
            link = Link(WebSocketTransport(url, token, self.start_timeout))
            link.start(deadline)
        except LinkLost as error:
            self.end(session_id)
            raise Unavailable(str(error)) from None
        return link, session_id

    def end(self, session_id: str) -> None:
        """EndTerminalSession, best effort (the agent ends an abandoned session after its idle limit anyway)."""
        if not session_id:
            return
        try:
            self.client.call("EndTerminalSession", SessionId=session_id, retry=True)
        except (CloudError, ConfigError):
            pass


class Holder:
    """The holder's state and decisions (the socket loop is ``serve``)."""

    def __init__(self, starter: t.Any, idle_seconds: float, parent: tuple[int, str] | None = None,
                 clock: t.Callable[[], float] = time.monotonic, max_age: float = MAX_AGE,
                 keepalive: float = KEEPALIVE) -> None:
        self.starter = starter
        self.idle_seconds = idle_seconds
        # The ansible runs using this holder (pid -> start time): the one that started it, and any other run's
        # worker that sent a command (two plays at once with the same key share the holder).
        self.runs: dict[int, str] = {parent[0]: parent[1]} if parent is not None else {}
        self.clock = clock
        self.max_age = max_age
        self.keepalive = keepalive
        self.link: Link | None = None
        self.session_id = ""
        self.counters = {"starts": 0, "reconnects": 0, "lost": 0, "commands": 0, "keepalives": 0, "abandoned": 0}
        self._lock = threading.Lock()
        self.active = 0
        self._activity_lock = threading.Lock()
        self.last_activity = clock()
        self.stopping = False
        self.closing = False  # set once the holder has decided to end: no new command is taken
        self._pinging = False

    # --- the session -----------------------------------------------------------------------------------------

    def link_for_command(self) -> Link:
        """The link a new command goes over: the current one while it is alive and young enough (or busy), else a
        new session; Unavailable when none can be opened."""
        with self._lock:
            link = self.link
            if link is not None and link.lost is None:
                if self.clock() - link.opened < self.max_age or link.in_flight:
                    return link
            self._replace()
            return t.cast(Link, self.link)

    def _replace(self) -> None:
        old, old_id = self.link, self.session_id
        if old is not None:
            old.close()
            self.starter.end(old_id)
            self.link, self.session_id = None, ""
        self.link, self.session_id = self.starter.open()
        self.counters["starts"] += 1
        if old is not None:
            self.counters["reconnects"] += 1

    def open_first(self) -> None:
        """The first session; the idle time counts from when it is open (the worker's command comes next)."""
        with self._lock:
            if self.link is None:
                self._replace()
        with self._activity_lock:
            self.last_activity = self.clock()

    def execute(self, header: dict[str, t.Any], stdin: bytes,
                abandoned: t.Callable[[], bool] | None = None) -> tuple[dict[str, t.Any], bytes]:
        """One worker request ("exec"): the answer header and body (stdout then stderr). ``abandoned`` says
        whether the worker went away (then the command is killed)."""
        self._begin()
        try:
            try:
                link = self.link_for_command()
            except Unavailable as error:
                return {"ok": False, "error": "unavailable", "reason": str(error)}, b""
            timeout = float(header.get("timeout") or DEFAULT_COMMAND_TIMEOUT)
            self.counters["commands"] += 1
            try:
                rc, stdout, stderr = link.run(str(header["cmd"]), stdin, timeout, abandoned)
            except LinkLost as error:
                self.counters["lost"] += 1
                return {"ok": False, "error": "lost", "reason": str(error)}, b""
            except CommandTimedOut as error:
                return {"ok": False, "error": "timeout", "reason": str(error)}, b""
            except CommandAbandoned as error:
                self.counters["abandoned"] += 1
                return {"ok": False, "error": "abandoned", "reason": str(error)}, b""
            except RuntimeError as error:
                return {"ok": False, "error": "failed", "reason": str(error)}, b""
            return {"ok": True, "rc": rc, "stdout": len(stdout)}, stdout + stderr
        finally:
            self._end()

    def _begin(self) -> None:
        with self._activity_lock:
            self.active += 1
            self.last_activity = self.clock()

    def _end(self) -> None:
        with self._activity_lock:
            self.active -= 1
            self.last_activity = self.clock()

    def stats(self) -> dict[str, t.Any]:
        link = self.link
        return {"ok": True, "pid": os.getpid(), "session_id": self.session_id, "counters": dict(self.counters),
                "in_flight": link.in_flight if link else 0, "helper": link.helper if link else {},
                "lost": link.lost if link else None}

    # --- housekeeping ----------------------------------------------------------------------------------------

    def why_stop(self) -> str | None:
        """Why the holder should end now (None: keep going)."""
        if self.stopping:
            return "asked to close"
        with self._activity_lock:
            gone = self._runs_gone()
            if gone:
                return gone

            idle = not self.active and self.clock() - self.last_activity >= self.idle_seconds
        if idle:
            return f"idle for {self.idle_seconds:g} s"
        return None

    def join_run(self, run: t.Sequence[t.Any] | None) -> None:
        """A worker of ``run`` ([pid, start time]) uses this holder: it stays while that run lives too."""
        if run and len(run) == 2:
            with self._activity_lock:
                self.runs[int(run[0])] = str(run[1])

    def _runs_gone(self) -> str | None:
        """Why to stop because the ansible runs are over: every run using the holder is gone (pid and start time)
        and no command is in flight. Runs whose start time could not be read are not watched."""
        watched = {pid: started for pid, started in self.runs.items() if started != "0"}
        if not watched or self.active or any(start_time(pid) == started for pid, started in watched.items()):
            return None
        return f"the ansible run(s) that used it ended (process {', '.join(map(str, sorted(watched)))})"

    def keep_alive(self) -> None:
        """A no-op through the helper when nothing was sent for ``keepalive`` seconds (in a thread of its own)."""
        link = self.link
        if link is None or link.lost is not None or self._pinging:
            return
        if self.clock() - link.last_input < self.keepalive:
            return
        self._pinging = True
        threading.Thread(target=self._ping, args=(link,), daemon=True).start()

    def _ping(self, link: Link) -> None:
        try:
            if link.ping(PING_TIMEOUT):
                self.counters["keepalives"] += 1
        finally:
            self._pinging = False

    def shut(self) -> None:
        self.closing = True
        with self._lock:
            if self.link is not None:
                self.link.close()
                self.starter.end(self.session_id)
                self.link = None


def serve(holder: Holder, listener: socket.socket, log: t.Callable[[str], None]) -> str:
    """Answer workers until the holder should stop; returns why it stopped."""
    listener.settimeout(TICK)
    while True:
        why = holder.why_stop()
        if why is not None:
            return why
        holder.keep_alive()
        try:
            connection, _address = listener.accept()
        except socket.timeout:
            continue
        except OSError as error:
            return f"the socket failed: {error}"
        threading.Thread(target=_answer, args=(holder, connection, log), daemon=True).start()


def _answer(holder: Holder, connection: socket.socket, log: t.Callable[[str], None]) -> None:
    """One worker's connection: its requests in turn until it hangs up.

    A command is acknowledged ("taken") before it is run: a worker that loses the holder before that knows the
    command never ran and may start a new holder; after it, the outcome is unknown (ChannelLost)."""
    with connection:
        if wire.peer_uid(connection) not in (None, os.getuid()):
            return
        while True:
            try:
                # A worker quiet this long is dropped; its next request finds the holder again (nothing was taken).
                header, body = wire.receive(connection, time.monotonic() + holder.idle_seconds + CONNECTION_SLACK)
            except (wire.WireClosed, wire.WireTimeout, ValueError):
                return
            try:
                answer, data = _dispatch(holder, connection, header, body)
            except Exception as error:  # pylint: disable=broad-except
                log(f"request failed: {traceback.format_exc()}")
                answer, data = {"ok": False, "error": "failed", "reason": repr(error)}, b""
            try:
                wire.send(connection, answer, data)
            except (wire.WireClosed, wire.WireTimeout):
                return


def _dispatch(holder: Holder, connection: socket.socket, header: dict[str, t.Any],
              body: bytes) -> tuple[dict[str, t.Any], bytes]:
    operation = header.get("op")
    if operation == "exec":
        if holder.closing or holder.why_stop() is not None:
            return {"ok": False, "error": "retry", "reason": "the session holder is closing"}, b""
        _renew(holder, header.get("credential"))
        holder.join_run(header.get("run"))
        wire.send(connection, {"taken": True})
        return holder.execute(header, body, lambda: _hung_up(connection))
    if operation == "stats":
        return holder.stats(), b""
    if operation == "close":
        holder.stopping = True
        return {"ok": True}, b""
    return {"ok": False, "error": "failed", "reason": f"unknown request {operation!r}"}, b""


def _hung_up(connection: socket.socket) -> bool:
    """Whether the worker closed its end (it sends nothing while it waits, so anything readable is the end)."""
    try:
        if not select.select([connection], [], [], 0)[0]:
            return False
        return connection.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def _renew(holder: Holder, credential: dict[str, t.Any] | None) -> None:
    """A worker's current credentials replace the held ones (temporary ones are renewed by the workers)."""
    source = getattr(holder.starter, "source", None)
    if credential and source is not None:
        source.update(credential)


class HeldSource:
    """The credentials the workers gave, for the holder's own API calls (start and end of sessions)."""

    def __init__(self, credential: dict[str, t.Any]) -> None:
        from ansible_collections.alicloud.ecs.plugins.module_utils.auth.credentials import Credential
        self._make = Credential
        self.credential = Credential.from_json(credential)
        self.description = "the credentials of the ansible worker that started the session holder"
        self.identity = f"held:{self.credential.access_key_id}"

    def update(self, credential: dict[str, t.Any]) -> None:
        self.credential = self._make.from_json(credential)

    def fetch(self) -> t.Any:
        return self.credential


def build_client(config: dict[str, t.Any]) -> tuple[t.Any, HeldSource]:
    """A CloudClient from the settings a worker handed over the pipe."""
    from ansible_collections.alicloud.ecs.plugins.module_utils.api.client import CloudClient, Settings
    from ansible_collections.alicloud.ecs.plugins.module_utils.auth.credentials import CredentialProvider
    source = HeldSource(config["credential"])
    settings = Settings(credentials=CredentialProvider(source), region=config["region"],
                        endpoint=config.get("endpoint"), connect_timeout=int(config.get("connect_timeout") or 5),
                        read_timeout=int(config.get("read_timeout") or 10),
                        retry_budget=float(config.get("retry_budget") or 0), api_concurrency=0)
    return CloudClient(settings, config["region"]), source


def main() -> None:
    """The holder process: settings from stdin (a pipe), one status line on stdout, then serve."""
    config = json.loads(sys.stdin.readline())
    sys.stdin.close()
    log_file = sys.stderr

    def log(text: str) -> None:
        log_file.write(f"{time.strftime('%H:%M:%S')} holder {os.getpid()}: {text}\n")
        log_file.flush()

    def report(answer: dict[str, t.Any]) -> None:
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
        sys.stdout.close()

    try:
        client, source = build_client(config)
        starter = Starter(client, config["instance_id"], config["username"], float(config["start_timeout"]))
        starter.source = source  # type: ignore[attr-defined]
        parent = config.get("parent")
        holder = Holder(starter, float(config["idle_seconds"]), tuple(parent) if parent else None,
                        max_age=float(config.get("max_age") or MAX_AGE),
                        keepalive=float(config.get("keepalive") or KEEPALIVE))
        holder.open_first()
    except Unavailable as error:
        log(f"unavailable: {error}")
        report({"ok": False, "error": "unavailable", "reason": str(error)})
        return
    except Exception as error:  # pylint: disable=broad-except
        log(f"failed to start: {traceback.format_exc()}")
        report({"ok": False, "error": "failed", "reason": repr(error)})
        return
    listener = wire.listen(config["socket"])
    inode = os.lstat(config["socket"]).st_ino
    log(f"session {holder.session_id} open, listening at {config['socket']}")
    report({"ok": True, "pid": os.getpid(), "session_id": holder.session_id})
    signal.signal(signal.SIGTERM, lambda number, frame: setattr(holder, "stopping", True))
    why = serve(holder, listener, log)
    log(f"closing: {why}")
    try:
        if os.lstat(config["socket"]).st_ino == inode:  # a holder started after this one decided to end keeps its own
            os.unlink(config["socket"])
    except OSError:
        pass
    listener.close()
    holder.shut()
    log("closed")
