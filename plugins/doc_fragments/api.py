# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared API options (credentials, region, endpoint), written once.

Each option is described in one table and rendered into the sections a plugin type needs:
``alicloud.ecs.api`` for inventory/lookup plugins (environment sources) and
``alicloud.ecs.api.connection`` for the connection plugin (environment and host variables).
"""

from __future__ import annotations

import json

_OPTIONS = [
    ("access_key", "Alibaba Cloud AccessKey ID.",
     ["ALIBABA_CLOUD_ACCESS_KEY_ID", "ALICLOUD_ACCESS_KEY"], ["ansible_alicloud_access_key"], ["access_key_id"]),
    ("secret_key", "Alibaba Cloud AccessKey secret. Never logged or shown in error messages.",
     ["ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALICLOUD_SECRET_KEY"], ["ansible_alicloud_secret_key"], ["access_key_secret"]),
    ("security_token", "STS security token, for temporary credentials.",
     ["ALIBABA_CLOUD_SECURITY_TOKEN", "ALICLOUD_SECURITY_TOKEN"], ["ansible_alicloud_security_token"], []),
    ("endpoint",
     "API endpoint to use instead of the public regional one, as C(http(s)://host[:port]). "
     "This is the one switch between the real cloud and the local emulator.",
     ["ALIBABA_CLOUD_ECS_ENDPOINT", "ALICLOUD_ECS_ENDPOINT"], ["ansible_alicloud_endpoint"], []),
]


def _render(with_vars: bool) -> str:
    """YAML (as JSON, which YAML reads) for the options table."""
    options = {}
    for name, description, env, host_vars, aliases in _OPTIONS:
        option = {
            "description": [description, f"Falls back to the environment variables {', '.join(env)}, in that order."],
            "type": "str",
            "env": [{"name": var} for var in env],
        }
        if aliases and not with_vars:
            option["aliases"] = aliases
        if with_vars:
            option["vars"] = [{"name": var} for var in host_vars]
        options[name] = option
    return json.dumps({"options": options}, indent=2)


class ModuleDocFragment:
    DOCUMENTATION = _render(with_vars=False)
    CONNECTION = _render(with_vars=True)
