# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The error types every layer above ``auth`` imports, and the test callers use to branch on an API code.

``CloudError`` and ``ConfigError`` are defined in ``auth.errors`` (the bottom layer raises them first) and
offered here, so ``auth`` never imports upward and every other layer keeps one place to import errors from.
"""

from __future__ import annotations

from ..auth.errors import CloudError, ConfigError

__all__ = ["CloudError", "ConfigError", "is_error_code"]


def is_error_code(error: BaseException, *codes: str) -> bool:
    """True when ``error`` is a CloudError whose code is one of ``codes`` or starts with ``code + '.'``."""
    if not isinstance(error, CloudError):
        return False
    return any(error.code == code or error.code.startswith(code + ".") for code in codes)
