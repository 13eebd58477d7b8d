# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place where the shared API options become Settings, for every plugin type and every module.

The connection, the inventory, the action and the modules all declare the same option names
(``doc_fragments/api.py`` documents them once). Each hands its own reader here (a plugin's ``get_option``,
a module's ``params.get``, the action's checked arguments), so that option precedence, credential sources,
the endpoint, retries and defaults are decided in ``resolve_settings`` alone and cannot drift per caller.
"""

from __future__ import annotations

import typing as t

from ..auth.credentials import CredentialProvider
from .client import Settings, resolve_settings

# A plugin's or module's option name → the resolve_settings keyword it feeds. The credential options are the ones
# an inventory source's own credentials can stand in for (see settings_from_options).
CREDENTIAL_OPTIONS: tuple[tuple[str, str], ...] = (
    ("access_key", "access_key_id"),
    ("secret_key", "access_key_secret"),
    ("security_token", "security_token"),
    ("profile", "profile"),
    ("profile_file", "profile_file"),
    ("assume_role_arn", "assume_role_arn"),
    ("assume_role_session_name", "assume_role_session_name"),
    ("assume_role_duration", "assume_role_duration"),
    ("assume_role_external_id", "assume_role_external_id"),
    ("assume_role_policy", "assume_role_policy"),
    ("sts_endpoint", "sts_endpoint"),
    ("sts_region", "sts_region"),
    ("vpc_endpoint", "vpc_endpoint"),
)
CALL_OPTIONS: tuple[str, ...] = ("endpoint", "retry_budget", "connect_timeout", "read_timeout", "api_concurrency")
REGION_OPTION = "region"

OptionReader = t.Callable[[str], t.Any]


def option_names(regional: bool = True) -> tuple[str, ...]:
    """Every option name settings_from_options reads (the inventory has no region option: regional=False)."""
    names = tuple(option for option, _keyword in CREDENTIAL_OPTIONS) + CALL_OPTIONS
    return names + (REGION_OPTION,) if regional else names


def settings_from_options(
    get: OptionReader,
    *,
    regional: bool = True,
    inherited: CredentialProvider | None = None,
    from_environment: OptionReader | None = None,
    env: t.Mapping[str, str] | None = None,
) -> Settings:
    """Settings from the caller's own option reader ``get``; raises ConfigError on a bad value, before any API call.

    ``regional`` is False for the inventory, which lists regions itself: it reads no region option and needs
    none. ``inherited`` is the provider an inventory source resolved for its hosts: a credential option whose
    value came only from an environment variable (``from_environment(option)`` true) then yields to it, because
    the source named its credentials for exactly these hosts; values set for the host itself still win.
    ``env`` is where resolve_settings looks for what no option set (os.environ unless a test gives its own).
    """
    values: dict[str, t.Any] = {}
    for option, keyword in CREDENTIAL_OPTIONS:
        value = get(option)
        if value is not None and inherited is not None and from_environment is not None and from_environment(option):
            value = None
        values[keyword] = value
    for option in CALL_OPTIONS:
        values[option] = get(option)
    if regional:
        values[REGION_OPTION] = get(REGION_OPTION)
    return resolve_settings(require_region=regional, inherited=inherited, env=env, **values)
