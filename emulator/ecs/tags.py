"""TagResources / ListTagResources for instances (the only taggable resource the emulator holds)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ApiError
from ..pagination import token_page
from ..protocol import Params

if TYPE_CHECKING:
    from ..handler_context import Services

RESOURCE_TYPES = ("instance", "disk", "snapshot", "image", "securitygroup", "volume", "eni", "ddh", "ddhcluster",
                  "keypair", "launchtemplate", "reservedinstance", "snapshotpolicy", "elasticityassurance",
                  "capacityreservation", "command", "invocation", "activation", "managedinstance")
PAGE = 50  # ⚠ ListTagResources page size is not a request parameter; 50 rows per page


def _resource_type(p: Params) -> str:
    value = p.get("ResourceType")
    if not value:
        raise ApiError("MissingParameter.ResourceType", 'The input parameter "ResourceType" that is mandatory for '
                       "processing this request is not supplied.", 404)
    if value.lower() not in RESOURCE_TYPES:
        raise ApiError("InvalidResourceType.NotFound", "The specified ResourceType is not found.", 404)
    return value.lower()


def _resource_ids(emu: Services, region: str, p: Params, kind: str, required: bool) -> list[str]:
    ids = list(dict.fromkeys(p.repeat("ResourceId")))
    if len(ids) > 50:
        raise ApiError("NumberExceed.ResourceIds", "The maximum number of ResourceIds is exceeded. Valid : 50")
    if required and not ids:
        raise ApiError("MissingParameter.ResourceIds", 'The input parameter "ResourceId" that is mandatory for '
                       "processing this request is not supplied.", 404)
    for rid in ids:
        inst = emu.instances.get(rid) if kind == "instance" else None
        if inst is None or inst["region"] != region:
            raise ApiError("InvalidResourceId.NotFound", "The specified ResourceIds are not found in our records.",
                           404)
    return ids


def _tags(p: Params, required: bool) -> list[dict[str, str]]:
    items = p.structs("Tag")
    if len(items) > 20:
        raise ApiError("NumberExceed.Tags", "The maximum number of Tags is exceeded. Valid : 20")
    if required and not items:
        raise ApiError("MissingParameter.Tags", 'The input parameter "Tags" that is mandatory for processing this '
                       "request is not supplied.", 404)
    keys = [t.get("Key", "") for t in items]
    if len(set(keys)) != len(keys):
        raise ApiError("Duplicate.TagKey", "The Tag.N.Key contain duplicate key.")
    for item in items:
        key = item.get("Key", "")
        if not key and item.get("Value") is not None:
            raise ApiError("InvalidParameter.TagValue", "The TagKey must be specified with the TagValue.")
        if not key or len(key) > 128 or key.startswith(("acs:", "aliyun")) or "://" in key:
            raise ApiError("InvalidTagKey.Malformed", "The specified Tag.n.Key is not valid.")
        if len(item.get("Value", "")) > 128 or "://" in item.get("Value", ""):
            raise ApiError("InvalidTagValue.Malformed", "The specified Tag.n.Value is not valid.")
    return items


def tag_resources(emu: Services, p: Params) -> dict[str, Any]:
    """TagResources: add or overwrite tags (at most 20 per resource: OperationDenied.QuotaExceed)."""
    region = emu.region(p)
    kind = _resource_type(p)
    ids = _resource_ids(emu, region, p, kind, True)
    tags = {t["Key"]: t.get("Value", "") for t in _tags(p, True)}
    for rid in ids:
        record = emu.instances.get(rid)
        if record is not None and len(record["tags"] | tags) > 20:
            raise ApiError("OperationDenied.QuotaExceed", "The quota of tags on resource is beyond permitted range.")

    def add(record: dict[str, Any]) -> None:
        record["tags"] = record["tags"] | tags
    for rid in ids:
        emu.instances.modify(rid, add)
    return {}


def list_tag_resources(emu: Services, p: Params) -> dict[str, Any]:
    """ListTagResources: one row per resource × tag, filtered by ResourceId.N and/or exact Tag.N."""
    region = emu.region(p)
    kind = _resource_type(p)
    ids = _resource_ids(emu, region, p, kind, False)
    wanted = _tags(p, False)
    if not ids and not wanted:
        raise ApiError("MissingParameter.ResourceIds", 'The input parameter "ResourceId" that is mandatory for '
                       "processing this request is not supplied.", 404)  # ⚠ one of the two is required
    rows = []
    for inst in emu.instances.in_region(region) if kind == "instance" else []:
        if ids and inst["id"] not in ids:
            continue
        if any(t["Key"] not in inst["tags"] or ("Value" in t and inst["tags"][t["Key"]] != t["Value"])
               for t in wanted):
            continue
        rows += [{"ResourceId": inst["id"], "ResourceType": kind, "TagKey": k, "TagValue": v}
                 for k, v in inst["tags"].items()]
    page, next_token = token_page(rows, p, PAGE)
    return {"TagResources": {"TagResource": page}, "NextToken": next_token}
