# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller's shared store of temporary credentials, so forked workers do not each call STS again.

One 0600 file per source under ~/.ansible, holding temporary credentials only (never a long-lived secret): a
worker finds the set a sibling fetched instead of calling STS or the metadata service itself. The provider in
``credentials`` uses it through the ``SharedStore`` protocol.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
import typing as t

from .credentials import Credential

try:
    import fcntl
    HAS_FCNTL = True
except ImportError:  # pragma: no cover - Windows controllers are not supported by ansible
    HAS_FCNTL = False

ENV_CREDENTIAL_CACHE = "ANSIBLE_ALICLOUD_CREDENTIAL_CACHE"
DEFAULT_CREDENTIAL_CACHE = "~/.ansible/alicloud_ecs/credentials"
REFRESH_LOCK_WAIT = 60.0  # seconds one worker waits for another's refresh of the same source (see _lock_for_a_while)


class CredentialCache:
    """Temporary credentials shared by the processes of one controller: one 0600 file per source identity.

    The directory is ~/.ansible/alicloud_ecs/credentials unless ANSIBLE_ALICLOUD_CREDENTIAL_CACHE names another
    one (the tests use a temporary directory); the value ``off`` disables sharing. Files are named by a hash of
    the identity, so the file name says nothing about the account or the role.
    """

    def __init__(self, directory: str) -> None:
        self.directory = os.path.expanduser(directory)

    @classmethod
    def from_env(cls, env: t.Mapping[str, str]) -> CredentialCache | None:
        directory = env.get(ENV_CREDENTIAL_CACHE, DEFAULT_CREDENTIAL_CACHE) or DEFAULT_CREDENTIAL_CACHE
        return None if directory.lower() == "off" else cls(directory)

    def _path(self, identity: str) -> str:
        return os.path.join(self.directory, hashlib.sha256(identity.encode()).hexdigest()[:40])

    def load(self, identity: str) -> Credential | None:
        try:
            with open(self._path(identity) + ".json", encoding="utf-8") as handle:
                return Credential.from_json(json.load(handle))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def store(self, identity: str, credential: Credential) -> None:
        """Write atomically with mode 0600 (in a 0700 directory); a failure only costs sharing."""
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            handle, temp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                json.dump(credential.to_json(), stream)
            os.replace(temp, self._path(identity) + ".json")
        except OSError:
            return

    @contextlib.contextmanager
    def locked(self, identity: str) -> t.Iterator[None]:
        """Only one process of the controller refreshes a source at a time; the others then read its result."""
        if not HAS_FCNTL:
            yield
            return
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            handle = os.open(self._path(identity) + ".lock", os.O_CREAT | os.O_RDWR, 0o600)
        except OSError:
            yield
            return
        try:
            _lock_for_a_while(handle, REFRESH_LOCK_WAIT)
            yield
        finally:
            os.close(handle)


def _lock_for_a_while(handle: int, seconds: float) -> bool:
    """Try for ``seconds`` to take the exclusive lock on ``handle``; False when it stayed taken.

    The refresh lock only saves duplicate refreshes, so a holder that never lets go (a stuck process, or one
    stopped with SIGSTOP) must not hold every other worker's API calls: past the wait the refresh goes ahead
    without the lock, which costs one more call to the credential source, nothing else.
    """
    deadline = time.monotonic() + seconds
    pause = 0.01
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            if time.monotonic() >= deadline:
                return False
        time.sleep(pause)
        pause = min(0.2, pause * 1.5)
