# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The run of a module that keeps one named resource present or absent (an OOS template, an OOS parameter).

Such modules differ in what they check, read and send; the order is the same for all of them, and kept
here once: every local rule first (a ValueError names the option, before any API call), then the
resource as it is, then the change (or, in check mode, what it would be), then the diff when asked for.
"""

from __future__ import annotations

import typing as t

from .cloud_module import CloudModule

Prepared = t.TypeVar("Prepared")
Current = t.TypeVar("Current")
Note = t.TypeVar("Note")

STATE_OPTION: dict[str, t.Any] = {"type": "str", "choices": ["present", "absent"], "default": "present"}


def api_tags(tags: dict[t.Any, t.Any] | None) -> dict[str, str] | None:
    """Tags as the API takes them, keys and values as strings (YAML reads ``version: 2`` as a number);
    None, which means "leave the tags alone", stays None."""
    return None if tags is None else {str(key): str(value) for key, value in tags.items()}


def converge(module: CloudModule, prepare: t.Callable[[], Prepared], read: t.Callable[[], Current],
             apply: t.Callable[[Current, Prepared], tuple[dict[str, t.Any], Note]],
             diff: t.Callable[[Current, Prepared, dict[str, t.Any], Note], dict[str, t.Any]]) -> t.NoReturn:
    """Run the module to its end: ``prepare`` checks the options and returns what ``apply`` needs;
    ``read`` returns the resource as it is; ``apply`` makes it match and returns the result and a note
    for ``diff`` (what changed). A ValueError from ``prepare`` or ``apply`` fails the task with its message;
    the API's errors fail it through ``module.failures()``."""
    try:
        prepared = prepare()
    except ValueError as error:
        module.fail_json(msg=str(error))
    with module.failures():
        current = read()
        try:
            result, note = apply(current, prepared)
        except ValueError as error:
            module.fail_json(msg=str(error))
    if module._diff:
        result["diff"] = diff(current, prepared, result, note)
    module.exit_json(**result)
