"""OOS parameter store (``2019-06-01``): plain (``CreateParameter`` …) and secret (``CreateSecretParameter`` …)
parameters, and the agent-side reads of ``{{oos:NAME}}`` / ``{{oos-secret:NAME}}`` through the instances' RAM role.

Facts from the public OOS API pages: names are 1..180 characters of letters, digits, ``-``, ``_`` (and ``/`` ⚠ the
secret parameter page lists no ``/``; the emulator accepts it for both), and may not start with ``ALIYUN``, ``ACS``,
``ALIBABA``, ``ALICLOUD`` or ``OOS``; values are up to 4,096 characters; descriptions up to 200. Plain and secret
parameters are separate namespaces. ⚠ Error codes and HTTP statuses of refusals are inferred, not observed.

Access rule (the emulator's stand-in for RAM, documented in docs/emulator.md): the instances run with the fleet's
``instance_role`` (the role the metadata service serves); its ``allow`` list names the RAM actions the role holds
(``oos:GetParameter``, ``oos:GetSecretParameter``, or ``oos:*``). No ``instance_role`` → the agent cannot get a role
name; an action not in ``allow`` → the call is refused with ``Forbidden.RAM`` naming the action.

Secret values are kept XOR-masked with a random key held in the state database, so a plain scan of ``state.db``
does not find them (the service keeps them in KMS); this is masking, not protection.
"""
from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from typing import TYPE_CHECKING, Any

from ..agent import ParameterFailure
from ..clock import iso_seconds
from ..errors import ApiError
from ..pagination import token_page
from ..protocol import Params

if TYPE_CHECKING:
    from ..handler_context import Services

NAME = re.compile(r"^[A-Za-z0-9_/-]{1,180}$")
RESERVED = ("ALIYUN", "ACS", "ALIBABA", "ALICLOUD", "OOS")
MAX_VALUE = 4096
PLAIN, SECRET = "plain", "secret"


def not_found(name: str) -> ApiError:
    """Unknown parameter (⚠ code and status inferred from the template errors' pattern)."""
    return ApiError("EntityNotExists.Parameter", f"The specified parameter {name} does not exist.", 404)


def _mask(emu: Services, data: bytes) -> bytes:
    """XOR with a keystream from the state database's key: the same call masks and unmasks."""
    emu.store.execute("CREATE TABLE IF NOT EXISTS parameter_key (id INTEGER PRIMARY KEY CHECK (id = 1), key TEXT)")
    emu.store.execute("INSERT OR IGNORE INTO parameter_key(id, key) VALUES (1, ?)", (secrets.token_hex(32),))
    row = emu.store.one("SELECT key FROM parameter_key WHERE id=1")
    assert row is not None
    key = bytes.fromhex(row["key"])
    stream = b"".join(hashlib.sha256(key + n.to_bytes(4, "big")).digest() for n in range(len(data) // 32 + 1))
    return bytes(a ^ b for a, b in zip(data, stream))


def check_name(name: str) -> str:
    """Name rules of the Create* actions."""
    if not NAME.match(name) or name.upper().startswith(RESERVED):
        raise ApiError("InvalidParameter.Name", f'The specified parameter "Name" is not valid: {name[:200]}')
    return name


def check_value(value: str) -> str:
    """Value: 1..4,096 characters."""
    if not value or len(value) > MAX_VALUE:
        raise ApiError("InvalidParameter.Value", 'The specified parameter "Value" is not valid (1..4096 characters).')
    return value


def _tags(p: Params) -> dict[str, str] | None:
    error = ApiError("InvalidParameter.Tags", 'The specified parameter "Tags" is not valid.')
    value = p.json("Tags", dict, error)
    if value is None:
        return None
    if len(value) > 20:
        raise error
    return {str(k): str(v) for k, v in value.items()}


def _description(p: Params) -> str | None:
    value = p.get("Description")
    if value is not None and len(value) > 200:
        raise ApiError("InvalidParameter.Description", 'The specified parameter "Description" is not valid.')
    return value


def load(emu: Services, region: str, kind: str, name: str) -> dict[str, Any]:
    """A stored parameter or EntityNotExists.Parameter."""
    row = emu.store.one("SELECT data FROM parameters WHERE region=? AND kind=? AND name=?", (region, kind, name))
    if row is None:
        raise not_found(name)
    return json.loads(row["data"])


def _save(emu: Services, region: str, kind: str, item: dict[str, Any]) -> None:
    emu.store.execute("UPDATE parameters SET data=? WHERE region=? AND kind=? AND name=?",
                      (json.dumps(item), region, kind, item["name"]))


def value_of(emu: Services, kind: str, item: dict[str, Any]) -> str:
    """The clear value of a stored item."""
    if kind == SECRET:
        return _mask(emu, bytes.fromhex(item["value"])).decode("utf-8")
    return str(item["value"])


def render(emu: Services, region: str, kind: str, item: dict[str, Any], value: str | None = None) -> dict[str, Any]:
    """One ``Parameter`` object; ``Value`` only for the Get actions."""
    key = f"{region}/{kind}/{item['name']}"  # built apart: a quote nested in an f-string needs Python 3.12
    out = {"Id": f"p-{hashlib.sha256(key.encode()).hexdigest()[:32]}",
           "Name": item["name"], "Type": item["type"], "Description": item["description"],
           "ParameterVersion": item["version"], "ShareType": "Private", "CreatedBy": "emulator",
           "UpdatedBy": "emulator", "CreatedDate": iso_seconds(item["created"]),
           "UpdatedDate": iso_seconds(item["updated"]), "Constraints": item.get("constraints", ""),
           "Tags": item["tags"], "ResourceGroupId": item.get("resource_group", "")}
    if kind == SECRET:
        out["KeyId"] = item.get("key_id", "")
    if value is not None:
        out["Value"] = value
    return out


def _create(emu: Services, p: Params, kind: str) -> dict[str, Any]:
    region = emu.region(p)
    name = check_name(p.require("Name"))
    value = check_value(p.require("Value"))
    ptype = p.get("Type") or ("Secret" if kind == SECRET else "String")
    if ptype not in (("Secret",) if kind == SECRET else ("String", "StringList")):
        raise ApiError("InvalidParameter.Type", 'The specified parameter "Type" is not valid.')
    if emu.store.one("SELECT 1 AS x FROM parameters WHERE region=? AND kind=? AND name=?", (region, kind, name)):
        raise ApiError("EntityAlreadyExists.Parameter", f"The parameter {name} already exists.")  # ⚠ inferred
    now = time.time()
    item = {"name": name, "type": ptype, "description": _description(p) or "", "version": 1, "created": now,
            "updated": now, "tags": _tags(p) or {}, "constraints": p.get("Constraints") or "",
            "resource_group": p.get("ResourceGroupId") or "", "key_id": p.get("KeyId") or "",
            "value": _mask(emu, value.encode()).hex() if kind == SECRET else value}
    emu.store.execute("INSERT INTO parameters(region, kind, name, data) VALUES (?,?,?,?)",
                      (region, kind, name, json.dumps(item)))
    return {"Parameter": render(emu, region, kind, item)}


def _update(emu: Services, p: Params, kind: str) -> dict[str, Any]:
    """New value → next ParameterVersion; Description/Tags replaced when given."""
    region = emu.region(p)
    item = load(emu, region, kind, p.require("Name"))
    if p.get("Value") is not None:
        value = check_value(p.require("Value"))
        item["value"] = _mask(emu, value.encode()).hex() if kind == SECRET else value
        item["version"] += 1
    description, tags = _description(p), _tags(p)
    if description is not None:
        item["description"] = description
    if tags is not None:
        item["tags"] = tags
    item["updated"] = time.time()
    _save(emu, region, kind, item)
    return {"Parameter": render(emu, region, kind, item)}


def _delete(emu: Services, p: Params, kind: str) -> dict[str, Any]:
    region = emu.region(p)
    name = p.require("Name")
    if not emu.store.execute("DELETE FROM parameters WHERE region=? AND kind=? AND name=?", (region, kind, name)):
        raise not_found(name)
    return {}


def _shown_value(emu: Services, kind: str, item: dict[str, Any], decrypt: bool) -> str:
    """Secret values without WithDecryption=true come back masked (⚠ the service returns KMS ciphertext)."""
    if kind == SECRET and not decrypt:
        return str(item["value"])
    return value_of(emu, kind, item)


def _get(emu: Services, p: Params, kind: str) -> dict[str, Any]:
    region = emu.region(p)
    item = load(emu, region, kind, p.require("Name"))
    if p.integer("ParameterVersion", None) not in (None, item["version"]):
        raise ApiError("EntityNotExists.ParameterVersion", "The specified parameter version does not exist.", 404)
    value = _shown_value(emu, kind, item, p.boolean("WithDecryption"))
    return {"Parameter": render(emu, region, kind, item, value)}


def _names(p: Params) -> list[str]:
    try:
        names = json.loads(p.require("Names"))
    except ValueError:
        names = None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names) or not 1 <= len(names) <= 20:
        raise ApiError("InvalidParameter.Names", 'The specified parameter "Names" is not valid.')
    return names


def _get_many(emu: Services, p: Params, kind: str) -> dict[str, Any]:
    """Names (JSON list, ≤20 ⚠): found ones in Parameters, the others in InvalidParameters."""
    region = emu.region(p)
    found, invalid = [], []
    for name in _names(p):
        try:
            item = load(emu, region, kind, name)
        except ApiError:
            invalid.append(name)
            continue
        found.append(render(emu, region, kind, item, _shown_value(emu, kind, item, p.boolean("WithDecryption"))))
    return {"Parameters": found, "InvalidParameters": invalid}


def _list(emu: Services, p: Params, kind: str) -> dict[str, Any]:
    """Name (substring ⚠), MaxResults 1..100 (default 50), NextToken; values never listed."""
    region = emu.region(p)
    rows = emu.store.query("SELECT data FROM parameters WHERE region=? AND kind=? ORDER BY seq", (region, kind))
    items = [json.loads(r["data"]) for r in rows]
    items = [i for i in items if not p.get("Name") or p.get("Name", "") in i["name"]]
    size = p.integer("MaxResults", 50) or 50
    if not 1 <= size <= 100:
        raise ApiError("InvalidParameter.MaxResults", 'The specified parameter "MaxResults" is not valid.')
    page, next_token = token_page(items, p, size)
    return {"Parameters": [render(emu, region, kind, i) for i in page], "MaxResults": size,
            "TotalCount": len(items), "NextToken": next_token}


def create_parameter(emu: Services, p: Params) -> dict[str, Any]:
    """CreateParameter: Name, Value, Type (String/StringList), Description, Tags, Constraints."""
    return _create(emu, p, PLAIN)


def create_secret_parameter(emu: Services, p: Params) -> dict[str, Any]:
    """CreateSecretParameter: as CreateParameter, Type Secret, optional KeyId."""
    return _create(emu, p, SECRET)


def update_parameter(emu: Services, p: Params) -> dict[str, Any]:
    """UpdateParameter."""
    return _update(emu, p, PLAIN)


def update_secret_parameter(emu: Services, p: Params) -> dict[str, Any]:
    """UpdateSecretParameter."""
    return _update(emu, p, SECRET)


def delete_parameter(emu: Services, p: Params) -> dict[str, Any]:
    """DeleteParameter."""
    return _delete(emu, p, PLAIN)


def delete_secret_parameter(emu: Services, p: Params) -> dict[str, Any]:
    """DeleteSecretParameter."""
    return _delete(emu, p, SECRET)


def get_parameter(emu: Services, p: Params) -> dict[str, Any]:
    """GetParameter: the parameter with its Value."""
    return _get(emu, p, PLAIN)


def get_secret_parameter(emu: Services, p: Params) -> dict[str, Any]:
    """GetSecretParameter: Value in clear only with WithDecryption=true."""
    return _get(emu, p, SECRET)


def get_parameters(emu: Services, p: Params) -> dict[str, Any]:
    """GetParameters."""
    return _get_many(emu, p, PLAIN)


def get_secret_parameters(emu: Services, p: Params) -> dict[str, Any]:
    """GetSecretParameters."""
    return _get_many(emu, p, SECRET)


def list_parameters(emu: Services, p: Params) -> dict[str, Any]:
    """ListParameters."""
    return _list(emu, p, PLAIN)


def list_secret_parameters(emu: Services, p: Params) -> dict[str, Any]:
    """ListSecretParameters."""
    return _list(emu, p, SECRET)


# --- the agent's side -------------------------------------------------------------------------------------------
# The agent's pattern (agent/util/paramstore/resolveparamstore.go): ``oos`` or ``oos-secret``, spaces around ":",
# names of word characters, "-" and "."; the first match is replaced and the search starts again, so a value that
# holds a reference is resolved in turn.
REFERENCE = re.compile(r"\{\{\s*(oos-secret|oos)\s*:\s*([A-Za-z0-9_.-]+)\s*\}\}")
MAX_ROUNDS = 100  # the agent loops without a bound; a self-referencing value must not hang the emulator


def _agent_read(emu: Services, region: str, kind: str, name: str) -> str:
    """One read as the agent's GetParameter/GetSecretParameter through the instances' role."""
    role = emu.fleet.instance_role
    if role is None:
        raise ParameterFailure("RoleNameFailed", "Get role name failed: the instance has no RAM role.")
    action = "oos:GetSecretParameter" if kind == SECRET else "oos:GetParameter"
    verb = "Get secret parameter" if kind == SECRET else "Get parameter"
    allowed = [str(a) for a in role.get("allow") or []]
    if action not in allowed and "oos:*" not in allowed:
        raise ParameterFailure("ParameterFailed", (
            f"{verb} '{name}' with ecs ram role {role['name']} failed: Forbidden.RAM: the RAM role "
            f"{role['name']} is not authorized to perform {action}."))
    try:
        return value_of(emu, kind, load(emu, region, kind, name))
    except ApiError as exc:
        raise ParameterFailure("ParameterFailed", f"{verb} '{name}' with ecs ram role {role['name']} failed: "
                                                  f"{exc.code}: {exc.message}") from None


def resolve(emu: Services, region: str, content: bytes) -> tuple[bytes, bool]:
    """(content with every reference replaced, whether it named an ``oos-secret`` — then the agent deletes its
    script copy after the run); ParameterFailure when a read fails."""
    text = content.decode("utf-8", errors="surrogateescape")
    secret = "oos-secret" in text
    for _round in range(MAX_ROUNDS):
        match = REFERENCE.search(text)
        if match is None:
            return text.encode("utf-8", errors="surrogateescape"), secret
        kind = SECRET if match.group(1) == "oos-secret" else PLAIN
        value = _agent_read(emu, region, kind, match.group(2))
        text = text[:match.start()] + value + text[match.end():]
    raise ParameterFailure("ParameterFailed", "Parameter references nest deeper than the emulator follows.")
