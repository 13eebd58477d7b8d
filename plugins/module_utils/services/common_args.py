# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The argument spec of the options every module shares; ``doc_fragments/api.py`` documents them.

The environment fallbacks are the ones ``credential_chain`` and ``client.resolve_settings`` read, in the same
order, so a module, the connection and the inventory find the same credentials; ``api/options.py`` turns the
values into Settings for all of them.
"""

from __future__ import annotations

import typing as t

from ansible.module_utils.basic import env_fallback

from ..api.client import ENV_API_CONCURRENCY, ENV_CONNECT_TIMEOUT, ENV_ENDPOINT, ENV_READ_TIMEOUT, ENV_REGION, ENV_RETRY_BUDGET
from ..auth.credential_chain import (
    ENV_ACCESS_KEY_ID, ENV_ACCESS_KEY_SECRET, ENV_CLI_CONFIG, ENV_PROFILE, ENV_SECURITY_TOKEN, ENV_STS_ENDPOINT,
    ENV_STS_REGION, ENV_VPC_ENDPOINT,
)


def api_argument_spec() -> dict[str, dict[str, t.Any]]:
    """Credentials, region, endpoint, retry budget, timeouts and the call cap, each falling back to its environment variables."""
    return {
        "access_key": {"type": "str", "aliases": ["access_key_id"], "no_log": False,
                       "fallback": (env_fallback, list(ENV_ACCESS_KEY_ID))},
        "secret_key": {"type": "str", "aliases": ["access_key_secret"], "no_log": True,
                       "fallback": (env_fallback, list(ENV_ACCESS_KEY_SECRET))},
        "security_token": {"type": "str", "no_log": True,
                           "fallback": (env_fallback, list(ENV_SECURITY_TOKEN))},
        "profile": {"type": "str", "fallback": (env_fallback, list(ENV_PROFILE))},
        "profile_file": {"type": "path", "fallback": (env_fallback, list(ENV_CLI_CONFIG))},
        "assume_role_arn": {"type": "str"},
        "assume_role_session_name": {"type": "str"},
        "assume_role_duration": {"type": "int"},
        "assume_role_external_id": {"type": "str", "no_log": False},
        "assume_role_policy": {"type": "str"},
        "sts_endpoint": {"type": "str", "fallback": (env_fallback, list(ENV_STS_ENDPOINT))},
        "sts_region": {"type": "str", "fallback": (env_fallback, list(ENV_STS_REGION))},
        "vpc_endpoint": {"type": "bool", "fallback": (env_fallback, list(ENV_VPC_ENDPOINT))},
        "region": {"type": "str", "aliases": ["region_id"],
                   "fallback": (env_fallback, list(ENV_REGION))},
        "endpoint": {"type": "str", "fallback": (env_fallback, list(ENV_ENDPOINT))},
        "retry_budget": {"type": "float", "fallback": (env_fallback, list(ENV_RETRY_BUDGET))},
        "connect_timeout": {"type": "int", "fallback": (env_fallback, list(ENV_CONNECT_TIMEOUT))},
        "read_timeout": {"type": "int", "fallback": (env_fallback, list(ENV_READ_TIMEOUT))},
        "api_concurrency": {"type": "int", "fallback": (env_fallback, list(ENV_API_CONCURRENCY))},
    }
