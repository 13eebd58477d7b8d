"""Request checks shared by the Cloud Assistant actions (limits and codes of docs/api-contract.md#runcommand, #sendfile, #command-parameters)."""
from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from ..config import Options
from ..errors import ApiError, invalid
from ..protocol import Params

PARAM = re.compile(r"\{\{\s*([A-Za-z0-9_:-]+)\s*\}\}")
# Placeholders the agent resolves on the instance: built-ins and parameter-store references (no value sent).
AGENT_RESOLVED = ("ACS::", "oos:", "oos-secret:")


def decode_content(raw: str, base64_encoded: bool, code: str, message: str) -> tuple[bytes, str]:
    """(bytes, Base64 form): limits are measured on the Base64 form whatever the encoding sent."""
    if not base64_encoded:
        data = raw.encode("utf-8")
        return data, base64.b64encode(data).decode()
    try:
        return base64.b64decode(raw, validate=True), raw
    except (binascii.Error, ValueError):
        raise ApiError(code, message) from None


def max_len(p: Params, name: str, limit: int, code: str, message: str, status: int = 403) -> str:
    """Optional string parameter with a length limit."""
    value = p.get(name, "") or ""
    if len(value) > limit:
        raise ApiError(code, message, status)
    return value


def instance_ids(p: Params, limit: int) -> list[str]:
    """InstanceId.N, deduplicated, 1..limit (MissingParam.InstanceId / InstanceIds.ExceedLimit)."""
    ids = list(dict.fromkeys(p.repeat("InstanceId")))
    if not ids:
        raise ApiError("MissingParam.InstanceId", "The parameter instanceId is missing or empty.")
    if len(ids) > limit:
        raise ApiError("InstanceIds.ExceedLimit", "The count of instance ids exceeds the limit.", 403)
    return ids


def timeout(p: Params, options: Options, floor: int) -> int:
    """Timeout in seconds; below ``floor`` it is raised (⚠ RunCommand floor configurable), out of range → 403,
    not an integer → the generic invalid-parameter error (InvalidTimeout.ExceedLimit is for the range only)."""
    value = p.integer("Timeout", 60)  # not a number: the generic InvalidParameter.Timeout (400), docs/api-contract.md#api-error-codes
    assert value is not None
    if value < 0 or value > options.max_timeout:
        raise ApiError("InvalidTimeout.ExceedLimit", "The specified timeout exceeds the limit.", 403)
    return max(value, floor)


def tags(p: Params) -> list[dict[str, str]]:
    """Tag.N.Key/Value of the task (≤20), rendered as TagKey/TagValue."""
    items = p.structs("Tag")
    if len(items) > 20:
        raise ApiError("NumberExceed.Tags", "The maximum number of tags is exceeded. Valid : 20")
    out = []
    for item in items:
        if not item.get("Key"):
            raise ApiError("MissingParameter.TagKey", 'The input parameter "Tag.N.Key" is not supplied.')
        out.append({"TagKey": item["Key"], "TagValue": item.get("Value", "")})
    return out


def parameters(p: Params, enabled: bool, content: bytes) -> dict[str, str]:
    """Parameters (JSON object, strictly parsed) checked against the ``{{name}}`` placeholders of the content."""
    raw = p.get("Parameters")
    names = {m.group(1) for m in PARAM.finditer(content.decode("utf-8", "replace"))
             if not m.group(1).startswith(AGENT_RESOLVED)} if enabled else set()
    if raw is None:
        values: Any = {}
    elif not enabled:
        raise ApiError("Parameter.Disabled", "The parameters can not be specified when EnableParameter is false.")
    else:
        try:
            values = json.loads(raw)
        except ValueError:
            values = None
        if not isinstance(values, dict):
            raise invalid("Parameters")
    if len(values) > 10:
        raise ApiError("ParameterCount.ExceedLimit", "The count of parameters exceeds the limit.", 403)
    for key, value in values.items():
        if not key or len(key) > 64:
            raise ApiError("ParameterKey.ExceedLimit", "The length of parameter key exceeds the limit.", 403)
        if not isinstance(value, str):
            raise ApiError("ParameterType.NotSupported", "The type of parameter value is not supported.", 403)
        if key not in names:
            raise ApiError("Parameter.NotMatched", f"The parameter {key} does not match the command.", 403)
    for name in names - values.keys():
        raise ApiError("Parameter.MissingValue", f"The value of parameter {name} is missing.")
    return values


def substitute(content: bytes, values: dict[str, str]) -> bytes:
    """Replace user ``{{name}}`` placeholders (built-in ``ACS::`` ones are resolved per instance by the agent)."""
    if not values:
        return content
    text = content.decode("utf-8", errors="surrogateescape")
    text = PARAM.sub(lambda m: values.get(m.group(1), m.group(0)), text)
    return text.encode("utf-8", errors="surrogateescape")


def client_token(p: Params) -> str | None:
    """ClientToken: ASCII, ≤64 chars."""
    value = p.get("ClientToken")
    if value is not None and (len(value) > 64 or not value.isascii()):
        raise ApiError("InvalidClientToken.Malformed", "The specified parameter ClientToken is not valid.")
    return value
