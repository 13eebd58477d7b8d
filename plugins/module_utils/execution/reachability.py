# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which failures mean the instance could not be reached, and which belong to the task.

As with ssh, a host is UNREACHABLE only when nothing could be run there: the API endpoint does not
answer (after the retry budget), the credentials are refused, the instance is not Running, or its
Cloud Assistant agent does not take the command. Anything that happened after the command started
(it failed, it timed out, it was stopped) is a task failure, so ``ignore_errors``, ``rescue`` and
``until`` handle it. The decision is made on the service's codes, never on message text.
"""

from __future__ import annotations

from ..api.client import CloudClient, Json
from ..api.errors import CloudError, is_error_code
from ..api.retries import is_retryable

# Per-instance ErrorCodes (docs/api-contract.md#per-instance-error-codes, #sendfile) that say the agent never got to run anything.
AGENT_UNREACHABLE_CODES = frozenset({
    "InstanceNotExists", "InstanceReleased", "InstanceNotRunning", "ClientNotRunning", "ClientNotResponse",
    "ClientIsUpgrading", "ClientNeedUpgrade", "DeliveryTimeout", "SecurityGroupRuleDenied",
})
# API codes (and their dotted children) of credentials the service refused.
CREDENTIAL_CODES = ("SignatureDoesNotMatch", "InvalidAccessKeyId", "IncompleteSignature", "InvalidSecurityToken",
                    "Forbidden.AccessKeyDisabled", "Forbidden.RAM", "InvalidTimeStamp")
# API codes of a RunCommand/SendFile refused because of the instance itself (stopped, gone, no agent).
INSTANCE_CODES = ("InvalidInstance", "InvalidInstanceStatus", "IncorrectInstanceStatus", "InvalidInstanceId")


def api_error_is_unreachable(error: CloudError) -> bool:
    """A failed API call that leaves the instance out of reach (as opposed to a bad request)."""
    return is_retryable(error) or is_error_code(error, *CREDENTIAL_CODES, *INSTANCE_CODES)


def refused_for_the_instance(error: CloudError) -> bool:
    """The call was refused because of the instance: its state is worth looking up to say why."""
    return is_error_code(error, *INSTANCE_CODES)


def agent_error_is_unreachable(error_code: str) -> bool:
    """An invocation's per-instance ErrorCode saying the command never ran there."""
    return error_code in AGENT_UNREACHABLE_CODES


def instance_state(client: CloudClient, instance_id: str) -> str | None:
    """In plain words why an instance cannot run commands, or None when it is Running (or unknown).

    Asked only after a refusal, so the lookup's own failure must not hide the refusal: it gives None.
    """
    try:
        found = client.call("DescribeInstances", InstanceIds=Json([instance_id]), budget=10)
    except CloudError:
        return None
    instances = (found.get("Instances") or {}).get("Instance") or []
    if not instances:
        return f"instance {instance_id} does not exist in region {client.region}"
    status = instances[0].get("Status") or "unknown"
    if status != "Running":
        return f"instance {instance_id} is {status} (not Running)"
    return None
