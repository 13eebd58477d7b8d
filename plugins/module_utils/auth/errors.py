# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The two error types every part of the collection raises: a failed API call and bad settings.

They live in the bottom layer because the credential sources raise them first (STS refusals, a missing
profile, an unreachable metadata service) and ``auth`` imports no other layer; ``api.errors`` offers them to
everything above with the helpers that branch on codes. Callers branch on ``code`` (the API's error code)
rather than on SDK exception classes, so the SDK can be swapped or faked without touching them.
"""

from __future__ import annotations

import typing as t


class CloudError(Exception):
    """An Alibaba Cloud API call that failed, with everything an operator needs to trace it.

    The message names the action, the API code and the access key id (never the secret), so a
    wrong credential is recognisable at a glance.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        action: str = "",
        request_id: str | None = None,
        http_status: int | None = None,
        access_key_id: str | None = None,
    ) -> None:
        self.code = code
        self.message = message
        self.action = action
        self.request_id = request_id
        self.http_status = http_status
        self.access_key_id = access_key_id
        super().__init__(self._describe())

    def _describe(self) -> str:
        context = []
        if self.access_key_id:
            context.append(f"access key id {self.access_key_id}")
        if self.http_status:
            context.append(f"HTTP {self.http_status}")
        if self.request_id:
            context.append(f"request id {self.request_id}")
        where = f"{self.action} failed: " if self.action else ""
        suffix = f" ({', '.join(context)})" if context else ""
        return f"{where}{self.code}: {self.message}{suffix}"

    def to_dict(self) -> dict[str, t.Any]:
        """A JSON-friendly form for module results and facts."""
        return {
            "code": self.code,
            "message": self.message,
            "action": self.action,
            "request_id": self.request_id,
            "http_status": self.http_status,
        }


class ConfigError(ValueError):
    """Bad or missing settings (credentials, region, endpoint), found before any API call."""
