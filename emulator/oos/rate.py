"""OOS loop rateControl (docs/api-contract.md#oos): Concurrency or Batch mode, numbers or percentages."""
from __future__ import annotations

import math
from typing import Any

from ..errors import ApiError


def limit(value: Any, total: int) -> int:
    """A count given as a number or a percentage string of ``total`` (⚠ percentages round down, at least 1 for
    a concurrency; MaxErrors may be 0)."""
    text = str(value).strip()
    try:
        if text.endswith("%"):
            return math.floor(float(text[:-1]) * total / 100)
        return int(float(text))
    except ValueError:
        raise ApiError("InvalidParameter", f"Invalid rateControl value {value!r}.") from None


def batches(rate: dict[str, Any], ids: list[str]) -> list[tuple[list[str], int]]:
    """Split the loop items: Concurrency mode → one batch run ``Concurrency`` at a time; Batch mode → the
    ``Batch`` sizes in turn (the last size repeats until every item is placed), each run with its
    ``ConcurrencyInBatches`` entry (default 20)."""
    mode = rate.get("Mode", "Concurrency")
    if mode == "Concurrency":
        return [(list(ids), max(1, limit(rate.get("Concurrency", 1), len(ids))))]
    if mode != "Batch":
        raise ApiError("InvalidParameter", "rateControl.Mode must be Concurrency or Batch.")
    sizes = [max(1, limit(b, len(ids))) for b in rate.get("Batch") or [1]]
    concurrency = [max(1, limit(c, len(ids))) for c in rate.get("ConcurrencyInBatches") or []]
    out: list[tuple[list[str], int]] = []
    start = 0
    while start < len(ids):
        n = len(out)
        size = sizes[min(n, len(sizes) - 1)]
        out.append((ids[start:start + size], concurrency[min(n, len(concurrency) - 1)] if concurrency else 20))
        start += size
    return out
