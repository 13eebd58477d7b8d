# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The become password kept out of invocation records: ``become_password_store: oos_secret``.

Without it, the envelope carries the password (Base64) inside RunCommand's content, so whoever may read
invocations (DescribeInvocations, the console, auditors) can read it, and so can the agent's script copy. With it,
the password goes into an OOS secret parameter of the instance's region that lives only while one command runs;
the content carries ``{{oos-secret:NAME}}`` instead, and the agent on the instance, with EnableParameter=true,
replaces it through the instance's RAM role (GetSecretParameter with decryption) and deletes its script copy.

One parameter per command, not per play: ansible runs each task in a forked worker with no hook at the play's
end, so a play-wide secret could never be deleted reliably. The stored value is the Base64 of the password, as
the agent pastes the raw value into the script text (Base64 needs no quoting and the script decodes it, as it
does today). A controller killed mid-command leaves its parameter behind: names carry their expiry (command
timeout plus margin) after a fixed prefix, and each controller process prunes expired ones of the region once.
"""

from __future__ import annotations

import base64
import secrets
import time
import typing as t
import uuid
from contextlib import contextmanager

from ..api.client import CloudClient
from ..api.errors import CloudError
from ..engine.oos_parameters import check_value, create, delete, reference, secret_names

PREFIX = "ansible-become-"
# Error codes Cloud Assistant reports when its agent cannot resolve a parameter reference (its paramstore).
AGENT_PARAMETER_ERRORS = frozenset({"RoleNameFailed", "ParameterStoreNotAccessible", "ParameterFailed"})
INSTANCE_ROLE_HINT = (
    "become_password_store=oos_secret needs the instance's RAM role to allow oos:GetSecretParameter (and "
    "kms:Decrypt for the key that encrypts it); see docs/permissions.md")
Warn = t.Callable[[str], None]
_pruned: set[str] = set()  # regions (or endpoints) this process already pruned


def _expiry(name: str) -> int | None:
    """The expiry epoch a store name carries, None for a name of another shape."""
    stamp = name[len(PREFIX):].split("-", 1)[0] if name.startswith(PREFIX) else ""
    return int(stamp) if stamp.isdigit() else None


def prune(client: CloudClient, warn: Warn, now: float | None = None) -> list[str]:
    """Delete the store's secret parameters whose expiry has passed (a crashed controller's leftovers), once per
    process and region; returns the names deleted. A failure is a warning: the command itself can still run."""
    place = f"{client.settings.endpoint or ''}|{client.region}"
    if place in _pruned:
        return []
    _pruned.add(place)
    moment = time.time() if now is None else now
    gone = []
    try:
        for name in secret_names(client, PREFIX):
            expiry = _expiry(name)
            if expiry is not None and expiry < moment and delete(client, True, name):
                gone.append(name)
    except CloudError as error:
        warn(f"could not prune expired become secrets ({PREFIX}*) in {client.region}: {error}")
    return gone


@contextmanager
def stored_password(client: CloudClient, password: bytes, lifetime: float, warn: Warn) -> t.Iterator[str]:
    """Create a secret parameter holding Base64(``password``) for ``lifetime`` seconds and yield the reference
    to put in the script; the parameter is deleted when the block ends, however it ends."""
    value = check_value(base64.b64encode(password).decode("ascii"), "the Base64 of the become password")
    prune(client, warn)
    name = f"{PREFIX}{int(time.time() + lifetime)}-{secrets.token_hex(8)}"
    create(client, True, name, value, description="alicloud.ecs become password of one command",
           client_token=uuid.uuid4().hex)
    try:
        yield reference(name, secret=True)
    finally:
        try:
            delete(client, True, name)
        except CloudError as error:
            warn(f"could not delete the become secret {name} (it expires by name and the next run prunes it): "
                 f"{error}")


def instance_role_message(error_code: str, message: str) -> str:
    """The agent's failure to read the secret, with the permission the instance's role is missing."""
    if error_code in AGENT_PARAMETER_ERRORS:
        return f"{message}. {INSTANCE_ROLE_HINT}"
    return message
