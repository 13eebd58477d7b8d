"""Signature V3 (``ACS3-HMAC-SHA256``, docs/api-contract.md#wire-protocol): what the Tea SDK (``alibabacloud-ecs20140526``) sends by
default — signed headers instead of signed query parameters."""
from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Mapping

from .clock import parse_timestamp
from .errors import ApiError
from .protocol import TIMESTAMP_WINDOW, NonceCache, accept_signature, percent_encode

ALGORITHM = "ACS3-HMAC-SHA256"
AUTHORIZATION = re.compile(rf"^{ALGORITHM}\s+Credential=([^,]+),\s*SignedHeaders=([^,]+),\s*Signature=([0-9a-f]+)$")


def is_v3(headers: Mapping[str, str]) -> bool:
    """A V3 request carries ``Authorization: ACS3-HMAC-SHA256 …``."""
    return headers.get("authorization", "").startswith(ALGORITHM)


def canonical_request(method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str],
                      signed: list[str], payload_hash: str) -> str:
    """METHOD, path, sorted encoded query, the signed headers (name:trimmed value), their names, payload hash."""
    canonical_query = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(query.items()))
    canonical_headers = "".join(f"{h}:{headers.get(h, '').strip()}\n" for h in signed)
    return "\n".join([method.upper(), path or "/", canonical_query, canonical_headers, ";".join(signed),
                      payload_hash])


def authenticate_v3(method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str], body: bytes,
                    keys: Mapping[str, str], nonces: NonceCache, check_time: bool = True) -> str:
    """Verify a V3 request like the gateway does; returns the AccessKeyId or raises ApiError (the error codes are
    V1's: ⚠ the V3 gateway's own wording is not in the API reference)."""
    match = AUTHORIZATION.match(headers.get("authorization", "").strip())
    if match is None:
        raise ApiError("IncompleteSignature", "The request signature does not conform to Alibaba Cloud standards.")
    key_id, signed_text, signature = match.groups()
    if key_id not in keys:
        raise ApiError("InvalidAccessKeyId.NotFound", "Specified access key is not found.", 404)
    date = headers.get("x-acs-date")
    if not date:
        raise ApiError("IllegalTimestamp", 'The input parameter "x-acs-date" that is mandatory for processing this '
                       "request is not supplied.")
    try:
        ts = parse_timestamp(date)
    except ValueError:
        raise ApiError("InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted.") from None
    if check_time and abs(time.time() - ts) > TIMESTAMP_WINDOW:
        raise ApiError("InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.")
    payload_hash = hashlib.sha256(body).hexdigest()
    if headers.get("x-acs-content-sha256", payload_hash) != payload_hash:
        raise ApiError("SignatureDoesNotMatch", "The x-acs-content-sha256 header does not match the request body.")
    signed = [h.strip().lower() for h in signed_text.split(";") if h.strip()]
    canonical = canonical_request(method, path, query, headers, signed, headers.get("x-acs-content-sha256",
                                                                                    payload_hash))
    sts = f"{ALGORITHM}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    expected = hmac.new(keys[key_id].encode(), sts.encode(), hashlib.sha256).hexdigest()
    accept_signature(expected, signature, sts, headers.get("x-acs-signature-nonce", ""), nonces)
    return key_id
