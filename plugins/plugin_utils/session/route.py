# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which way a command of the cloud_assistant connection goes with ``transport: session``.

The kept session (plugin_utils/session/channel.py) is one round trip per command and no API call, so commands go
there; the RunCommand path stays for what the session cannot do or does worse:

* a command that must answer a become password prompt (the RunCommand envelope watches for the prompt and gives the
  password once; the session's helper does not, so such a command is sent the old way);
* a file above the size where RunCommand/SendFile moves it faster than the session's output rate allows
  (``PUT_LIMIT``/``FETCH_LIMIT``, measured, see their comments);
* a host whose session cannot start (Session Manager off, the websocket endpoint not reachable, an agent too old):
  that task and every later task of that host in this ansible run go over RunCommand, with one warning per host
  and run. Ansible runs each task in a worker process of its own, so "already fallen back" is a file per host in a
  directory of this run inside the controller's private state directory (module_utils/api/private_dirs.py), made
  with O_EXCL: the process that made it is the one that warns.

A channel lost with a command in flight is UNREACHABLE, as ssh reports a dropped connection, and the command is not
sent again: it may have run.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import typing as t

from ansible.errors import AnsibleConnectionFailure, AnsibleError

from ansible_collections.alicloud.ecs.plugins.module_utils.api.contact import run_of, start_time
from ansible_collections.alicloud.ecs.plugins.module_utils.api.errors import ConfigError
from ansible_collections.alicloud.ecs.plugins.module_utils.api.private_dirs import open_private, private_subdirectory
from ansible_collections.alicloud.ecs.plugins.plugin_utils.session.channel import (
    ChannelLost, CommandTimeout, SessionChannel, SessionUnavailable,
)

TRANSPORTS = ("run_command", "session")
# Largest file put_file sends over the session; a larger one goes through the RunCommand/SendFile path, which
# streams it. Measured in bench/session_crossover.py: the session was faster at every size measured, up to this one,
# so the limit is the largest size measured (beyond it, a file would sit whole in the worker's and the holder's
# memory, at sizes nobody timed). The figures are in docs/connection.md.
PUT_LIMIT = 64 * 1024 * 1024
# Largest file fetch_file reads over the session; a larger one is paged back through RunCommand. Measured in
# bench/session_crossover.py, as PUT_LIMIT.
FETCH_LIMIT = 64 * 1024 * 1024
MARKS = "session-fallback"


class Result(t.NamedTuple):
    rc: int
    stdout: bytes
    stderr: bytes


def _run_directory() -> str | None:
    """This ansible run's directory of fallback marks (None outside an ansible run: the process remembers alone).
    The first process of a run removes the directories of runs whose main process is gone."""
    run = run_of(os.getpid())
    if run is None:
        return None
    base = private_subdirectory(MARKS)
    name = f"{run}-{start_time(run)}"
    directory = os.path.join(base, name)
    try:
        os.mkdir(directory, 0o700)
    except FileExistsError:
        return directory
    for entry in os.listdir(base):
        pid, _sep, started = entry.partition("-")
        if entry != name and pid.isdigit() and start_time(int(pid)) != started:
            shutil.rmtree(os.path.join(base, entry), ignore_errors=True)
    return directory


class FallbackMarks:
    """Hosts of this ansible run whose session could not start, shared by the run's worker processes."""

    def __init__(self, directory: t.Callable[[], str | None] = _run_directory) -> None:
        self._directory = directory
        self._here: set[str] = set()

    def _path(self, host: str) -> str | None:
        try:
            directory = self._directory()
        except (OSError, ConfigError):
            return None  # no usable state directory: this process still remembers (and warns) on its own
        return os.path.join(directory, hashlib.sha1(host.encode()).hexdigest()[:20]) if directory else None

    def marked(self, host: str) -> bool:
        if host in self._here:
            return True
        path = self._path(host)
        if path is not None and os.path.exists(path):
            self._here.add(host)
            return True
        return False

    def mark(self, host: str) -> bool:
        """Mark ``host``; True for the one process of the run that marked it first (it warns)."""
        first = host not in self._here
        self._here.add(host)
        path = self._path(host)
        if path is None:
            return first
        try:
            os.close(open_private(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return False
        except OSError:
            return first
        return True


class SessionRoute:
    """The session side of one connection (one task of one host): opens the channel on first use and says, per
    command, whether it ran there or must go over RunCommand (None)."""

    def __init__(self, open_channel: t.Callable[[], t.Any], instance_id: str, host: str,
                 warn: t.Callable[[str], None], marks: FallbackMarks | None = None) -> None:
        self._open_channel = open_channel
        self._channel: t.Any = None
        self.instance_id = instance_id
        self.host = host  # instance, region and user: what one session serves
        self._warn = warn
        self._marks = marks if marks is not None else FallbackMarks()

    def usable(self) -> bool:
        """False once this host fell back to RunCommand in this run."""
        return not self._marks.marked(self.host)

    def fall_back(self, reason: str) -> None:
        """Send this host's commands over RunCommand for the rest of the run; warn once per host and run."""
        if self._marks.mark(self.host):
            self._warn(f"{self.instance_id}: transport=session is not available ({reason}); this host's tasks use "
                       "RunCommand for the rest of this run")
        self.close()

    def _call(self, method: str, *args: t.Any, **kwargs: t.Any) -> tuple[bool, t.Any]:
        """(True, the channel method's answer), or (False, None) when the session cannot be had."""
        if not self.usable():
            return False, None
        try:
            if self._channel is None:
                self._channel = self._open_channel()
            return True, getattr(self._channel, method)(*args, **kwargs)
        except SessionUnavailable as error:
            self.fall_back(error.reason)
            return False, None
        except ChannelLost as error:
            self.close()
            raise AnsibleConnectionFailure(
                f"{self.instance_id}: the session channel was lost while a command was running ({error}); the "
                "command was not sent again (it may have run)") from None
        except CommandTimeout as error:
            raise AnsibleError(f"{self.instance_id}: the command ran longer than its timeout and was stopped "
                               f"(over the session): {error}") from None

    def exec(self, command: bytes, stdin: bytes | None, timeout: int | None) -> Result | None:
        """``command``'s rc, stdout and stderr over the session, or None: run it over RunCommand."""
        ran, answer = self._call("exec", command.decode("utf-8", "surrogateescape"), stdin=stdin, timeout=timeout)
        return Result(*answer) if ran else None

    def end(self) -> None:
        """End the host's kept session (its holder exits), as ssh's reset stops its ControlPersist master."""
        if self._channel is None:
            self._channel = self._open_channel()
        self._channel.end_holder()
        self._channel = None

    def close(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None:
            channel.close()


def session_route(client: t.Any, instance_id: str, region: str, username: str | None,
                  warn: t.Callable[[str], None]) -> SessionRoute:
    """The route of one connection: its channel is opened (or the host's kept session found) on first use."""
    return SessionRoute(lambda: SessionChannel(lambda: client, instance_id, region, username),
                        instance_id, f"{region}|{instance_id}|{username or ''}", warn)
