#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Create, update or delete an OOS template, compared by its parsed content."""

from __future__ import annotations

DOCUMENTATION = r"""
module: oos_template
short_description: Manage an OOS (Operation Orchestration Service) template
version_added: 0.1.0
description:
  - Creates, updates or deletes a private OOS template of a region (CreateTemplate, UpdateTemplate, DeleteTemplate).
  - The template is found by O(name). Its content is compared as data, not as text, so re-indenting a file or
    switching between JSON and YAML changes nothing; each real change makes a new template version.
  - The template's description is the C(Description) key of its content; OOS has no separate description field.
author:
  - alicloud.ecs maintainers (@alicloud-ecs)
options:
  name:
    description:
      - Template name, 1 to 200 letters, digits, C(_) or C(-).
      - Names starting with C(ACS-) or C(ALIYUN) are reserved for Alibaba Cloud's public templates.
    type: str
    required: true
    aliases: [template_name]
  content:
    description:
      - The template as a dict, or as JSON or YAML text. It must have a C(FormatVersion) key,
        for example V(OOS-2019-06-01).
      - Text is sent as written (so a YAML template stays YAML); a dict is sent as JSON.
      - Mutually exclusive with O(src). One of them is required with O(state=present).
    type: raw
  src:
    description:
      - Path on the controller of a JSON or YAML template file, read instead of O(content).
    type: path
  tags:
    description:
      - Tags of the template. When given, they replace the template's tags; when omitted, tags are left alone.
    type: dict
  state:
    description:
      - V(present) creates or updates the template, V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - alicloud.ecs.api
  - alicloud.ecs.api.modules
attributes:
  check_mode:
    support: full
    description: Reports what would change without calling CreateTemplate, UpdateTemplate or DeleteTemplate.
  diff_mode:
    support: full
    description: Shows the template content before and after as YAML.
"""

EXAMPLES = r"""
- name: A template kept in the repository
  alicloud.ecs.oos_template:
    name: restart-nginx
    src: files/restart-nginx.yml
    tags:
      team: web
  delegate_to: localhost

- name: A template written inline
  alicloud.ecs.oos_template:
    name: describe-instances
    content:
      FormatVersion: OOS-2019-06-01
      Description: List the instances of the region
      Tasks:
        - Name: describe
          Action: ACS::ExecuteAPI
          Properties:
            Service: ECS
            API: DescribeInstances
            Parameters: {}
  delegate_to: localhost

- name: Gone
  alicloud.ecs.oos_template:
    name: restart-nginx
    state: absent
  delegate_to: localhost
"""

RETURN = r"""
template:
  description: The template after the task; empty after O(state=absent).
  returned: always
  type: dict
  contains:
    name:
      description: Template name.
      type: str
    template_id:
      description: Template id.
      type: str
    version:
      description: Latest version, V(v1) when created; each content change adds one.
      type: str
      sample: v2
    format:
      description: V(JSON) or V(YAML).
      type: str
    description:
      description: The C(Description) of the content.
      type: str
    share_type:
      description: V(Private) for your own templates.
      type: str
    tags:
      description: Tags of the template.
      type: dict
    hash:
      description: SHA-256 of the stored content.
      type: str
    content:
      description: The template content as data.
      type: dict
"""

from ansible_collections.alicloud.ecs.plugins.module_utils.api.client import Json
from ansible_collections.alicloud.ecs.plugins.module_utils.services.cloud_module import CloudModule
from ansible_collections.alicloud.ecs.plugins.module_utils.services.resource_state import (
    STATE_OPTION, api_tags, converge,
)
from ansible_collections.alicloud.ecs.plugins.module_utils.services.oos import (
    check_template_name, get_template, parse_template, template_yaml,
)


def prepare(module: CloudModule) -> tuple[dict | None, str | None]:
    """Every local rule, naming the option, before any API call; then what desired_content says."""
    check_template_name(module.params["name"], own=True)
    return desired_content(module)


def desired_content(module: CloudModule) -> tuple[dict | None, str | None]:
    """(document, text to send) from content or src; (None, None) for state=absent."""
    params = module.params
    if params["state"] == "absent":
        return None, None
    source = params["content"]
    origin = "content"
    if params["src"]:
        origin = f"src {params['src']}"
        try:
            with open(params["src"], encoding="utf-8") as handle:
                source = handle.read()
        except OSError as error:
            raise ValueError(f"cannot read src {params['src']}: {error.strerror}") from None
    doc = parse_template(source, origin)
    if isinstance(source, (str, bytes)):
        return doc, source if isinstance(source, str) else source.decode()
    return doc, str(Json(doc))


def apply(module: CloudModule, current: dict | None, doc: dict | None, text: str | None) -> dict:
    """Make the template match; returns the result (changed, template)."""
    name, tags = module.params["name"], api_tags(module.params["tags"])
    client = module.client
    if doc is None:
        if current and not module.check_mode:
            client.call("DeleteTemplate", product="oos", TemplateName=name)
        return {"changed": current is not None, "template": {}}
    new_content = current is None or current["content"] != doc
    new_tags = tags is not None and (current is None or current["tags"] != tags)
    if not (new_content or new_tags):
        return {"changed": False, "template": current}
    if module.check_mode:
        return {"changed": True, "template": dict(current or {"name": name}, content=doc, tags=tags or {})}
    if current is None:
        client.call("CreateTemplate", product="oos", TemplateName=name, Content=text, Tags=Json(tags) if tags else None)
    else:
        client.call("UpdateTemplate", product="oos", TemplateName=name, Content=text if new_content else None,
                    Tags=Json(tags) if new_tags else None)
    return {"changed": True, "template": get_template(client, name)}


def diff(name: str, current: dict | None, doc: dict | None) -> dict:
    """The template content before and after, as YAML."""
    return {"before": template_yaml(current["content"] if current else None), "after": template_yaml(doc),
            "before_header": name, "after_header": name}


def main() -> None:
    module = CloudModule(
        argument_spec={
            "name": {"type": "str", "required": True, "aliases": ["template_name"]},
            "content": {"type": "raw"},
            "src": {"type": "path"},
            "tags": {"type": "dict"},
            "state": STATE_OPTION,
        },
        mutually_exclusive=[["content", "src"]],
        required_if=[["state", "present", ["content", "src"], True]],
        supports_check_mode=True,
    )
    name = module.params["name"]
    converge(module, prepare=lambda: prepare(module), read=lambda: get_template(module.client, name),
             apply=lambda current, wanted: (apply(module, current, *wanted), None),
             diff=lambda current, wanted, _result, _note: diff(name, current, wanted[0]))


if __name__ == "__main__":
    main()
