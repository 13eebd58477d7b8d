# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A cap on the API calls in flight at once, shared by every process of one ansible run.

ansible forks a worker per task and host, and each worker's transfers keep up to
``transfer_parallelism`` calls in flight: fifty forks are eight hundred requests at once, which
chokes a small controller (and an account's rate limit) until reads time out. So every call holds a
slot while its request is on the wire. A slot is an exclusively flock()ed file in a directory named
after the controller process (ansible-playbook itself, the parent of the workers): the kernel frees
a slot whose holder died, nothing needs setting up before the fork, and a worker, a thread or the
parent's inventory plugin all draw from the same pool. Pauses between retries hold no slot.

The directories live in this user's private state directory (private_dirs.py), never under a shared name
another user could create first; a wait for a slot ends after ``ANSIBLE_ALICLOUD_LOCK_WAIT`` seconds with an
error naming the slot files, so a holder that never lets go cannot stall every call.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import random
import shutil
import threading
import typing as t

from .contact import start_time as _start_time
from .errors import CloudError, ConfigError
from .private_dirs import (
    DEFAULT_LOCK_WAIT, LOCK_WAIT_ENV, LocalStateError, lock_any, open_private, private_subdirectory, seconds_from_env,
    try_lock,
)

DEFAULT_LIMIT = 32


def controller_pid() -> int:
    """The process whose run the slots belong to: an ansible worker's parent, else this process."""
    parent = multiprocessing.parent_process()
    return parent.pid if parent is not None and parent.pid else os.getpid()


class CallSlots:
    """``limit`` slot files; ``held()`` waits (``wait`` seconds at most) for a free one and keeps it for the block."""

    def __init__(self, directory: str, limit: int, wait: float | None = None) -> None:
        self.directory = directory
        self.limit = max(1, int(limit))
        self.wait = wait
        os.makedirs(directory, mode=0o700, exist_ok=True)

    def _path(self, index: int) -> str:
        return os.path.join(self.directory, f"slot-{index}")

    @contextlib.contextmanager
    def held(self) -> t.Iterator[None]:
        fd = self._take()
        try:
            yield
        finally:
            os.close(fd)  # closing the descriptor releases its lock

    def _take(self) -> int:
        """A locked slot's descriptor: a free one first, tried in random order so holders spread out; when all are
        taken, the first of them to come free, within the deadline (a CloudError past it, naming the files)."""
        opened: list[int] = []
        try:
            for index in random.sample(range(self.limit), self.limit):
                opened.append(open_private(self._path(index)))
                if try_lock(opened[-1]):
                    return opened.pop()
            what = f"files {self.directory}/slot-0 to slot-{self.limit - 1} (every API call slot of this run)"
            try:
                wait = seconds_from_env(LOCK_WAIT_ENV, DEFAULT_LOCK_WAIT) if self.wait is None else self.wait
            except ConfigError as error:
                raise CloudError("LocalState", str(error)) from None
            try:
                return opened.pop(lock_any(opened, what, wait))
            except LocalStateError as error:
                raise CloudError("LocalSlotTimeout", str(error)) from None
        finally:
            for other in opened:
                os.close(other)


_POOLS: dict[tuple[int, int], CallSlots] = {}
_POOLS_LOCK = threading.Lock()


def shared(limit: int, base: str | None = None) -> CallSlots:
    """The pool of this ansible run for ``limit`` concurrent calls (one per process, made on first use)."""
    owner = controller_pid()
    with _POOLS_LOCK:
        pool = _POOLS.get((owner, limit))
        if pool is None:
            root = base or _private_root()
            _prune(root)
            pool = CallSlots(os.path.join(root, f"calls-{owner}-{_start_time(owner)}-{limit}"), limit)
            _POOLS[(owner, limit)] = pool
        return pool


def _private_root() -> str:
    """Where this user's slot directories live; a state directory that is not ours fails the call (naming it)."""
    try:
        return private_subdirectory("call-slots")
    except LocalStateError as error:
        raise CloudError("LocalState", str(error)) from None


def _prune(root: str) -> None:
    """Remove the slot directories of runs whose controller is gone."""
    try:
        names = os.listdir(root)
    except OSError:
        return
    for name in names:
        parts = name.split("-")
        if len(parts) != 4 or parts[0] != "calls" or not parts[1].isdigit():
            continue
        if _start_time(int(parts[1])) != parts[2]:
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)
