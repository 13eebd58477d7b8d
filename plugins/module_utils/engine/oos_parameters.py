# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""OOS parameter store (2019-06-01) calls shared by the oos_parameter module and the connection's become password
store: the name and value rules checked before any call, and one read, write and delete per kind.

Plain parameters (``CreateParameter`` …) and secret ones (``CreateSecretParameter`` …, KMS-encrypted) are
separate namespaces of the same region. Values are never logged: the client traces actions, not parameters.
"""

from __future__ import annotations

import re
import typing as t

from ..api.client import CloudClient, Json
from ..api.errors import CloudError, is_error_code
from ..api.pagination import paginate

NAME = re.compile(r"^[A-Za-z0-9_/-]{1,180}$")
RESERVED = ("ALIYUN", "ACS", "ALIBABA", "ALICLOUD", "OOS")
MAX_VALUE = 4096
MAX_DESCRIPTION = 200
# A name Cloud Assistant's agent can substitute as {{oos:NAME}} / {{oos-secret:NAME}}: its pattern takes word
# characters, '-' and '.', so a hierarchical name with '/' is stored but never resolved on an instance.
REFERABLE = re.compile(r"^[A-Za-z0-9_.-]+$")


def check_name(name: str, option: str = "name") -> str:
    """1..180 letters, digits, '-', '_', '/'; the prefixes Alibaba Cloud reserves are refused, in any case."""
    if not NAME.match(name or ""):
        raise ValueError(f"{option} {name!r} must be 1 to 180 characters of letters, digits, '-', '_' and '/'")
    if name.upper().startswith(RESERVED):
        raise ValueError(f"{option} {name!r} is reserved: names may not start with {', '.join(RESERVED)}")
    return name


def check_value(value: str, option: str = "value") -> str:
    """1..4,096 characters (the text is never part of the message)."""
    if not value or len(value) > MAX_VALUE:
        raise ValueError(f"{option} must be 1 to {MAX_VALUE} characters long (got {len(value or '')})")
    return value


def reference(name: str, secret: bool) -> str:
    """The text Cloud Assistant's agent replaces by the value when a command has EnableParameter=true."""
    if not REFERABLE.match(name):
        raise ValueError(f"parameter {name!r} cannot be referenced in a command: use letters, digits, '_', '-', '.'")
    return f"{{{{oos-secret:{name}}}}}" if secret else f"{{{{oos:{name}}}}}"


def get(client: CloudClient, secret: bool, name: str, with_value: bool = True) -> dict[str, t.Any] | None:
    """The parameter (a secret's clear ``Value`` only when asked), or None when there is none of that name."""
    action = "GetSecretParameter" if secret else "GetParameter"
    extra = {"WithDecryption": True} if secret and with_value else {}
    try:
        return client.call(action, product="oos", Name=name, **extra).get("Parameter") or None
    except CloudError as error:
        if is_error_code(error, "EntityNotExists"):
            return None
        raise


def create(client: CloudClient, secret: bool, name: str, value: str, *, description: str | None = None,
           tags: t.Mapping[str, str] | None = None, key_id: str | None = None,
           client_token: str | None = None) -> dict[str, t.Any]:
    """Create*Parameter; the returned ``Parameter`` has no value."""
    action = "CreateSecretParameter" if secret else "CreateParameter"
    extra = {"KeyId": key_id} if secret else {}
    return client.call(action, product="oos", Name=name, Value=value, Description=description,
                       Tags=Json(dict(tags)) if tags else None, ClientToken=client_token, **extra)["Parameter"]


def update(client: CloudClient, secret: bool, name: str, *, value: str | None = None,
           description: str | None = None, tags: t.Mapping[str, str] | None = None) -> dict[str, t.Any]:
    """Update*Parameter: only what is given changes; a new value makes a new ParameterVersion."""
    action = "UpdateSecretParameter" if secret else "UpdateParameter"
    return client.call(action, product="oos", Name=name, Value=value, Description=description,
                       Tags=Json(dict(tags)) if tags is not None else None)["Parameter"]


def delete(client: CloudClient, secret: bool, name: str) -> bool:
    """Delete*Parameter; False when it was already gone."""
    action = "DeleteSecretParameter" if secret else "DeleteParameter"
    try:
        client.call(action, product="oos", Name=name)
    except CloudError as error:
        if is_error_code(error, "EntityNotExists"):
            return False
        raise
    return True


def secret_names(client: CloudClient, contains: str) -> list[str]:
    """Names of the region's secret parameters whose name contains ``contains`` (every page)."""
    items = paginate(client, "ListSecretParameters", lambda response: list(response.get("Parameters") or []), 100,
                     product="oos", Name=contains)
    return [str(item.get("Name")) for item in items if contains in str(item.get("Name"))]
