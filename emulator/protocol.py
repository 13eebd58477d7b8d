"""RPC wire protocol: parameter collection, typed parameter access, signature v1 (docs/api-contract.md#wire-protocol)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, quote

from .clock import parse_timestamp
from .errors import ApiError, invalid, missing

TIMESTAMP_WINDOW = 15 * 60


def collect_params(query: str, body: bytes, content_type: str) -> dict[str, str]:
    """Merge query and form-body parameters; both are signed, so both must be seen (docs/api-contract.md#wire-protocol)."""
    params = dict(parse_qsl(query, keep_blank_values=True))
    if body and content_type.lower().startswith("application/x-www-form-urlencoded"):
        params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    return params


def percent_encode(value: str) -> str:
    """RFC 3986 encoding exactly as the SDK signs (space → %20, * → %2A, ~ kept)."""
    return quote(value, safe="~")


def string_to_sign(method: str, params: Mapping[str, str]) -> str:
    """Canonical string of signature v1; also echoed in SignatureDoesNotMatch (the SDK splits it on ':')."""
    canonical = "&".join(f"{percent_encode(k)}={percent_encode(v)}"
                         for k, v in sorted(params.items()) if k != "Signature")
    return f"{method.upper()}&{percent_encode('/')}&{percent_encode(canonical)}"


def sign(secret: str, sts: str) -> str:
    """HMAC-SHA1 with key ``secret + '&'``, base64."""
    digest = hmac.new(f"{secret}&".encode(), sts.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class NonceCache:
    """Remembers nonces for the timestamp window: a replayed request inside it is rejected.

    A queue keeps the nonces in arrival order, so the expired ones are always at its front and each call drops
    just those. (Rebuilding the whole map once it held 10,000 nonces cost every later call a pass over all of
    them while they were still fresh: a busy session, 10,000 calls in 15 minutes, slowed down round by round.)
    """

    def __init__(self, window: float = TIMESTAMP_WINDOW) -> None:
        self._window = window
        self._seen: set[str] = set()
        self._arrivals: deque[tuple[float, str]] = deque()
        self._lock = threading.Lock()

    def check_and_add(self, nonce: str) -> bool:
        """True if the nonce is fresh (and records it)."""
        now = time.time()
        with self._lock:
            while self._arrivals and now - self._arrivals[0][0] >= self._window:
                self._seen.discard(self._arrivals.popleft()[1])
            if nonce in self._seen:
                return False
            self._seen.add(nonce)
            self._arrivals.append((now, nonce))
            return True


def authenticate(method: str, params: Mapping[str, str], keys: Mapping[str, str], nonces: NonceCache,
                 check_time: bool = True) -> str:
    """Verify a signed request like the gateway does; returns the AccessKeyId or raises ApiError."""
    for name in ("AccessKeyId", "Signature"):
        if not params.get(name):
            raise missing(name)
    if "Timestamp" not in params:
        raise ApiError("IllegalTimestamp",
                       'The input parameter "Timestamp" that is mandatory for processing this request is not supplied.')
    key_id = params["AccessKeyId"]
    if key_id not in keys:
        raise ApiError("InvalidAccessKeyId.NotFound", "Specified access key is not found.", 404)
    try:
        ts = parse_timestamp(params["Timestamp"])
    except ValueError:
        raise ApiError("InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted.") from None
    if check_time and abs(time.time() - ts) > TIMESTAMP_WINDOW:
        raise ApiError("InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.")
    sts = string_to_sign(method, params)
    accept_signature(sign(keys[key_id], sts), params["Signature"], sts, params.get("SignatureNonce", ""), nonces)
    return key_id


def check_security_token(key_id: str, token: str, sts_tokens: Mapping[str, tuple[str, float | None]]) -> None:
    """An STS key signs only together with its own, unexpired token; a permanent key takes none.

    ⚠ The codes for a missing or wrong token are not in the API reference (docs/api-contract.md#api-error-codes lists .Expired/.Malformed
    only); MismatchWithAccessKey is the gateway's usual name for it. Refusing a token sent with a
    permanent key is the stricter reading.
    """
    expected = sts_tokens.get(key_id)
    if expected is None:
        if token:
            raise ApiError("InvalidSecurityToken.MismatchWithAccessKey",
                           "The SecurityToken does not match the AccessKeyId.")
        return
    if token != expected[0]:
        raise ApiError("InvalidSecurityToken.MismatchWithAccessKey", "The SecurityToken does not match the AccessKeyId.")
    if expected[1] is not None and time.time() > expected[1]:
        raise ApiError("InvalidSecurityToken.Expired", "Specified SecurityToken is expired.")


def accept_signature(expected: str, given: str, sts: str, nonce: str, nonces: NonceCache) -> None:
    """The end every signature version shares: the signatures match and the nonce is fresh.

    The mismatch message carries the server's string to sign after a ':' because the legacy SDK
    splits on it (docs/api-contract.md#wire-protocol).
    """
    if not hmac.compare_digest(expected, given):
        raise ApiError("SignatureDoesNotMatch",
                       f"Specified signature is not matched with our calculation. server string to sign is:{sts}")
    if nonce and not nonces.check_and_add(nonce):
        raise ApiError("SignatureNonceUsed", "Specified signature nonce was used already.")


class Params:
    """Typed, validated access to one request's parameters (booleans, ints, RepeatLists, tag structs)."""

    COMMON = frozenset({"Action", "Version", "Format", "AccessKeyId", "SignatureMethod", "SignatureVersion",
                        "SignatureNonce", "SignatureType", "Timestamp", "Signature", "SecurityToken",
                        "OwnerId", "OwnerAccount", "ResourceOwnerId", "ResourceOwnerAccount"})

    def __init__(self, raw: Mapping[str, str]) -> None:
        self.raw = dict(raw)

    def business(self) -> dict[str, str]:
        """Parameters minus the signing envelope: what idempotency compares (fresh nonce per retry)."""
        return {k: v for k, v in self.raw.items() if k not in self.COMMON and k != "ClientToken"}

    def get(self, name: str, default: str | None = None) -> str | None:
        """A parameter as sent; empty strings count as absent, as the service treats them."""
        value = self.raw.get(name)
        return default if value in (None, "") else value

    def require(self, name: str, error: ApiError | None = None) -> str:
        """A mandatory parameter; ``error`` replaces the generic MissingParameter where an API has its own code."""
        value = self.get(name)
        if value is None:
            raise error or missing(name)
        return value

    def boolean(self, name: str, default: bool = False) -> bool:
        """Java ``Boolean.parseBoolean`` semantics: case-insensitive 'true', anything else false."""
        value = self.get(name)
        return default if value is None else value.lower() == "true"

    def integer(self, name: str, default: int | None, error: ApiError | None = None) -> int | None:
        """An integer parameter; malformed → ``InvalidParameter.<Name>`` unless an API-specific error is given."""
        value = self.get(name)
        if value is None:
            return default
        try:
            return int(value)
        except ValueError:
            raise error or invalid(name) from None

    def json(self, name: str, kind: type, error: ApiError) -> Any:
        """A parameter that carries JSON in a string (InstanceIds, Tags, Parameters): None when absent,
        ``error`` when it is not JSON or not of the ``kind`` (list, dict) the action takes."""
        value = self.get(name)
        if value is None:
            return None
        try:
            parsed = json.loads(value)
        except ValueError:
            raise error from None
        if not isinstance(parsed, kind):
            raise error
        return parsed

    def repeat(self, name: str) -> list[str]:
        """Reassemble ``Name.1``, ``Name.2`` … (ordered by N, gaps tolerated) into a list."""
        pattern = re.compile(rf"^{re.escape(name)}\.(\d+)$")
        found = sorted((int(m.group(1)), v) for k, v in self.raw.items() if (m := pattern.match(k)) and v != "")
        return [value for _index, value in found]

    def repeat_or_single(self, name: str) -> list[str]:
        """A single-valued filter as a list (empty when absent), to merge with its ``.N`` sibling."""
        value = self.get(name)
        return [] if value is None else [value]

    def structs(self, name: str) -> list[dict[str, str]]:
        """Reassemble ``Name.N.Field`` into ``[{Field: value}]`` ordered by N (e.g. Tag.1.Key/Tag.1.Value)."""
        pattern = re.compile(rf"^{re.escape(name)}\.(\d+)\.(\w+)$")
        items: dict[int, dict[str, str]] = {}
        for key, value in self.raw.items():
            if m := pattern.match(key):
                items.setdefault(int(m.group(1)), {})[m.group(2)] = value
        return [items[n] for n in sorted(items)]
