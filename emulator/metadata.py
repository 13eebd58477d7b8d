"""The instance metadata service's RAM role endpoints, as the controller's ECS instance would see them.

Real address 100.100.100.200; here the emulator's own port (paths under /latest/). Token-hardened mode: PUT
/latest/api/token with X-aliyun-ecs-metadata-token-ttl-seconds (1..21600) gives a token that GETs present in
X-aliyun-ecs-metadata-token; ``token_required`` in the fleet's ``instance_role`` refuses GETs without one.
Credentials rotate: a new set is issued once less than half of the current one's lifetime is left, so a client
renewing at a third of the lifetime always receives a set it has not seen.
⚠ Status codes for a missing/invalid token (403/401 here) are unverified.
"""
from __future__ import annotations

import json
import secrets
import threading
import time
from typing import TYPE_CHECKING, Any

from .clock import iso_seconds, parse_timestamp
from .sts import issue

if TYPE_CHECKING:
    from .handler_context import Services

CREDENTIALS_PATH = "/latest/meta-data/ram/security-credentials/"
MAX_TOKEN_TTL = 21600


class MetadataService:
    """Session tokens and the instance role's current credentials."""

    def __init__(self, emu: Services) -> None:
        self.emu = emu
        self.tokens: dict[str, float] = {}
        self.current: dict[str, Any] | None = None
        self.lock = threading.Lock()

    def handle(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, str]:
        """(status, body) for one request; bodies are plain text except the credentials' JSON."""
        if method == "PUT" and path == "/latest/api/token":
            self.emu.count("Metadata.Token")
            try:
                ttl = int(headers.get("x-aliyun-ecs-metadata-token-ttl-seconds", ""))
            except ValueError:
                return 400, "missing or invalid X-aliyun-ecs-metadata-token-ttl-seconds"
            if not 1 <= ttl <= MAX_TOKEN_TTL:
                return 400, "X-aliyun-ecs-metadata-token-ttl-seconds must be 1..21600"
            token = secrets.token_urlsafe(32)
            with self.lock:
                self.tokens[token] = time.time() + ttl
            return 200, token
        if method != "GET" or not path.startswith(CREDENTIALS_PATH):
            return 404, "Not Found"
        role = self.emu.fleet.instance_role
        token = headers.get("x-aliyun-ecs-metadata-token")
        if token is not None and self.tokens.get(token, 0) < time.time():
            return 401, "invalid or expired metadata token"
        if token is None and role and role.get("token_required"):
            return 403, "a metadata token is required"
        name = path[len(CREDENTIALS_PATH):]
        if role is None or (name and name != role["name"]):
            return 404, "Not Found"
        if not name:
            return 200, role["name"]
        self.emu.count("Metadata.Credentials")
        return 200, json.dumps(self._credentials(role))

    def _credentials(self, role: dict[str, Any]) -> dict[str, Any]:
        lifetime = float(role.get("token_lifetime") or 21600)
        with self.lock:
            now = time.time()
            held = self.current
            if held is None or parse_timestamp(held["Expiration"]) - now < lifetime / 2:
                held = {**issue(self.emu, role, "ecs-instance", lifetime), "Code": "Success",
                        "LastUpdated": iso_seconds(now)}
                self.current = held
            return held
