"""Both pagination styles (PageNumber/PageSize and NextToken/MaxResults) behind one function (docs/api-contract.md#pagination)."""
from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any, TypeVar

from .errors import invalid
from .protocol import Params

T = TypeVar("T")


def encode_token(offset: int) -> str:
    """Opaque continuation token (clients must not parse it)."""
    return base64.urlsafe_b64encode(f"emu:{offset}".encode()).decode().rstrip("=")


def decode_token(value: str) -> int:
    """Offset from a NextToken; anything we did not issue → InvalidParameter.NextToken."""
    try:
        text = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        if not text.startswith("emu:"):
            raise ValueError(value)
        offset = int(text[4:])
        if offset < 0:
            raise ValueError(value)
        return offset
    except ValueError:
        raise invalid("NextToken", "InvalidParameter.NextToken") from None


def token_page(items: Sequence[T], params: Params, size: int) -> tuple[list[T], str]:
    """The NextToken page of ``items`` holding at most ``size`` (each action checks or clamps its own
    MaxResults first, as its API does) and the token of the next page, "" after the last one."""
    token = params.get("NextToken")
    offset = decode_token(token) if token else 0
    more = offset + size < len(items)
    return list(items[offset:offset + size]), encode_token(offset + size) if more else ""


def paginate(items: Sequence[T], params: Params, max_size: int = 50,
             clamp_max_results: bool = False) -> tuple[list[T], dict[str, Any]]:
    """Slice ``items`` per the request; returns the page and the counters the response carries.

    Token mode is used when MaxResults or NextToken is present. ``clamp_max_results`` is DescribeInstances'
    documented behaviour (<10 → 10, >100 → 100) instead of an error.
    """
    if params.get("MaxResults") is not None or params.get("NextToken") is not None:
        size = params.integer("MaxResults", 10, invalid("MaxResults", "InvalidParameter.MaxResults"))
        assert size is not None
        if clamp_max_results:
            size = min(max(size, 10), max_size)
        elif not 1 <= size <= max_size:
            raise invalid("MaxResults", "InvalidParameter.MaxResults")
        token = params.get("NextToken")
        offset = decode_token(token) if token else 0
        page, next_token = token_page(items, params, size)
        return page, {"PageNumber": offset // size + 1, "PageSize": size, "TotalCount": len(items),
                      "NextToken": next_token}
    number = params.integer("PageNumber", 1, invalid("PageNumber", "InvalidParam.PageNumber"))
    size = params.integer("PageSize", 10, invalid("PageSize", "InvalidParam.PageSize"))
    assert number is not None and size is not None
    if number < 1:
        raise invalid("PageNumber", "InvalidParam.PageNumber")
    if not 1 <= size <= max_size:
        raise invalid("PageSize", "InvalidParam.PageSize")
    start = (number - 1) * size
    page = list(items[start:start + size])
    more = start + size < len(items)
    return page, {"PageNumber": number, "PageSize": size, "TotalCount": len(items),
                  "NextToken": encode_token(start + size) if more else ""}
