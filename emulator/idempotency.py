"""ClientToken idempotency: same token + same parameters → the first response; different ones → mismatch."""
from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .cloud_assistant.validate import client_token
from .errors import ApiError
from .protocol import Params

if TYPE_CHECKING:
    from .handler_context import Services


def once(emu: Services, action: str, p: Params, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run ``run`` at most once per (ClientToken, action); the token table is persisted with the state."""
    token = client_token(p)
    if token is None:
        return run()
    digest = hashlib.sha256(json.dumps(p.business(), sort_keys=True).encode()).hexdigest()
    # One lock per token, not one for all: calls with different tokens (16 SendFiles in flight) run side by side.
    with emu.idempotency_lock:
        lock = emu.token_locks.setdefault((token, action), threading.Lock())
    try:
        with lock:
            row = emu.store.one("SELECT hash, response FROM tokens WHERE token=? AND action=?", (token, action))
            if row is not None:
                if row["hash"] != digest:
                    raise ApiError("IdempotentParameterMismatch", "The request is retried with updated parameters.")
                return json.loads(row["response"])
            result = run()
            emu.store.execute("INSERT INTO tokens(token, action, hash, response, created) VALUES (?,?,?,?,?)",
                              (token, action, digest, json.dumps(result), time.time()))
            return result
    finally:
        with emu.idempotency_lock:  # a retry arriving later finds the stored response instead
            emu.token_locks.pop((token, action), None)
