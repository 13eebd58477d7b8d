"""Injected faults (control API): latency, throttling, 5xx, dropped responses and slow agents make every client
retry path testable — deterministically, each rule firing a counted number of times."""
from __future__ import annotations

import threading
import time
from typing import Any

from .errors import ApiError

KINDS = ("throttle", "error", "drop")
# Known codes → (HTTP status, message) of docs/api-contract.md#api-error-codes; throttling at 400 is the
# documented status (⚠ docs/api-contract.md#open-points: some gateways answer 429 — set "http_status": 429 on the rule).
KNOWN = {
    "Throttling": (400, "Request was denied due to request throttling."),
    "Throttling.User": (400, "Request was denied due to user flow control."),
    "Throttling.Api": (400, "Request was denied due to api flow control."),
    "InternalError": (500, "The request processing has failed due to some unknown error, exception or failure."),
    "InternalError.Dispatch": (500, "An error occurred when you dispatched the request."),
    "UnknownError": (500, "The request processing has failed due to some unknown error."),
    "ServiceUnavailable": (503, "The request has failed due to a temporary failure of the server."),
}
DEFAULT_CODE = {"throttle": "Throttling", "error": "InternalError"}


def rule_from(spec: dict[str, Any]) -> dict[str, Any]:
    """Validate one rule and fill its defaults (code → status and message); bad input raises ValueError."""
    kind = str(spec.get("fault", "error"))
    if kind not in KINDS:
        raise ValueError(f"fault must be one of {KINDS}")
    unknown = set(spec) - {"fault", "action", "code", "message", "http_status", "times", "after", "every"}
    if unknown:
        raise ValueError(f"unknown rule keys {sorted(unknown)}")
    rule: dict[str, Any] = {"fault": kind, "action": str(spec.get("action", "*")),
                            "times": None if spec.get("times") is None else int(spec["times"]),
                            "after": int(spec.get("after", 0) or 0), "every": int(spec.get("every", 1) or 1),
                            "seen": 0, "fired": 0}
    if rule["every"] < 1:
        raise ValueError("every must be >= 1")
    if kind != "drop":
        code = str(spec.get("code") or DEFAULT_CODE[kind])
        status, message = KNOWN.get(code, (400, f"Injected fault {code}."))
        rule |= {"code": code, "http_status": int(spec.get("http_status", status)),
                 "message": str(spec.get("message", message))}
    return rule


class Faults:
    """The current plan. A rule matches an action (or ``*``); it lets ``after`` matching calls through, then fires
    on every ``every``-th matching call (1 = each; a deterministic rate), ``times`` times (null = forever). The first
    rule that fires wins; a call passing every rule is served."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.latency_ms = 0
        self.rules: list[dict[str, Any]] = []
        self.delivery_delays: dict[str, float] = {}

    def configure(self, spec: dict[str, Any], merge: bool = False) -> dict[str, Any]:
        """POST replaces the plan (absent keys = off); PATCH (``merge``) appends rules and updates the rest."""
        if not isinstance(spec, dict):
            raise ValueError("faults body must be an object")
        unknown = set(spec) - {"latency_ms", "rules", "delivery_delay"}
        if unknown:
            raise ValueError(f"unknown fault keys {sorted(unknown)}")
        rules = [rule_from(r) for r in spec.get("rules") or []]
        delays = {str(k): float(v) for k, v in (spec.get("delivery_delay") or {}).items()}
        with self._lock:
            if merge:
                self.rules += rules
                self.delivery_delays |= delays
                if "latency_ms" in spec:
                    self.latency_ms = int(spec["latency_ms"] or 0)
            else:
                self.latency_ms = int(spec.get("latency_ms", 0) or 0)
                self.rules = rules
                self.delivery_delays = delays
        return self.describe()

    def describe(self) -> dict[str, Any]:
        """The plan as JSON, with each rule's remaining ``times``, ``after`` and ``fired`` count."""
        with self._lock:
            return {"latency_ms": self.latency_ms, "rules": [dict(r) for r in self.rules],
                    "delivery_delay": dict(self.delivery_delays)}

    def apply(self, action: str) -> bool:
        """Before handling an API call: sleep the latency, raise a firing error rule; True = a drop rule fired
        (the caller performs the action, then closes the connection without answering)."""
        with self._lock:
            latency = self.latency_ms
            hit = None
            for rule in self.rules:
                if rule["action"] not in ("*", action) or rule["times"] == 0:
                    continue
                if rule["after"] > 0:
                    rule["after"] -= 1
                    continue
                rule["seen"] += 1
                if rule["seen"] % rule["every"]:
                    continue
                if rule["times"] is not None:
                    rule["times"] -= 1
                rule["fired"] += 1
                hit = rule
                break
        if latency:
            time.sleep(latency / 1000)
        if hit is None:
            return False
        if hit["fault"] == "drop":
            return True
        raise ApiError(hit["code"], hit["message"], hit["http_status"])

    def delivery_delay(self, instance_id: str, default: float) -> float:
        """Seconds before the agent of this instance picks a task up (a per-instance override or the default),
        plus the injected latency (the latency model delays the delivery as it delays an API call)."""
        with self._lock:
            return self.delivery_delays.get(instance_id, default) + self.latency_ms / 1000
