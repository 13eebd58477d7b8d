"""The explicit Action → handler tables, one per API version (OOS 2019-06-01 slots in here later)."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .cloud_assistant import commands, files, responses as ca
from .ecs import events, power, tags, responses as ecs
from .oos import executions, parameters, tasks, templates
from .protocol import Params
from .session import api as session
from . import sts

if TYPE_CHECKING:
    from .handler_context import Services

Handler = Callable[["Services", Params], dict[str, Any]]

ECS: dict[str, Handler] = {
    "DescribeRegions": ecs.describe_regions,
    "DescribeInstances": ecs.describe_instances,
    "DescribeCloudAssistantStatus": ecs.describe_cloud_assistant_status,
    "StartInstance": power.start_instance,
    "StopInstance": power.stop_instance,
    "RebootInstance": power.reboot_instance,
    "InstallCloudAssistant": power.install_cloud_assistant,
    "GetInstanceConsoleOutput": power.get_instance_console_output,
    "DescribeInstancesFullStatus": events.describe_instances_full_status,
    "DescribeInstanceHistoryEvents": events.describe_instance_history_events,
    "TagResources": tags.tag_resources,
    "ListTagResources": tags.list_tag_resources,
    "RunCommand": ca.run_command,
    "InvokeCommand": ca.invoke_command,
    "CreateCommand": commands.create_command,
    "ModifyCommand": commands.modify_command,
    "DeleteCommand": commands.delete_command,
    "DescribeCommands": commands.describe_commands,
    "DescribeInvocations": ca.describe_invocations,
    "DescribeInvocationResults": ca.describe_invocation_results,
    "StopInvocation": ca.stop_invocation,
    "SendFile": files.send_file,
    "DescribeSendFileResults": files.describe_send_file_results,
    "StartTerminalSession": session.start_terminal_session,
    "DescribeTerminalSessions": session.describe_terminal_sessions,
    "EndTerminalSession": session.end_terminal_session,
    "ModifyCloudAssistantSettings": session.modify_cloud_assistant_settings,
    "DescribeCloudAssistantSettings": session.describe_cloud_assistant_settings,
}

OOS: dict[str, Handler] = {
    "StartExecution": executions.start_execution,
    "ListExecutions": executions.list_executions,
    "CancelExecution": executions.cancel_execution,
    "NotifyExecution": executions.notify_execution,
    "ListTaskExecutions": tasks.list_task_executions,
    "CreateTemplate": templates.create_template,
    "UpdateTemplate": templates.update_template,
    "DeleteTemplate": templates.delete_template,
    "GetTemplate": templates.get_template,
    "ListTemplates": templates.list_templates,
    "CreateParameter": parameters.create_parameter,
    "CreateSecretParameter": parameters.create_secret_parameter,
    "UpdateParameter": parameters.update_parameter,
    "UpdateSecretParameter": parameters.update_secret_parameter,
    "DeleteParameter": parameters.delete_parameter,
    "DeleteSecretParameter": parameters.delete_secret_parameter,
    "GetParameter": parameters.get_parameter,
    "GetParameters": parameters.get_parameters,
    "GetSecretParameter": parameters.get_secret_parameter,
    "GetSecretParameters": parameters.get_secret_parameters,
    "ListParameters": parameters.list_parameters,
    "ListSecretParameters": parameters.list_secret_parameters,
}

VERSIONS: dict[str, dict[str, Handler]] = {"2014-05-26": ECS, "2019-06-01": OOS, sts.VERSION: sts.ACTIONS}

# Actions whose ClientToken makes a retry return the first result instead of running twice (docs/api-contract.md#idempotency).
IDEMPOTENT = frozenset({"RunCommand", "InvokeCommand", "CreateCommand", "SendFile", "StartExecution"})
