# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keep credentials out of every text the collection shows or stores.

The SDK puts the whole signed request URL (STS token, signature) into the text of its connection
errors, and a server or proxy may echo parts of a request back. Everything that turns such text into
a message goes through here: connection failures are reduced to what an operator can act on (where,
and why), and any other text loses signed query values and the literal secret values.
"""

from __future__ import annotations

import re
import typing as t
from urllib.parse import quote, quote_plus

REDACTED = "********"
# Query parameters of a signed request whose values must never be shown.
_SIGNED_VALUES = re.compile(r"((?:SecurityToken|Signature|AccessKeySecret|SecretKey)=)[^&\s'\"()<>]*", re.IGNORECASE)
_MIN_SECRET_LENGTH = 4  # shorter values would blank out ordinary words and say nothing about the secret

_READ_TIMEOUT = "no answer within the read timeout"
_CONNECT_TIMEOUT = "the connection timed out"
# What the HTTP stack says, mapped to what an operator can act on. First match wins.
_REASONS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("connection refused",), "connection refused (nothing listens there, or a firewall rejects it)"),
    (("name or service not known", "nodename nor servname", "temporary failure in name resolution",
      "no address associated", "getaddrinfo failed", "name resolution", "failed to resolve"),
     "the host name does not resolve (DNS)"),
    (("read timed out",), _READ_TIMEOUT),
    (("connecttimeout", "connect timeout", "timed out"), _CONNECT_TIMEOUT),
    (("certificate verify failed", "certificate_verify_failed"), "the TLS certificate could not be verified"),
    (("sslerror", "[ssl", "ssl:"), "the TLS handshake failed"),
    (("proxyerror", "tunnel connection failed", "unable to connect to proxy"), "the proxy failed or refused the request"),
    (("network is unreachable",), "the network is unreachable"),
    (("no route to host",), "no route to the host"),
    (("connection reset",), "the connection was reset"),
    (("remotedisconnected", "connection aborted", "closed connection without response"),
     "the server closed the connection without an answer"),
)


def scrub(text: str, secrets: t.Iterable[str | None] = ()) -> str:
    """``text`` with signed query values and the given secret values (also percent-encoded) masked."""
    text = _SIGNED_VALUES.sub(lambda match: match.group(1) + REDACTED, text)
    for secret in secrets:
        if not secret or len(secret) < _MIN_SECRET_LENGTH:
            continue
        for form in (secret, quote(secret, safe=""), quote_plus(secret, safe="")):
            text = text.replace(form, REDACTED)
    return text


def unreachable_reason(http_error_text: str, connect_timeout: float | None = None,
                       read_timeout: float | None = None) -> str:
    """Why a request never got an HTTP answer, in words, from the HTTP stack's error text.

    Only the reason is taken from the text; nothing of it is passed on, since it holds the signed URL.
    """
    lowered = scrub(http_error_text).lower()
    for markers, reason in _REASONS:
        if any(marker in lowered for marker in markers):
            if reason == _READ_TIMEOUT and read_timeout:
                return f"{reason} ({read_timeout:g} s)"
            if reason == _CONNECT_TIMEOUT and connect_timeout:
                return f"{reason} ({connect_timeout:g} s)"
            return reason
    return "the connection failed"
