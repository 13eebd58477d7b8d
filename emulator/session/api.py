"""StartTerminalSession, DescribeTerminalSessions, EndTerminalSession, and the Session Manager switch of
ModifyCloudAssistantSettings / DescribeCloudAssistantSettings (ECS 2014-05-26). Error codes the public reference
does not list are marked ⚠ where chosen."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ..errors import ApiError, missing
from ..pagination import paginate
from ..protocol import Params
from .manager import INSTANCE_SESSIONS

if TYPE_CHECKING:
    from ..handler_context import Services

COMMAND_LINE_LIMIT = 512
INSTANCE_LIMIT = 10  # InstanceId.N takes 1 to 10 ids (API reference); the emulator connects one ⚠
CONNECTION_TYPES = ("Internet", "Intranet")
USERNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,254}$")
DISABLED = ApiError("InvalidOperation.SessionManagerDisabled",  # ⚠ code not in the public reference
                    "The Session Manager of this account is not enabled; enable it with ModifyCloudAssistantSettings.",
                    403)
SETTING_TYPES = ("SessionManagerConfig", "AgentUpgradeConfig", "OssDeliveryConfig", "SlsDeliveryConfig")


def start_terminal_session(emu: Services, p: Params) -> dict[str, Any]:
    """StartTerminalSession: checks every parameter, then the switch, then the instance (Running, agent online)."""
    region = emu.region(p)
    ids = p.repeat("InstanceId")
    if not ids:
        raise missing("InstanceId.N")
    if len(ids) > INSTANCE_LIMIT:
        raise ApiError("InstanceIds.ExceedLimit", "The count of instance ids exceeds the limit.", 403)
    if len(set(ids)) > 1:  # ⚠ the emulator opens a shell on one instance per session
        raise ApiError("InvalidParameter.InstanceId", "The emulator connects a session to one instance.")
    command_line = p.get("CommandLine") or ""
    if len(command_line) > COMMAND_LINE_LIMIT:
        raise ApiError("InvalidParameter.CommandLine",  # ⚠ code
                       f"The specified parameter CommandLine exceeds {COMMAND_LINE_LIMIT} characters.")
    username = check_username(p.get("Username") or "")
    connection_type = p.get("ConnectionType") or "Internet"
    if connection_type not in CONNECTION_TYPES:
        raise ApiError("InvalidParameter.ConnectionType", 'The specified parameter "ConnectionType" is not valid.')
    if p.get("PortNumber") is not None or p.get("TargetServer") is not None:
        check_port(p)
    if emu.options.session_manager != "on":
        raise DISABLED
    instance = emu.instances.get(ids[0])
    if instance is None or instance["region"] != region:
        raise ApiError("InvalidInstance.NotFound", "The specified instance does not exist.", 404)
    if instance["status"] != "Running":
        raise ApiError("IncorrectInstanceStatus", "The current status of the resource does not support this "
                       "operation.", 403)  # the usual ECS code for an instance in the wrong state ⚠
    if instance["agent"] != "online":
        raise ApiError("InvalidInstance.NotOnline", "The Cloud Assistant agent of the instance is not online.",
                       403)  # ⚠ code
    sessions = emu.sessions
    if sessions.live(instance["id"]) >= INSTANCE_SESSIONS:
        raise ApiError("SessionCount.ExceedLimit", f"The instance already has {INSTANCE_SESSIONS} sessions open.",
                       403)  # ⚠ code; the limit is documented
    session = sessions.create(region, instance["id"], username, command_line, connection_type)
    return {"SessionId": session.id, "SecurityToken": session.token, "WebSocketUrl": sessions.url(session)}


def check_username(username: str) -> str:
    """Username: a plain account name, never root (the sessions run as ecs-assist-user or a named user ⚠: the
    agent's source would run root, the emulator refuses it as issue #28 asks)."""
    if not username:
        return ""
    if not USERNAME.match(username):
        raise ApiError("InvalidParameter.Username", 'The specified parameter "Username" is not valid.')  # ⚠ code
    if username == "root":
        raise ApiError("InvalidParameter.Username", "Sessions never run as root: give another Username or none "
                       "(ecs-assist-user, with passwordless sudo).")  # ⚠
    return username


def check_port(p: Params) -> None:
    """PortNumber (1 to 65535) and TargetServer are checked; port forwarding itself is not emulated."""
    port = p.integer("PortNumber", None, ApiError("InvalidParameter.PortNumber",
                                                  'The specified parameter "PortNumber" is not valid.'))
    if port is not None and not 1 <= port <= 65535:
        raise ApiError("InvalidParameter.PortNumber", 'The specified parameter "PortNumber" is not valid.')
    raise ApiError("Emulator.Unsupported", "Port forwarding (PortNumber, TargetServer) is not emulated.")


def describe_terminal_sessions(emu: Services, p: Params) -> dict[str, Any]:
    """DescribeTerminalSessions: newest first, filtered by SessionId and InstanceId, NextToken/MaxResults paging
    (MaxResults 1 to 100, default 10)."""
    region = emu.region(p)
    session_id, instance_id = p.get("SessionId"), p.get("InstanceId")
    found = [s for s in emu.sessions.all() if matches(s, region, session_id, instance_id)]
    page, counters = paginate(found, Params({k: v for k, v in p.raw.items() if k != "PageNumber"}), max_size=100)
    return {"NextToken": counters["NextToken"],
            "Sessions": {"Session": [emu.sessions.describe(s) for s in page]}}


def matches(session: Any, region: str, session_id: str | None, instance_id: str | None) -> bool:
    """A session of the region passing the SessionId and InstanceId filters (absent = any)."""
    return all((session.region == region, session_id in (None, session.id), instance_id in (None, session.instance_id)))


def end_terminal_session(emu: Services, p: Params) -> dict[str, Any]:
    """EndTerminalSession: the session ends (terminal killed, websocket closed, URL no longer valid)."""
    region = emu.region(p)
    session_id = p.require("SessionId")
    session = emu.sessions.get(session_id)
    if session is None or session.region != region:
        raise ApiError("InvalidSessionId.NotFound", "The specified session does not exist.", 404)  # ⚠ code
    emu.sessions.end(session, "Exit")
    return {}


def modify_cloud_assistant_settings(emu: Services, p: Params) -> dict[str, Any]:
    """ModifyCloudAssistantSettings: only SessionManagerConfig.SessionManagerEnabled does something here; the
    other setting types are accepted and ignored."""
    emu.region(p)
    setting = p.require("SettingType")
    if setting not in SETTING_TYPES:
        raise ApiError("InvalidParameter.SettingType", 'The specified parameter "SettingType" is not valid.')
    if setting == "SessionManagerConfig":
        enabled = p.get("SessionManagerConfig.SessionManagerEnabled")
        if enabled is None:
            raise missing("SessionManagerConfig.SessionManagerEnabled")
        if enabled.lower() not in ("true", "false"):
            raise ApiError("InvalidParameter.SessionManagerEnabled",
                           'The specified parameter "SessionManagerConfig.SessionManagerEnabled" is not valid.')
        emu.options.session_manager = "on" if enabled.lower() == "true" else "off"
    return {}


def describe_cloud_assistant_settings(emu: Services, p: Params) -> dict[str, Any]:
    """DescribeCloudAssistantSettings: the Session Manager switch (SettingType.N must name the types wanted)."""
    emu.region(p)
    wanted = p.repeat("SettingType")
    if not wanted:
        raise missing("SettingType.N")
    answer: dict[str, Any] = {}
    if "SessionManagerConfig" in wanted:
        answer["SessionManagerConfig"] = {"SessionManagerEnabled": emu.options.session_manager == "on"}
    return answer
