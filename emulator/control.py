"""Control API under /_emulator/ (JSON, unsigned): seed and steer instances, counters, faults, reset.

It runs commands as root inside instances that share the host's kernel, users and network, so loopback alone is
no permission: every request must carry the token the server generated at start (``Authorization: Bearer``),
which ``python -m emulator run`` exports to its command and ``serve`` writes to a 0600 file. A browser page can
post a form to loopback but can neither read that file nor set that header, and a POST or PATCH must say
``application/json``, which a form cannot.
"""
from __future__ import annotations

import hmac
import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .ecs.events import add_events
from .fleet import FleetError

if TYPE_CHECKING:
    from .app import Emulator


ENV_TOKEN = "ALICLOUD_ECS_EMULATOR_TOKEN"  # what ``run`` exports, next to ALIBABA_CLOUD_ECS_ENDPOINT
TOKEN_FILE = "control-token"  # in the state dir unless --token-file names another place
JSON_BODY_METHODS = frozenset({"POST", "PATCH", "PUT"})
RUNTIME_OPTIONS = frozenset({"session_manager", "session_idle_seconds", "session_max_seconds", "session_pty_delay",
                             "session_start_delay", "session_rate_bps", "latency_ms"})


def new_token() -> str:
    """A fresh secret per server start: a token read from an earlier run's file is worth nothing."""
    return secrets.token_urlsafe(32)


def write_token(path: Path, token: str) -> None:
    """Write the token readable by its owner only (also when the file already existed with looser modes)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, token.encode("ascii"))
    finally:
        os.close(fd)


def refusal(token: str, method: str, headers: Mapping[str, str], body: bytes) -> tuple[int, Any] | None:
    """(401, …) without the right token, (415, …) for a body that is not declared JSON; None lets it through.
    ``headers`` have lower-case names."""
    scheme, _sep, given = headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        return 401, {"error": "the control API needs the emulator's token in 'Authorization: Bearer <token>' "
                              f"(python -m emulator run exports it as {ENV_TOKEN}; serve writes it to "
                              f"<state-dir>/{TOKEN_FILE} or --token-file)"}
    content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if (method in JSON_BODY_METHODS or body) and content_type != "application/json":
        return 415, {"error": f"{method} to the control API needs Content-Type: application/json, "
                              f"not {content_type or 'none'}"}
    return None


def handle(emu: Emulator, method: str, path: str, body: bytes) -> tuple[int, Any]:
    """Route one control request; bad input → 400 {"error": …}, unknown route → 404."""
    try:
        payload = json.loads(body) if body else {}
    except ValueError:
        return 400, {"error": "body must be JSON"}
    parts = path.split("/")
    try:
        if (method, path) == ("GET", "health"):
            return 200, {"status": "ok", "isolation": emu.sandbox.mode, "regions": [r["id"] for r in emu.fleet.regions],
                         "options": vars(emu.options)}
        if path == "counters" and method in ("GET", "DELETE"):
            if method == "DELETE":
                emu.reset_counters()
            return 200, emu.counters()
        if path == "faults" and method in ("GET", "POST", "PATCH"):
            if method == "GET":
                return 200, emu.faults.describe()
            return 200, emu.faults.configure(payload, merge=method == "PATCH")
        if (method, path) == ("GET", "sessions"):
            return 200, {"sessions": emu.sessions.stats()}
        if path == "options" and method == "PATCH":
            return 200, set_options(emu, payload)
        if (method, path) == ("POST", "reset"):
            emu.reset()
            return 200, {"status": "reset"}
        if path == "instances" and method == "GET":
            return 200, {"instances": [describe(emu, i) for i in emu.instances.all()]}
        if path == "instances" and method == "POST":
            entries = payload.get("instances", payload) if isinstance(payload, dict) else payload
            return 200, {"ids": emu.instances.seed_entries(list(entries))}
        if len(parts) == 2 and parts[0] == "instances" and method == "PATCH":
            record = emu.instances.update(parts[1], payload.get("status"), payload.get("agent"))
            return 200, describe(emu, record)
        if len(parts) == 3 and parts[0] == "instances" and parts[2] == "events" and method == "POST":
            entries = payload.get("events", payload) if isinstance(payload, dict) else payload
            return 200, {"events": add_events(emu, parts[1], list(entries))}
        if len(parts) == 3 and parts[0] == "instances" and parts[2] == "exec" and method == "POST":
            inst = emu.instances.get(parts[1])
            if inst is None:
                return 404, {"error": f"no instance {parts[1]}"}
            if inst["status"] != "Running":
                return 409, {"error": f"instance {parts[1]} is {inst['status']}"}
            if not isinstance(payload.get("command"), str):
                return 400, {"error": "body must be {\"command\": \"...\"}"}
            return 200, emu.sandbox.exec(inst, payload["command"], float(payload.get("timeout", 60)))
    except KeyError as exc:
        return 404, {"error": f"not found: {exc}"}
    except (ValueError, TypeError, FleetError) as exc:
        return 400, {"error": str(exc)}
    return 404, {"error": f"no control route {method} /_emulator/{path}"}


def set_options(emu: Emulator, payload: Any) -> dict[str, Any]:
    """PATCH /_emulator/options: change the settings a running emulator may change (the Session Manager switch,
    the session limits, the latency model); others are refused."""
    if not isinstance(payload, dict):
        raise ValueError("options body must be an object")
    unknown = set(payload) - RUNTIME_OPTIONS
    if unknown:
        raise ValueError(f"options {sorted(unknown)} cannot change at run time (allowed: {sorted(RUNTIME_OPTIONS)})")
    if payload.get("session_manager", "on") not in ("on", "off"):
        raise ValueError("session_manager must be on or off")
    for name, value in payload.items():
        setattr(emu.options, name, type(getattr(emu.options, name))(value))
    if "latency_ms" in payload:
        emu.faults.latency_ms = emu.options.latency_ms
    return vars(emu.options)


def describe(emu: Emulator, inst: dict[str, Any]) -> dict[str, Any]:
    """Instance as the control API shows it: identity, state, and isolation facts."""
    return {"id": inst["id"], "name": inst["name"], "hostname": inst["hostname"], "region": inst["region"],
            "zone": inst["zone"], "status": inst["status"], "agent": inst["agent"], "tags": inst["tags"],
            "os_type": inst["os_type"], "events": inst.get("events", []), "isolation": emu.sandbox.describe(inst["id"])}
