# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Credentials an inventory source was configured with, handed to the connection of the hosts it lists.

The inventory plugin runs in ansible's parent process and the connection in workers forked from it, so a
process-level registry reaches them in inherited memory. Hosts carry only the key into it, a non-secret
variable (the inventory file's path): keys, tokens and secrets never become host variables, which
``ansible-inventory --list`` would print.
"""

from __future__ import annotations

import typing as t

from ansible_collections.alicloud.ecs.plugins.module_utils.auth.credentials import CredentialProvider

HOSTVAR = "ansible_alicloud_credential_source"
_PROVIDERS: dict[str, CredentialProvider] = {}


def register(source: str, provider: CredentialProvider) -> None:
    """Remember the provider an inventory source resolved, under its non-secret name."""
    _PROVIDERS[source] = provider


def lookup(source: t.Any) -> CredentialProvider | None:
    """The provider registered under ``source`` in this process (or its parent), if any."""
    return _PROVIDERS.get(str(source)) if source else None
