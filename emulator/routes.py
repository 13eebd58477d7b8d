"""The explicit Action → handler tables, one per API version (OOS 2019-06-01 slots in here later)."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .cloud_assistant import files, responses as ca
from .ecs import responses as ecs
from .protocol import Params

if TYPE_CHECKING:
    from .app import Emulator

Handler = Callable[["Emulator", Params], dict[str, Any]]

ECS: dict[str, Handler] = {
    "DescribeRegions": ecs.describe_regions,
    "DescribeInstances": ecs.describe_instances,
    "DescribeCloudAssistantStatus": ecs.describe_cloud_assistant_status,
    "RunCommand": ca.run_command,
    "DescribeInvocations": ca.describe_invocations,
    "DescribeInvocationResults": ca.describe_invocation_results,
    "StopInvocation": ca.stop_invocation,
    "SendFile": files.send_file,
    "DescribeSendFileResults": files.describe_send_file_results,
}

OOS: dict[str, Handler] = {}

VERSIONS: dict[str, dict[str, Handler]] = {"2014-05-26": ECS, "2019-06-01": OOS}

# Actions whose ClientToken makes a retry return the first result instead of running twice (contract §2.17).
IDEMPOTENT = frozenset({"RunCommand", "SendFile"})
