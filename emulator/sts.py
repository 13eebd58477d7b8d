"""STS (2015-04-01): AssumeRole, AssumeRoleWithOIDC, GetCallerIdentity, and the temporary keys they issue.

Roles, who may assume them (``trusted``: access key ids, role ARNs for role chaining, OIDC provider ARNs)
and OIDC providers come from the fleet file. Issued keys join the fleet's keys with their token and expiry,
so the ECS API accepts them until they expire and then answers ``InvalidSecurityToken.Expired``.

⚠ Verified against public docs: the action names, parameters, the DurationSeconds range (900 s up to the role's
maximum session duration), the response shapes, and the codes NoPermission, InvalidParameter.DurationSeconds,
InvalidParameter.RoleSessionName, AuthenticationFail.NoPermission and AuthenticationFail.OIDCToken.Invalid.
Unverified: the HTTP statuses of NoPermission (403 here) and EntityNotExist.Role (404 here), and the exact
message texts. ``token_lifetime`` on a role is an emulator-only knob that shortens what is issued (whatever
DurationSeconds asked), so tests can outlive several token lifetimes in seconds.
"""
from __future__ import annotations

import re
import secrets
import threading
import time
from typing import TYPE_CHECKING, Any

from .clock import iso_seconds
from .errors import ApiError
from .protocol import Params

if TYPE_CHECKING:
    from .handler_context import Services

VERSION = "2015-04-01"
DEFAULT_ACCOUNT = "1234567890123456"
SESSION_NAME = re.compile(r"^[\w.@-]{2,64}$")
_LOCK = threading.Lock()


def account_of(arn: str) -> str:
    """The account id inside ``acs:ram::<account>:...``."""
    parts = arn.split(":")
    return parts[3] if len(parts) > 4 and parts[3] else DEFAULT_ACCOUNT


def issue(emu: Services, role: dict[str, Any], session: str, lifetime: float) -> dict[str, Any]:
    """A new temporary key for ``role``: registered with the fleet's keys, valid for ``lifetime`` seconds."""
    key_id = "STS.NT" + secrets.token_hex(12)
    secret = secrets.token_urlsafe(30)
    token = "CAIS" + secrets.token_urlsafe(90)
    expires = time.time() + lifetime
    with _LOCK:
        emu.fleet.access_keys[key_id] = secret
        emu.fleet.sts_tokens[key_id] = (token, expires)
        emu.sts_sessions[key_id] = {"role": role["arn"], "session": session}
    return {"AccessKeyId": key_id, "AccessKeySecret": secret, "SecurityToken": token,
            "Expiration": iso_seconds(expires)}


def _role(emu: Services, p: Params) -> dict[str, Any]:
    arn = p.require("RoleArn")
    role = emu.fleet.roles.get(arn.lower())
    if role is None:
        raise ApiError("EntityNotExist.Role", f"The role not exists: {arn}.", 404)
    return role


def _duration(p: Params, role: dict[str, Any]) -> int:
    maximum = int(role.get("max_session_duration", 3600))
    duration = p.integer("DurationSeconds", 3600, ApiError(
        "InvalidParameter.DurationSeconds", f"The Min/Max value of DurationSeconds is 15min/{maximum // 60}min."))
    assert duration is not None
    if not 900 <= duration <= maximum:
        raise ApiError("InvalidParameter.DurationSeconds",
                       f"The Min/Max value of DurationSeconds is 15min/{maximum // 60}min.")
    return duration


def _session_name(p: Params) -> str:
    name = p.require("RoleSessionName")
    if not SESSION_NAME.match(name):
        raise ApiError("InvalidParameter.RoleSessionName", "The parameter RoleSessionName is wrongly formed.")
    return name


def _answer(emu: Services, role: dict[str, Any], session: str, duration: int) -> dict[str, Any]:
    lifetime = float(role.get("token_lifetime") or duration)
    credentials = issue(emu, role, session, lifetime)
    return {"AssumedRoleUser": {"AssumedRoleId": f"{role['id']}:{session}", "Arn": f"{role['arn']}/{session}"},
            "Credentials": credentials}


def assume_role(emu: Services, p: Params) -> dict[str, Any]:
    """AssumeRole by a trusted principal: a permanent key, or the session of a trusted role (chaining)."""
    role = _role(emu, p)
    session = _session_name(p)
    duration = _duration(p, role)
    caller = p.require("AccessKeyId")
    principal = emu.sts_sessions.get(caller, {}).get("role", caller)
    trusted = {str(item).lower() for item in role.get("trusted") or []}
    if principal.lower() not in trusted and "*" not in trusted:
        raise ApiError("NoPermission", "You are not authorized to do this action. You should be authorized by RAM.",
                       403)
    if role.get("external_id") and p.get("ExternalId") != str(role["external_id"]):
        raise ApiError("NoPermission", "You are not authorized to do this action. You should be authorized by RAM.",
                       403)
    policy = p.get("Policy")
    if policy is not None and len(policy) > 2048:
        raise ApiError("InvalidParameter.PolicyGrammar", "The parameter Policy has not passed grammar check.")
    return _answer(emu, role, session, duration)


def assume_role_with_oidc(emu: Services, p: Params) -> dict[str, Any]:
    """AssumeRoleWithOIDC: unsigned; the OIDC token must be one the fleet lists for a provider the role trusts."""
    provider_arn = p.require("OIDCProviderArn")
    provider = emu.fleet.oidc_providers.get(provider_arn.lower())
    if provider is None:
        raise ApiError("AuthenticationFail.NoPermission", "No such OIDC Provider registered.", 401)
    token = p.get("OIDCToken")
    if token is None:
        raise ApiError("AuthenticationFail.OIDCToken.Invalid", "The OIDCToken can not empty.", 401)
    if token.strip() not in provider["tokens"]:
        raise ApiError("AuthenticationFail.OIDCToken.InvalidSignature",
                       "OIDC token validate failed: invalid signature.", 401)
    role = _role(emu, p)
    session = _session_name(p)
    duration = _duration(p, role)
    if provider_arn.lower() not in {str(item).lower() for item in role.get("trusted") or []}:
        raise ApiError("AuthenticationFail.NoPermission", "There is no permission", 401)
    return {**_answer(emu, role, session, duration),
            "OIDCTokenInfo": {"Issuer": provider.get("issuer", "https://oidc.example"), "Subject": "emulator"}}


def get_caller_identity(emu: Services, p: Params) -> dict[str, Any]:
    """Who signed the request: a RAM user's key, or an assumed role's session."""
    caller = p.require("AccessKeyId")
    session = emu.sts_sessions.get(caller)
    if session is None:
        return {"IdentityType": "RAMUser", "AccountId": DEFAULT_ACCOUNT, "PrincipalId": caller, "UserId": caller,
                "Arn": f"acs:ram::{DEFAULT_ACCOUNT}:user/{caller}"}
    role = emu.fleet.roles.get(session["role"].lower(), {"id": "", "arn": session["role"]})
    return {"IdentityType": "AssumedRoleUser", "AccountId": account_of(session["role"]),
            "PrincipalId": f"{role.get('id', '')}:{session['session']}", "RoleId": role.get("id", ""),
            "Arn": f"{session['role']}/{session['session']}".replace(":role/", ":assumed-role/")}


ACTIONS = {"AssumeRole": assume_role, "AssumeRoleWithOIDC": assume_role_with_oidc,
           "GetCallerIdentity": get_caller_identity}
ANONYMOUS = frozenset({"AssumeRoleWithOIDC"})
