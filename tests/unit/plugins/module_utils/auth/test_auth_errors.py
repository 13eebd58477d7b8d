"""The two error types live in auth (the bottom layer) and are the very same classes every layer above imports
from api.errors, so an error raised by a credential source is caught by any caller's ``except``."""

from __future__ import annotations

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.api import errors as api_errors
from ansible_collections.alicloud.ecs.plugins.module_utils.auth import errors as auth_errors
from ansible_collections.alicloud.ecs.plugins.module_utils.auth.role_sources import RoleSpec


def test_api_errors_offers_the_auth_classes_themselves() -> None:
    assert api_errors.CloudError is auth_errors.CloudError
    assert api_errors.ConfigError is auth_errors.ConfigError
    assert issubclass(api_errors.ConfigError, ValueError)


def test_a_credential_sources_refusal_is_caught_as_the_api_layers_error() -> None:
    with pytest.raises(api_errors.ConfigError, match="assume_role_duration"):
        RoleSpec("acs:ram::1:role/r", duration=1).validate()
    error = auth_errors.CloudError("NoPermission", "denied", action="AssumeRole", request_id="R-1", http_status=403,
                                   access_key_id="LTAI.k")
    assert api_errors.is_error_code(error, "NoPermission")
    assert str(error) == "AssumeRole failed: NoPermission: denied (access key id LTAI.k, HTTP 403, request id R-1)"
    assert error.to_dict() == {"code": "NoPermission", "message": "denied", "action": "AssumeRole",
                               "request_id": "R-1", "http_status": 403}
