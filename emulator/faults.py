"""Injected faults (control API): latency and scripted API errors make client retry paths testable."""
from __future__ import annotations

import threading
import time
from typing import Any

from .errors import ApiError


class Faults:
    """Current fault plan. ``errors`` rules: {action ('*' = any), code, message, http_status, times (None = ∞)}."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.latency_ms = 0
        self.errors: list[dict[str, Any]] = []

    def configure(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Replace the plan with ``spec`` (keys absent = off)."""
        rules = []
        for rule in spec.get("errors") or []:
            rules.append({"action": str(rule.get("action", "*")), "code": str(rule.get("code", "Throttling")),
                          "message": str(rule.get("message", "Request was denied due to request throttling.")),
                          "http_status": int(rule.get("http_status", 400)),
                          "times": None if rule.get("times") is None else int(rule["times"])})
        with self._lock:
            self.latency_ms = int(spec.get("latency_ms", 0) or 0)
            self.errors = rules
        return self.describe()

    def describe(self) -> dict[str, Any]:
        """The plan as JSON."""
        with self._lock:
            return {"latency_ms": self.latency_ms, "errors": [dict(r) for r in self.errors]}

    def apply(self, action: str) -> None:
        """Before handling an API call: sleep the latency, then raise the first matching error rule."""
        with self._lock:
            latency = self.latency_ms
            hit = None
            for rule in self.errors:
                if rule["action"] in ("*", action) and rule["times"] != 0:
                    if rule["times"] is not None:
                        rule["times"] -= 1
                    hit = rule
                    break
        if latency:
            time.sleep(latency / 1000)
        if hit:
            raise ApiError(hit["code"], hit["message"], hit["http_status"])
