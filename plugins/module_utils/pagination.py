# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""NextToken/MaxResults pagination behind one generator, so no caller writes the loop again."""

from __future__ import annotations

import typing as t

from .client import CloudClient


def paginate(client: CloudClient, action: str, items: t.Callable[[dict[str, t.Any]], list[t.Any]],
             max_results: int, **params: t.Any) -> t.Iterator[t.Any]:
    """Yield every item of a NextToken-paginated list action, page after page."""
    next_token: str | None = None
    while True:
        response = client.call(action, MaxResults=max_results, NextToken=next_token, **params)
        yield from items(response)
        next_token = response.get("NextToken") or None
        if not next_token:
            return
