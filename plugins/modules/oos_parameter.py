#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Create, update or delete an OOS parameter (plain or secret), compared by value without ever showing it."""

from __future__ import annotations

DOCUMENTATION = r"""
module: oos_parameter
short_description: Manage an OOS parameter or secret parameter
version_added: 0.1.0
description:
  - Creates, updates or deletes a parameter of the OOS parameter store of a region (CreateParameter,
    UpdateParameter, DeleteParameter), or a KMS-encrypted secret parameter (CreateSecretParameter,
    UpdateSecretParameter, DeleteSecretParameter) with O(type=Secret).
  - Plain and secret parameters are separate namespaces; O(type) says which one O(name) is looked up in.
  - Idempotent. The current value is read (a secret one decrypted, GetSecretParameter with C(WithDecryption)) and
    compared; only a different value, description or tag set makes an update, and each new value a new
    parameter version.
  - The value is never returned, logged or shown in a diff (O(value) is C(no_log)); the diff shows whether it
    changes.
  - Commands reach the value with C({{oos:NAME}}) or C({{oos-secret:NAME}}) and C(EnableParameter); the Cloud
    Assistant agent reads it through the instance's RAM role (see docs/security.md).
author:
  - alicloud.ecs maintainers (@alicloud-ecs)
options:
  name:
    description:
      - Parameter name, 1 to 180 letters, digits, C(-), C(_) or C(/).
      - Names starting with C(ALIYUN), C(ACS), C(ALIBABA), C(ALICLOUD) or C(OOS) (in any case) are reserved.
      - A name that commands reference as C({{oos:NAME}}) must keep to letters, digits, C(_), C(-) and C(.)
        (the agent's pattern).
    type: str
    required: true
  value:
    description:
      - The value, 1 to 4096 characters. Required with O(state=present).
      - For O(type=StringList), items separated by commas.
    type: str
  type:
    description:
      - V(String) or V(StringList) for a plain parameter, V(Secret) for a KMS-encrypted one.
      - The type of an existing parameter cannot be changed in place; delete it first.
    type: str
    choices: [String, StringList, Secret]
    default: String
  description:
    description:
      - Description, up to 200 characters. Left alone when omitted.
    type: str
  tags:
    description:
      - Tags of the parameter. When given, they replace its tags; when omitted, tags are left alone.
    type: dict
  key_id:
    description:
      - KMS key id that encrypts a secret parameter when it is created (the account's default key when omitted).
      - Only with O(type=Secret); an existing parameter keeps its key.
    type: str
  state:
    description:
      - V(present) creates or updates the parameter, V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - alicloud.ecs.api
  - alicloud.ecs.api.modules
attributes:
  check_mode:
    support: full
    description: Reports what would change without calling the Create, Update or Delete actions.
  diff_mode:
    support: full
    description:
      - Shows the type, description and tags before and after; the value only as hidden, and whether it changes.
notes:
  - RAM actions, by O(type) (C(Secret) ones in brackets) - C(oos:GetParameter) (C(oos:GetSecretParameter)),
    C(oos:CreateParameter) (C(oos:CreateSecretParameter)), C(oos:UpdateParameter) (C(oos:UpdateSecretParameter)),
    C(oos:DeleteParameter) (C(oos:DeleteSecretParameter)); secret ones also need the KMS key's permissions.
    See docs/permissions.md.
"""

EXAMPLES = r"""
- name: A setting commands read as {{oos:app-release}}
  alicloud.ecs.oos_parameter:
    name: app-release
    value: "2024.06.1"
    description: Release the web tier deploys
    tags:
      team: web
  delegate_to: localhost

- name: A database password commands read as {{oos-secret:db-password}}
  alicloud.ecs.oos_parameter:
    name: db-password
    type: Secret
    value: "{{ vault_db_password }}"
  delegate_to: localhost

- name: Use it on an instance (its RAM role must allow oos:GetSecretParameter); the agent fills it in
  alicloud.ecs.invocation:
    instance_ids: [i-bp1hsglsw6t0lrzjhgxa]
    content: "mysql --password='{{ '{{' }}oos-secret:db-password{{ '}}' }}' -e 'select 1'"
  delegate_to: localhost

- name: Gone
  alicloud.ecs.oos_parameter:
    name: db-password
    type: Secret
    state: absent
  delegate_to: localhost
"""

RETURN = r"""
parameter:
  description: The parameter after the task, without its value; empty after O(state=absent).
  returned: always
  type: dict
  contains:
    name:
      description: Parameter name.
      type: str
    id:
      description: Parameter id.
      type: str
    type:
      description: V(String), V(StringList) or V(Secret).
      type: str
    description:
      description: Description.
      type: str
    version:
      description: Parameter version, 1 when created; each new value adds one.
      type: int
      sample: 2
    tags:
      description: Tags.
      type: dict
    key_id:
      description: KMS key id of a secret parameter (empty for the account's default key or a plain one).
      type: str
    created:
      description: Creation time, ISO 8601 UTC.
      type: str
    updated:
      description: Last update time, ISO 8601 UTC.
      type: str
"""

import typing as t

from ansible_collections.alicloud.ecs.plugins.module_utils.engine.oos_parameters import (
    MAX_DESCRIPTION, check_name, check_value, create, delete, get, update,
)
from ansible_collections.alicloud.ecs.plugins.module_utils.services.cloud_module import CloudModule
from ansible_collections.alicloud.ecs.plugins.module_utils.services.resource_state import (
    STATE_OPTION, api_tags, converge,
)

HIDDEN = "(hidden)"
HIDDEN_CHANGED = "(hidden, changed)"


def check(params: dict[str, t.Any]) -> None:
    """Every local rule, naming the option, before any API call."""
    check_name(params["name"])
    if params["state"] == "present":
        if params["value"] is None:
            raise ValueError("value is required with state=present")
        check_value(params["value"])
    if params["description"] is not None and len(params["description"]) > MAX_DESCRIPTION:
        raise ValueError(f"description must be at most {MAX_DESCRIPTION} characters")
    if params["key_id"] is not None and params["type"] != "Secret":
        raise ValueError("key_id applies only to type=Secret")


def shown(item: dict[str, t.Any] | None) -> dict[str, t.Any]:
    """The returned ``parameter``: what the service says about it, never its value."""
    if not item:
        return {}
    return {"name": item.get("Name", ""), "id": item.get("Id", ""), "type": item.get("Type", ""),
            "description": item.get("Description", ""), "version": item.get("ParameterVersion"),
            "tags": dict(item.get("Tags") or {}), "key_id": item.get("KeyId", ""),
            "created": item.get("CreatedDate", ""), "updated": item.get("UpdatedDate", "")}


def changes(current: dict[str, t.Any], params: dict[str, t.Any]) -> dict[str, t.Any]:
    """What an update must send (Value, Description, Tags), only what differs."""
    out: dict[str, t.Any] = {}
    if current.get("Value") != params["value"]:
        out["value"] = params["value"]
    if params["description"] is not None and params["description"] != current.get("Description", ""):
        out["description"] = params["description"]
    tags = api_tags(params["tags"])
    if tags is not None and tags != dict(current.get("Tags") or {}):
        out["tags"] = tags
    return out


def apply(module: CloudModule, current: dict[str, t.Any] | None) -> tuple[dict[str, t.Any], dict[str, t.Any]]:
    """Make the parameter match; (result, what changed)."""
    params, client = module.params, module.client
    secret, name = params["type"] == "Secret", params["name"]
    if params["state"] == "absent":
        if current and not module.check_mode:
            delete(client, secret, name)
        return {"changed": current is not None, "parameter": {}}, {}
    if current is not None and current.get("Type") != params["type"]:
        raise ValueError(f"parameter {name} is of type {current.get('Type')}, not {params['type']}: "
                         "the type cannot change in place, delete it first")
    delta = changes(current, params) if current else {"value": params["value"]}
    if not delta:
        return {"changed": False, "parameter": shown(current)}, delta
    if module.check_mode:
        planned = dict(current or {"Name": name, "Type": params["type"]})
        planned.update({"Description": delta.get("description", planned.get("Description", "")),
                        "Tags": delta.get("tags", planned.get("Tags", {}))})
        return {"changed": True, "parameter": shown(planned)}, delta
    if current is None:
        extra = {"key_id": params["key_id"]} if secret else {}
        create(client, secret, name, params["value"], description=params["description"],
               tags=api_tags(params["tags"]), **extra)
    else:
        update(client, secret, name, **delta)
    return {"changed": True, "parameter": shown(get(client, secret, name, with_value=False))}, delta


def diff(params: dict[str, t.Any], current: dict[str, t.Any] | None, result: dict[str, t.Any],
         delta: dict[str, t.Any]) -> dict[str, t.Any]:
    """Before and after without the value: it shows as hidden, and as changed when it changes."""
    def side(item: dict[str, t.Any], value: str) -> dict[str, t.Any]:
        return {key: item.get(key) for key in ("type", "description", "tags")} | {"value": value} if item else {}
    marker = HIDDEN_CHANGED if current and "value" in delta else HIDDEN
    return {"before": side(shown(current), HIDDEN), "after": side(result["parameter"], marker),
            "before_header": params["name"], "after_header": params["name"]}


def main() -> None:
    module = CloudModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "value": {"type": "str", "no_log": True},
            "type": {"type": "str", "choices": ["String", "StringList", "Secret"], "default": "String"},
            "description": {"type": "str"},
            "tags": {"type": "dict"},
            "key_id": {"type": "str"},
            "state": STATE_OPTION,
        },
        supports_check_mode=True,
    )
    params = module.params
    secret = params["type"] == "Secret"
    converge(module, prepare=lambda: check(params),
             read=lambda: get(module.client, secret, params["name"], with_value=params["state"] == "present"),
             apply=lambda current, _checked: apply(module, current),
             diff=lambda current, _checked, result, delta: diff(params, current, result, delta))


if __name__ == "__main__":
    main()
