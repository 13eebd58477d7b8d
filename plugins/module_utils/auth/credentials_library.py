# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The bridge to the ``alibabacloud-credentials`` library, which makes the STS calls and runs External commands.

The library is imported only when a source needs it (it is slow to load); this module turns its results
into our ``Credential`` and its failures into messages that name the role and the service's code, never a
key, token or signed URL. It also presents one of our providers to the library as the base of an assumed role.
"""

from __future__ import annotations

import json
import logging
import re
import typing as t

from .credentials import Credential, CredentialProvider
from .errors import CloudError, ConfigError


class LibraryBase:
    """Our provider as the library's ICredentialsProvider, so a role is assumed on top of any source."""

    def __init__(self, provider: CredentialProvider) -> None:
        self._provider = provider

    def get_credentials(self) -> t.Any:
        from alibabacloud_credentials.provider.refreshable import Credentials
        held = self._provider.current()
        return Credentials(access_key_id=held.access_key_id, access_key_secret=held.access_key_secret,
                           security_token=held.security_token, provider_name="alicloud.ecs")

    def get_provider_name(self) -> str:
        return "alicloud.ecs"


def from_library(what: str, endpoint: str, make: t.Callable[[], t.Any], action: str = "") -> Credential:
    """Run one library fetch; its failures become our errors, without the signed URL its messages may carry."""
    try:
        from alibabacloud_credentials.exceptions import CredentialException
    except ImportError as error:
        raise ConfigError(f"{what} needs the alibabacloud-credentials Python package: {error}") from None
    # The library logs each failed refresh with its traceback to stderr, through a handler of its own on the
    # logger "credentials"; the failure reaches the operator once, as our error, instead.
    logging.getLogger("credentials").disabled = True
    try:
        got = make().get_credentials()
    except CredentialException as error:
        raise refusal(what, str(error), action) from None
    except (ConfigError, CloudError):
        raise
    except ValueError as error:
        raise ConfigError(f"{what}: {error}") from None
    except Exception as error:  # the library raises the HTTP stack's own errors, whose text holds the signed URL
        raise ConfigError(f"{what}: cannot reach {endpoint} ({type(error).__name__})") from None
    expiration = got.get_expiration()
    return Credential(got.get_access_key_id(), got.get_access_key_secret(), got.get_security_token() or None,
                      float(expiration) if expiration else None)


def refusal(what: str, text: str, action: str) -> Exception:
    """The service's answer inside a library message (``... result: {json}``) as a CloudError with its code.

    An answer whose code is ``Success`` but which lacks a field is no refusal: it becomes a ConfigError. The
    library's own text names the URI it called, whose query may carry a token: the query is left out.
    """
    match = re.search(r"result: (\{.*\})\s*$", text, re.DOTALL)
    if match:
        try:
            body = json.loads(match.group(1))
        except ValueError:
            body = {}
        if isinstance(body, dict) and body.get("Code") and body["Code"] != "Success":
            return CloudError(str(body["Code"]), f"{what} refused: {body.get('Message', '')}", action=action,
                              request_id=body.get("RequestId"),
                              http_status=_int(re.search(r"http_code[:=] ?(\d+)", text)))
    said = re.sub(r"result: .*", "", text, flags=re.DOTALL).strip()
    said = re.sub(r"(https?://[^\s?#]*)[?#][^\s,]*", r"\1", said).rstrip(",")
    return ConfigError(f"{what}: {said}")


def _int(match: re.Match[str] | None) -> int | None:
    return int(match.group(1)) if match else None
