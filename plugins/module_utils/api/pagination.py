# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""NextToken/MaxResults and PageNumber/PageSize pagination, each behind one generator, so no caller writes the loop again."""

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


def paginate_numbered(client: CloudClient, action: str, items: t.Callable[[dict[str, t.Any]], list[t.Any]],
                      page_size: int, **params: t.Any) -> t.Iterator[t.Any]:
    """Yield every item of a PageNumber/PageSize list action, until TotalCount items (or an empty page) were seen.

    Some actions ignore NextToken for some filters (DescribeCloudAssistantStatus with instance ids, docs/api-contract.md#describecloudassistantstatus),
    or only page by number (DescribeInstancesFullStatus).
    """
    page, seen = 1, 0
    while True:
        response = client.call(action, PageNumber=page, PageSize=page_size, **params)
        found = items(response)
        yield from found
        seen += len(found)
        if not found or seen >= int(response.get("TotalCount") or 0):
            return
        page += 1
