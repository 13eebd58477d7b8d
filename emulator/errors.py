"""API errors and the error envelope; one exception type so handlers can fail from anywhere."""
from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error the gateway/service would return: raised by handlers, rendered by the server."""

    def __init__(self, code: str, message: str, http_status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.http_status = http_status


def envelope(err: ApiError, request_id: str, host_id: str) -> dict[str, Any]:
    """Build the exact body the real gateway sends (docs/api-contract.md#wire-protocol); the SDK reads Code/Message/RequestId."""
    return {
        "RequestId": request_id,
        "HostId": host_id,
        "Code": err.code,
        "Message": err.message,
        "Recommend": f"https://api.aliyun.com/troubleshoot?q={err.code}&product=Ecs&requestId={request_id}",
    }


def missing(name: str) -> ApiError:
    """Generic gateway error for a missing mandatory parameter (docs/api-contract.md#api-error-codes)."""
    return ApiError("MissingParameter",
                    f'The input parameter "{name}" that is mandatory for processing this request is not supplied.')


def invalid(name: str, code: str | None = None, http_status: int = 400) -> ApiError:
    """Generic invalid-parameter error; ``code`` overrides the default ``InvalidParameter.<Name>``."""
    return ApiError(code or f"InvalidParameter.{name}", f'The specified parameter "{name}" is not valid.', http_status)


def invalid_action() -> ApiError:
    """Unknown Action (404 observed on the real gateway)."""
    return ApiError("InvalidAction.NotFound", "Specified api is not found, please check your url and method.", 404)


def region_not_found() -> ApiError:
    """RegionId not in the fleet."""
    return ApiError("InvalidRegionId.NotFound", "The RegionId provided does not exist in our records.", 404)
