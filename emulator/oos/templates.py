"""OOS templates (``2019-06-01``): CreateTemplate, UpdateTemplate, DeleteTemplate, GetTemplate, ListTemplates, and
the public ``ACS-ECS-BulkyRunCommand`` (docs/api-contract.md#oos), the only template the emulator can execute."""
from __future__ import annotations

import hashlib
import json
import re
import time
from typing import TYPE_CHECKING, Any

import yaml

from ..clock import iso_seconds
from ..errors import ApiError
from ..pagination import token_page
from ..protocol import Params

if TYPE_CHECKING:
    from ..handler_context import Services

BULKY = "ACS-ECS-BulkyRunCommand"
NAME = re.compile(r"^[A-Za-z0-9_-]{1,200}$")
BULKY_CONTENT = {
    "FormatVersion": "OOS-2019-06-01", "Description": "Bulky run command on ECS instances.",
    "Parameters": {
        "regionId": {"Type": "String", "Default": "{{ ACS::RegionId }}"},
        "resourceType": {"Type": "String", "Default": "ALIYUN::ECS::Instance"},
        "targets": {"Type": "Json"},
        "commandType": {"Type": "String", "Default": "RunShellScript",
                        "AllowedValues": ["RunShellScript", "RunPythonScript", "RunPerlScript", "RunBatScript",
                                          "RunPowerShellScript"]},
        "commandContent": {"Type": "String", "MaxLength": 16384},
        "workingDir": {"Type": "String", "Default": ""}, "timeout": {"Type": "Number", "Default": 600},
        "enableParameter": {"Type": "Boolean", "Default": False}, "username": {"Type": "String", "Default": ""},
        "windowsPasswordName": {"Type": "String", "Default": ""},
        "rateControl": {"Type": "Json", "Default": {"Mode": "Concurrency", "MaxErrors": 0, "Concurrency": 10}},
        "OOSAssumeRole": {"Type": "String", "Default": ""}},
    "Tasks": [{"Name": "getInstance", "Action": "ACS::SelectTargets"},
              {"Name": "runCommand", "Action": "ACS::ECS::RunCommand"}],
    "Outputs": {"commandOutputs": {"Type": "List", "Value": "{{ runCommand.commandOutputs }}"}}}


def not_found() -> ApiError:
    """Unknown template (⚠ HTTP status inferred)."""
    return ApiError("EntityNotExists.Template", "The specified template does not exist.", 404)


def public_template() -> dict[str, Any]:
    """The built-in public template as a stored-template record."""
    content = json.dumps(BULKY_CONTENT, indent=2)
    return {"name": BULKY, "content": content, "version": "v10", "format": "JSON", "share": "Public",
            "description": BULKY_CONTENT["Description"], "created": 1704067200.0, "updated": 1704067200.0,
            "tags": {}, "versions": {"v10": content}}


def parse_content(text: str) -> tuple[dict[str, Any], str]:
    """Template body (JSON or YAML) → (document, format); anything else → InvalidTemplate."""
    try:
        doc = json.loads(text)
        fmt = "JSON"
    except ValueError:
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError:
            doc = None
        fmt = "YAML"
    if not isinstance(doc, dict) or "FormatVersion" not in doc:
        raise ApiError("InvalidTemplate", "The template is invalid: FormatVersion is required.")
    return doc, fmt


def load(emu: Services, region: str, name: str) -> dict[str, Any]:
    """A template by name: the public one, or one of the region's own."""
    if name == BULKY:
        return public_template()
    row = emu.store.one("SELECT data FROM templates WHERE region=? AND name=?", (region, name))
    if row is None:
        raise not_found()
    return json.loads(row["data"])


def render(t: dict[str, Any], region: str) -> dict[str, Any]:
    """One ``Template`` object."""
    return {"TemplateId": f"t-{hashlib.sha256((region + t['name']).encode()).hexdigest()[:20]}",
            "TemplateName": t["name"], "TemplateVersion": t["version"], "Description": t["description"],
            "Hash": hashlib.sha256(t["content"].encode()).hexdigest(), "ShareType": t["share"],
            "TemplateFormat": t["format"], "TemplateType": "Automation", "CreatedBy": "emulator",
            "UpdatedBy": "emulator", "CreatedDate": iso_seconds(t["created"]), "UpdatedDate": iso_seconds(t["updated"]),
            "Tags": t["tags"], "ResourceGroupId": "", "HasTrigger": False, "Category": ""}


def _tags(p: Params) -> dict[str, str]:
    value = p.json("Tags", dict, ApiError("InvalidParameter", 'The specified parameter "Tags" is not valid.'))
    return {} if value is None else {str(k): str(v) for k, v in value.items()}


def create_template(emu: Services, p: Params) -> dict[str, Any]:
    """CreateTemplate: a private template, version v1 (names starting ``ACS-``/``ALIYUN`` are reserved)."""
    region = emu.region(p)
    name = p.require("TemplateName")
    if not NAME.match(name) or name.upper().startswith(("ACS-", "ALIYUN")):
        raise ApiError("InvalidParameter", 'The specified parameter "TemplateName" is not valid.')
    content = p.require("Content")
    doc, fmt = parse_content(content)
    if emu.store.one("SELECT 1 AS x FROM templates WHERE region=? AND name=?", (region, name)):
        raise ApiError("EntityAlreadyExists.Template", "The template already exists.")  # ⚠ status inferred
    now = time.time()
    t = {"name": name, "content": content, "version": "v1", "format": fmt, "share": "Private",
         "description": str(doc.get("Description", "")), "created": now, "updated": now, "tags": _tags(p),
         "versions": {"v1": content}}
    emu.store.execute("INSERT INTO templates(region, name, data) VALUES (?,?,?)", (region, name, json.dumps(t)))
    return {"Template": render(t, region)}


def update_template(emu: Services, p: Params) -> dict[str, Any]:
    """UpdateTemplate: new content → next version (v2, v3 …); tags replaced when given."""
    region = emu.region(p)
    t = load(emu, region, p.require("TemplateName"))
    if t["share"] == "Public":
        raise ApiError("Forbidden", "A public template cannot be modified.", 403)
    if p.get("Content") is not None:
        doc, t["format"] = parse_content(p.require("Content"))
        t["content"], t["description"] = p.require("Content"), str(doc.get("Description", ""))
        t["version"] = f"v{len(t['versions']) + 1}"
        t["versions"][t["version"]] = t["content"]
    if p.get("Tags") is not None:
        t["tags"] = _tags(p)
    t["updated"] = time.time()
    emu.store.execute("UPDATE templates SET data=? WHERE region=? AND name=?", (json.dumps(t), region, t["name"]))
    return {"Template": render(t, region)}


def delete_template(emu: Services, p: Params) -> dict[str, Any]:
    """DeleteTemplate."""
    region = emu.region(p)
    if not emu.store.execute("DELETE FROM templates WHERE region=? AND name=?", (region, p.require("TemplateName"))):
        raise not_found()
    return {}


def get_template(emu: Services, p: Params) -> dict[str, Any]:
    """GetTemplate: metadata plus ``Content`` of the latest or the asked ``TemplateVersion``."""
    region = emu.region(p)
    t = load(emu, region, p.require("TemplateName"))
    version = p.get("TemplateVersion") or t["version"]
    if version not in t["versions"]:
        raise ApiError("EntityNotExists.TemplateVersion", "The specified template version does not exist.", 404)
    return {"Template": render(t, region) | {"TemplateVersion": version}, "Content": t["versions"][version]}


def list_templates(emu: Services, p: Params) -> dict[str, Any]:
    """ListTemplates: own templates and the public one; TemplateName (substring), ShareType; MaxResults/NextToken."""
    region = emu.region(p)
    rows = emu.store.query("SELECT data FROM templates WHERE region=? ORDER BY seq", (region,))
    own = [json.loads(r["data"]) for r in rows]
    items = [t for t in [*own, public_template()]
             if (not p.get("TemplateName") or p.get("TemplateName", "") in t["name"])
             and (not p.get("ShareType") or t["share"] == p.get("ShareType"))]
    size = p.integer("MaxResults", 50) or 50
    if not 1 <= size <= 100:
        raise ApiError("InvalidParameter", 'The specified parameter "MaxResults" is not valid.')
    page, next_token = token_page(items, p, size)
    return {"Templates": [render(t, region) for t in page], "MaxResults": size, "NextToken": next_token}
