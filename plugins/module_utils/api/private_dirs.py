# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the controller keeps its own state (API call slots, fleet runs), and how it waits on its locks.

A name under /tmp is predictable: another local user can create it first, and then hold our locks (every
call waits behind them), make it unwritable, or plant the files we read. So the state lives in a directory
only this user can enter: ``$XDG_RUNTIME_DIR`` when it is ours (the login manager makes it for this user
alone), else ansible's local temp directory (``ANSIBLE_LOCAL_TEMP``, default ``~/.ansible/tmp``), else a
name under the temp directory. Whichever it is, it is opened without following a link and checked: a real
directory, owned by this user, with no permission for group or others. One of ours with a loose mode is
tightened; one that is not ours, or a link, is refused with an error naming it and its owner.

Every lock taken in it is waited for with a deadline (``ANSIBLE_ALICLOUD_LOCK_WAIT`` seconds): a holder
that never lets go ends in an error naming the lock file, never in a wait without end.
"""

from __future__ import annotations

import errno
import fcntl
import os
import pwd
import random
import stat
import tempfile
import time
import typing as t

from .errors import ConfigError

NAME = "alicloud-ecs"
LOCK_WAIT_ENV = "ANSIBLE_ALICLOUD_LOCK_WAIT"
# A lock here is held for a few file operations, or a call slot for one API request (read_timeout at most);
# ten minutes covers a long queue of calls behind a small api_concurrency.
DEFAULT_LOCK_WAIT = 600.0
# Polls of a busy lock start fast (a slot is often free again within milliseconds) and slow down.
FIRST_PAUSE = 0.005
MAX_PAUSE = 0.2


class LocalStateError(ConfigError):
    """The controller's own state cannot be used safely (a directory not ours) or in time (a lock held too long)."""


def seconds_from_env(name: str, default: float, env: t.Mapping[str, str] | None = None) -> float:
    """A number of seconds from the environment variable ``name`` (unset or empty: ``default``)."""
    text = (os.environ if env is None else env).get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:  # also catches nan
        raise ConfigError(f"{name} must be a number of seconds (0 or more), got {text!r}")
    return value


def _owner(uid: int) -> str:
    try:
        return f"uid {uid} ({pwd.getpwuid(uid).pw_name})"
    except KeyError:
        return f"uid {uid}"


def _refusal(path: str, why: str) -> LocalStateError:
    return LocalStateError(
        f"refusing the controller state directory {path}: {why}; another local user may have created it to "
        f"interfere with this one. Remove it, or point ANSIBLE_LOCAL_TEMP or TMPDIR at a directory of your own")


def claim(path: str) -> str:
    """Make ``path`` (a directory of this user's, 0700) or check the one there; refuse one that is not ours.

    Opened with O_NOFOLLOW and checked through its descriptor, so a link swapped in between the check and
    the use is never followed.
    """
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as error:
        raise LocalStateError(f"cannot create the controller state directory {path}: {error.strerror}; point "
                              "ANSIBLE_LOCAL_TEMP or TMPDIR at a directory of your own") from None
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as error:
        raise _explained(path, error) from None
    try:
        info = os.fstat(descriptor)
        if info.st_uid != os.getuid():
            raise _refusal(path, f"it belongs to {_owner(info.st_uid)}, not to this user ({_owner(os.getuid())})")
        if stat.S_IMODE(info.st_mode) & 0o077:
            os.fchmod(descriptor, 0o700)
    finally:
        os.close(descriptor)
    return path


def _explained(path: str, error: OSError) -> LocalStateError:
    """Why ``path`` could not be opened as our directory, in plain words."""
    try:
        info = os.lstat(path)
    except OSError:
        return _refusal(path, f"it cannot be opened ({error.strerror})")
    if stat.S_ISLNK(info.st_mode):
        return _refusal(path, f"it is a symbolic link (owned by {_owner(info.st_uid)}), which is never followed")
    if not stat.S_ISDIR(info.st_mode):
        return _refusal(path, f"it is not a directory (owned by {_owner(info.st_uid)})")
    return _refusal(path, f"it cannot be opened ({error.strerror}; owned by {_owner(info.st_uid)})")


def _safe_parent(path: str) -> bool:
    """Whether no other user can replace what we create in ``path``: ours or root's, and writable by no one else
    (or sticky, like /tmp, where an entry can only be removed by its owner)."""
    try:
        info = os.stat(path)
    except OSError:
        return False
    loose = stat.S_IMODE(info.st_mode) & 0o022 and not info.st_mode & stat.S_ISVTX
    return stat.S_ISDIR(info.st_mode) and info.st_uid in (os.getuid(), 0) and not loose


def _runtime_dir(env: t.Mapping[str, str]) -> str | None:
    """``$XDG_RUNTIME_DIR`` when it is this user's own (0700, ours): after sudo or su it may be someone else's."""
    base = env.get("XDG_RUNTIME_DIR", "")
    if not os.path.isabs(base):
        return None
    try:
        info = os.stat(base)
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or stat.S_IMODE(info.st_mode) & 0o077:
        return None
    return base


def _ansible_temp(env: t.Mapping[str, str]) -> str | None:
    """ansible's local temp directory (made 0700 as ansible makes it), when we can write to it and no other user
    can (one left owned by root by a run under sudo is passed over, not an error)."""
    base = os.path.expandvars(os.path.expanduser(env.get("ANSIBLE_LOCAL_TEMP") or "~/.ansible/tmp"))
    if not os.path.isabs(base):
        return None
    try:
        os.makedirs(base, mode=0o700, exist_ok=True)
    except OSError:
        return None
    return base if _safe_parent(base) and os.access(base, os.W_OK | os.X_OK) else None


def state_directory(env: t.Mapping[str, str] | None = None) -> str:
    """This user's private state directory (see the module's docstring), made on first use."""
    env = os.environ if env is None else env
    for base in (_runtime_dir(env), _ansible_temp(env)):
        if base is not None:
            return claim(os.path.join(base, NAME))
    temp = tempfile.gettempdir()
    if not _safe_parent(temp):  # another user could rename our directory away and put theirs in its place
        raise LocalStateError(f"no private place for the controller state: {temp} (TMPDIR) can be written by other "
                              "users and has no sticky bit; point ANSIBLE_LOCAL_TEMP or TMPDIR at a directory of your own")
    return claim(os.path.join(temp, f"{NAME}-{os.getuid()}"))


def private_subdirectory(*names: str, env: t.Mapping[str, str] | None = None) -> str:
    """A directory inside the state directory (0700): nobody else can enter its parent, so it needs no check."""
    path = os.path.join(state_directory(env), *names)
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def open_private(path: str, flags: int = os.O_RDWR | os.O_CREAT) -> int:
    """A file descriptor for ``path``: made 0600, never through a link."""
    return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)


def write_private(path: str, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically (a reader sees the whole file or none), 0600."""
    temp = f"{os.path.dirname(path)}/.{os.path.basename(path)}.{os.getpid()}"
    descriptor = open_private(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
    except BaseException:
        os.unlink(temp)
        raise
    os.replace(temp, path)


def read_private(path: str) -> bytes:
    """The content of ``path``, never read through a link."""
    with os.fdopen(open_private(path, os.O_RDONLY), "rb") as handle:
        return handle.read()


def try_lock(descriptor: int) -> bool:
    """Take the exclusive flock of ``descriptor`` if it is free; never waits."""
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
            raise
        return False
    return True


def lock_any(descriptors: t.Sequence[int], what: str, seconds: float | None = None,
             sleep: t.Callable[[float], None] = time.sleep, clock: t.Callable[[], float] = time.monotonic) -> int:
    """The index of the first of ``descriptors`` whose exclusive flock this process got, waiting at most
    ``seconds`` (default: ``ANSIBLE_ALICLOUD_LOCK_WAIT``, else DEFAULT_LOCK_WAIT).

    Non-blocking tries with short pauses instead of a blocking flock, which nothing but a signal could end.
    ``what`` names the lock file(s) in the error.
    """
    wait = seconds_from_env(LOCK_WAIT_ENV, DEFAULT_LOCK_WAIT) if seconds is None else seconds
    deadline = clock() + wait
    pause = FIRST_PAUSE
    while True:
        for index, descriptor in enumerate(descriptors):
            if try_lock(descriptor):
                return index
        left = deadline - clock()
        if left <= 0:
            raise LocalStateError(f"waited {wait:g} s for the lock {what}, held all that time by another process; "
                                  f"giving up (set {LOCK_WAIT_ENV} to wait longer)")
        sleep(min(left, pause * random.uniform(0.5, 1.0)))
        pause = min(MAX_PAUSE, pause * 1.5)
