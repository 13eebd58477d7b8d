"""HTTP front: RPC API on ``/`` (GET and POST), control API under ``/_emulator/`` (token required, see
control.py); JSON only, no gzip."""
from __future__ import annotations

import json
import logging
import socket
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from . import control, idempotency
from .app import Emulator
from .errors import ApiError, envelope, invalid_action, missing
from .protocol import Params, authenticate, check_security_token, collect_params
from .routes import IDEMPOTENT, VERSIONS
from .session import websocket
from .signature_v3 import authenticate_v3, is_v3
from . import sts

LOG = logging.getLogger("emulator.server")
PRODUCTS = {"2019-06-01": "oos", sts.VERSION: "sts"}


def call_api(emu: Emulator, method: str, params: dict[str, str], headers: dict[str, str],
             wire: tuple[str, dict[str, str], bytes] = ("/", {}, b"")) -> tuple[int, dict[str, Any], bool]:
    """One RPC call: counters → faults → signature → route → handler; every failure becomes an envelope.
    The flag is True when a "drop" fault fired: the call was handled but its answer must never arrive.
    ``wire`` (path, query-only parameters, body) is what a V3 signature covers."""
    drop = False
    request_id = str(uuid.uuid4()).upper()
    region = params.get("RegionId")
    product = PRODUCTS.get(params.get("Version") or headers.get("x-acs-version") or "", "ecs")
    host_id = f"{product}.{region}.aliyuncs.com" if region else f"{product}.aliyuncs.com"
    try:
        action = params.get("Action") or headers.get("x-acs-action")
        version = params.get("Version") or headers.get("x-acs-version")
        if not action:
            raise missing("Action")
        if not version:
            raise missing("Version")
        emu.count(action)
        drop = emu.faults.apply(action)
        if version == sts.VERSION and action in sts.ANONYMOUS:
            pass  # AssumeRoleWithOIDC is authenticated by its OIDC token, not by a key
        elif is_v3(headers):
            key_id = authenticate_v3(method, wire[0], wire[1], headers, wire[2], emu.fleet.access_keys, emu.nonces,
                                     emu.options.check_timestamp)
            check_security_token(key_id, headers.get("x-acs-security-token", ""), emu.fleet.sts_tokens)
        else:
            key_id = authenticate(method, params, emu.fleet.access_keys, emu.nonces, emu.options.check_timestamp)
            check_security_token(key_id, params.get("SecurityToken", ""), emu.fleet.sts_tokens)
        table = VERSIONS.get(version)
        if table is None:
            raise ApiError("InvalidVersion", "Specified parameter Version is not valid.")  # ⚠ code inferred
        handler = table.get(action)
        if handler is None:
            raise invalid_action()
        p = Params(params)
        if action in IDEMPOTENT:
            result = idempotency.once(emu, action, p, lambda: handler(emu, p))
        else:
            result = handler(emu, p)
        return 200, {"RequestId": request_id, **result}, drop
    except ApiError as err:
        return err.http_status, envelope(err, request_id, host_id), drop
    except Exception:
        LOG.exception("internal error")
        err = ApiError("InternalError", "The request processing has failed due to some unknown error, exception or "
                       "failure.", 500)
        return 500, envelope(err, request_id, host_id), drop


class Handler(BaseHTTPRequestHandler):
    """Keep-alive HTTP/1.1 handler (the SDK pools connections)."""

    protocol_version = "HTTP/1.1"
    server: EmulatorServer

    def do_GET(self) -> None:
        """RPC (CommonRequest defaults to GET) or control reads."""
        self._dispatch("GET")

    def do_POST(self) -> None:
        """RPC (generated request classes use POST) or control writes."""
        self._dispatch("POST")

    def do_PUT(self) -> None:
        """The metadata service's session token."""
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        """Control API only."""
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        """Control API only."""
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        if url.path.startswith("/session/") and method == "GET":
            self._session(url.path[len("/session/"):])
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        emu = self.server.emulator
        if url.path.startswith("/latest/"):
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, text = emu.metadata.handle(method, url.path, headers)
            self._send_text(status, text)
            return
        if url.path.startswith("/_emulator/"):
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, payload = control.refusal(self.server.control_token, method, headers, body) or control.handle(
                emu, method, url.path[len("/_emulator/"):].strip("/"), body)
        elif url.path == "/" and method in ("GET", "POST"):
            try:
                params = collect_params(url.query, body, self.headers.get("Content-Type") or "")
                query = collect_params(url.query, b"", "")
            except UnicodeDecodeError:
                params, query = {}, {}
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, payload, drop = call_api(emu, method, params, headers, (url.path, query, body))
            if drop:  # act then drop: close the connection without an HTTP response
                self.close_connection = True
                return
        else:
            status, payload = 404, envelope(invalid_action(), str(uuid.uuid4()).upper(), "ecs.aliyuncs.com")
        self._send(status, payload)

    def _session(self, session_id: str) -> None:
        """A session's websocket: the token (header ``x-acs-session-token``, as ali-instance-cli sends it) is
        checked before the upgrade (401 without it); the connection then belongs to the session until it ends."""
        headers = {k.lower(): v for k, v in self.headers.items()}
        sessions = self.server.emulator.sessions
        refused = None if websocket.is_upgrade(headers) else (400, "a websocket upgrade is expected here")
        refused = refused or sessions.claim(session_id, headers.get("x-acs-session-token", ""))
        self.close_connection = True
        if refused is not None:
            self._send_text(*refused)
            return
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", websocket.accept_key(headers["sec-websocket-key"]))
        self.end_headers()
        self.wfile.flush()
        sessions.serve(session_id, self.rfile, self.wfile, self._cut)

    def _cut(self) -> None:
        """Shut the socket down (a websocket peer that never answered our close frame)."""
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _send(self, status: int, payload: Any) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_text(self, status: int, text: str) -> None:
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain;charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Access log at debug level (tests and benchmarks make thousands of calls)."""
        LOG.debug("%s " + format, self.address_string(), *args)


class EmulatorServer(ThreadingHTTPServer):
    """ThreadingHTTPServer carrying the emulator; daemon threads so shutdown never hangs on keep-alive."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, emulator: Emulator, host: str = "127.0.0.1", port: int = 0, token: str | None = None) -> None:
        super().__init__((host, port), Handler)
        self.emulator = emulator
        self.control_token = token or control.new_token()  # the control API's secret (control.refusal)
        self.emulator.sessions.endpoint = self.endpoint.replace("http://", "ws://", 1)

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:PORT``."""
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"
