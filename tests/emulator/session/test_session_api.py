"""Session Manager API calls: parameter checks, the Session Manager switch, the websocket's token check, and the
states DescribeTerminalSessions shows (docs/emulator.md, Session Manager)."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from ws_client import INPUT, STATUS, Client, HandshakeRefused, terminal_started

from emulator.testing import EmulatorProcess, wait_for

REGION = "cn-hangzhou"


def refused(call: Callable[[], Any]) -> tuple[str, int]:
    """(error code, HTTP status) of a call that must fail."""
    with pytest.raises(ServerException) as info:
        call()
    return info.value.get_error_code(), info.value.get_http_status()


def describe(api: Callable[..., dict[str, Any]], **params: Any) -> list[dict[str, Any]]:
    """DescribeTerminalSessions' sessions."""
    return api("DescribeTerminalSessions", RegionId=REGION, **params)["Sessions"]["Session"]


def status_of(api: Callable[..., dict[str, Any]], session_id: str) -> dict[str, Any]:
    """The one connection of a session."""
    return describe(api, SessionId=session_id)[0]["Connections"]["Connection"][0]


def test_start_returns_the_url_and_token(start: Callable[..., dict[str, Any]], emu: EmulatorProcess) -> None:
    body = start()
    assert body["SessionId"].startswith("s-") and len(body["SecurityToken"]) >= 32
    assert body["WebSocketUrl"] == f"ws://127.0.0.1:{emu.port}/session/{body['SessionId']}"
    assert emu.counters()["StartTerminalSession"] >= 1


@pytest.mark.parametrize(("params", "code", "status"), [
    ({}, "MissingParameter", 400),
    ({"InstanceId.1": "i-nope"}, "InvalidInstance.NotFound", 404),
    ({"InstanceId.1": "{web-1}", "CommandLine": "x" * 513}, "InvalidParameter.CommandLine", 400),
    ({"InstanceId.1": "{web-1}", "Username": "root"}, "InvalidParameter.Username", 400),
    ({"InstanceId.1": "{web-1}", "Username": "a b"}, "InvalidParameter.Username", 400),
    ({"InstanceId.1": "{web-1}", "ConnectionType": "Carrier"}, "InvalidParameter.ConnectionType", 400),
    ({"InstanceId.1": "{web-1}", "PortNumber": "70000"}, "InvalidParameter.PortNumber", 400),
    ({"InstanceId.1": "{web-1}", "PortNumber": "22"}, "Emulator.Unsupported", 400),
    ({"InstanceId.1": "{stopped-1}"}, "IncorrectInstanceStatus", 403),
    ({"InstanceId.1": "{sh-1}"}, "InvalidInstance.NotFound", 404),
    ({f"InstanceId.{n}": f"i-{n}" for n in range(1, 12)}, "InstanceIds.ExceedLimit", 403),
])
def test_start_checks_its_parameters(api: Callable[..., dict[str, Any]], ids: dict[str, str],
                                     params: dict[str, str], code: str, status: int) -> None:
    filled = {k: ids[v[1:-1]] if v.startswith("{") else v for k, v in params.items()}
    assert refused(lambda: api("StartTerminalSession", RegionId=REGION, **filled)) == (code, status)


def test_command_line_of_512_characters_is_accepted(start: Callable[..., dict[str, Any]]) -> None:
    assert start(CommandLine="echo " + "x" * 507)["SessionId"]


def test_offline_agent_is_refused(emu: EmulatorProcess, start: Callable[..., dict[str, Any]],
                                  ids: dict[str, str]) -> None:
    emu.set_instance(ids["web-2"], agent="offline")
    try:
        assert refused(lambda: start("web-2")) == ("InvalidInstance.NotOnline", 403)
    finally:
        emu.set_instance(ids["web-2"], agent="online")


def test_session_manager_switch(api: Callable[..., dict[str, Any]], start: Callable[..., dict[str, Any]],
                                emu: EmulatorProcess) -> None:
    """ModifyCloudAssistantSettings turns Session Manager off and on; off refuses every new session."""
    api("ModifyCloudAssistantSettings", RegionId=REGION, SettingType="SessionManagerConfig",
        **{"SessionManagerConfig.SessionManagerEnabled": "false"})
    settings = api("DescribeCloudAssistantSettings", RegionId=REGION, **{"SettingType.1": "SessionManagerConfig"})
    assert settings["SessionManagerConfig"] == {"SessionManagerEnabled": False}
    assert refused(start) == ("InvalidOperation.SessionManagerDisabled", 403)
    api("ModifyCloudAssistantSettings", RegionId=REGION, SettingType="SessionManagerConfig",
        **{"SessionManagerConfig.SessionManagerEnabled": "true"})
    assert start()["SessionId"]
    emu.control("PATCH", "options", {"session_manager": "off"})  # the control API's switch
    assert refused(start) == ("InvalidOperation.SessionManagerDisabled", 403)
    assert refused(lambda: api("ModifyCloudAssistantSettings", RegionId=REGION, SettingType="SessionManagerConfig")) \
        == ("MissingParameter", 400)


def test_cli_flags() -> None:
    """``--session-manager off`` (python -m emulator serve/run): StartTerminalSession is refused from the start;
    ``--latency-ms`` is the latency the faults show, also after a reset."""
    from aliyunsdkcore.client import AcsClient
    from emulator_helpers import FLEET, KEY_ID, SECRET, sdk_call
    with EmulatorProcess(fleet=FLEET, session_manager="off", latency_ms=40) as other:
        client = AcsClient(KEY_ID, SECRET, REGION, proxy={"http": "", "https": ""})
        iid = other.instance_id("web-1")
        assert refused(lambda: sdk_call(client, other.endpoint, "StartTerminalSession", RegionId=REGION,
                                        **{"InstanceId.1": iid})) == ("InvalidOperation.SessionManagerDisabled", 403)
        assert other.control("GET", "faults")["latency_ms"] == 40  # --latency-ms sets the model's latency
        other.reset()
        assert other.control("GET", "faults")["latency_ms"] == 40  # and a reset goes back to it


def test_websocket_needs_the_token(start: Callable[..., dict[str, Any]]) -> None:
    """The token travels in x-acs-session-token (ali-instance-cli, agent/session/plugin/client.go Connect); without
    it, or with another session's, the upgrade is refused with 401 before anything starts."""
    body, other = start(), start()
    for token in (None, "", other["SecurityToken"]):
        with pytest.raises(HandshakeRefused) as info:
            Client(body["WebSocketUrl"], token)
        assert info.value.status == 401
    client = Client(body["WebSocketUrl"], body["SecurityToken"])
    try:
        with pytest.raises(HandshakeRefused) as info:  # one connection per session
            Client(body["WebSocketUrl"], body["SecurityToken"])
        assert info.value.status == 410
    finally:
        client.close()


def test_states_through_a_session(emu: EmulatorProcess, api: Callable[..., dict[str, Any]],
                                  start: Callable[..., dict[str, Any]], ids: dict[str, str]) -> None:
    """Connecting until the websocket comes, Connected while it is open, Terminated after EndTerminalSession (the
    client gets the closing status, then the close frame) and its URL no longer opens."""
    body = start()
    sid = body["SessionId"]
    assert status_of(api, sid)["Status"] == "Connecting"
    client = Client(body["WebSocketUrl"], body["SecurityToken"])
    wait_for(lambda: terminal_started(emu, sid), "the terminal", step=0.02)
    client.send(INPUT, b"echo ready\n")
    client.read_until(b"ready\r\n")
    connection = status_of(api, sid)
    assert connection["Status"] == "Connected" and connection["InstanceId"] == ids["web-1"]
    assert connection["StartTime"].endswith("Z")
    api("EndTerminalSession", RegionId=REGION, SessionId=sid)
    messages = client.drain()
    assert [m["payload"] for m in messages if m["kind"] == STATUS] == [b"\x05Exit"]
    assert client.close_code == 1000
    assert messages[-1]["session_id"] == sid and messages[-1]["instance_id"] == ids["web-1"]
    connection = status_of(api, sid)
    assert connection["Status"] == "Terminated" and connection["EndTime"] and connection["ClosedReason"] == "Exit"
    with pytest.raises(HandshakeRefused) as info:
        Client(body["WebSocketUrl"], body["SecurityToken"])
    assert info.value.status == 410


def test_a_session_never_connected_can_be_ended(api: Callable[..., dict[str, Any]],
                                                start: Callable[..., dict[str, Any]]) -> None:
    sid = start()["SessionId"]
    api("EndTerminalSession", RegionId=REGION, SessionId=sid)
    assert status_of(api, sid)["Status"] == "Terminated"
    assert refused(lambda: api("EndTerminalSession", RegionId=REGION, SessionId="s-nope")) == \
        ("InvalidSessionId.NotFound", 404)
    assert refused(lambda: api("EndTerminalSession", RegionId=REGION)) == ("MissingParameter", 400)


def test_describe_filters_and_pages(api: Callable[..., dict[str, Any]], start: Callable[..., dict[str, Any]],
                                    ids: dict[str, str]) -> None:
    first, second = start("web-2")["SessionId"], start("web-2")["SessionId"]
    mine = describe(api, InstanceId=ids["web-2"], MaxResults=100)
    assert [s["SessionId"] for s in mine][:2] == [second, first]  # newest first
    page = api("DescribeTerminalSessions", RegionId=REGION, InstanceId=ids["web-2"], MaxResults=1)
    assert len(page["Sessions"]["Session"]) == 1 and page["NextToken"]
    rest = api("DescribeTerminalSessions", RegionId=REGION, InstanceId=ids["web-2"], MaxResults=1,
               NextToken=page["NextToken"])
    assert rest["Sessions"]["Session"][0]["SessionId"] == first
    assert refused(lambda: describe(api, MaxResults=101)) == ("InvalidParameter.MaxResults", 400)
    assert describe(api, SessionId="s-nope") == []
    assert describe(api, InstanceId=ids["web-2"])[0]["Username"] == "ecs-assist-user"


def test_failed_session_for_an_unknown_user(api: Callable[..., dict[str, Any]],
                                            connect: Callable[..., Any]) -> None:
    """A Username the instance does not have: the agent fails the terminal (shell_unix.go StartPty, Open_pty_failed);
    the client gets the closing status and the session is Failed with the detail."""
    body, client = connect(Username="nobody-here")
    messages = client.drain()
    assert [m["payload"] for m in messages if m["kind"] == STATUS] == [b"\x05OpenPtyFailed"]
    connection = status_of(api, body["SessionId"])
    assert connection["Status"] == "Failed" and "nobody-here does not exist" in connection["FailedDetail"]


def test_latency_model(emu: EmulatorProcess, api: Callable[..., dict[str, Any]], connect: Callable[..., Any],
                       ids: dict[str, str]) -> None:
    """latency_ms delays alike an API call, each frame to a session client and the agent's delivery of a task."""
    emu.control("PATCH", "options", {"latency_ms": 300})
    began = time.monotonic()
    body, client = connect()
    assert time.monotonic() - began >= 0.3  # StartTerminalSession waited
    client.send(INPUT, b"echo lat\n")
    began = time.monotonic()
    client.read_until(b"lat\r\n")
    assert time.monotonic() - began >= 0.3  # the echoed output came in at least one delayed frame
    began = time.monotonic()
    invoke = api("RunCommand", RegionId=REGION, Type="RunShellScript", CommandContent="true",
                 **{"InstanceId.1": ids["web-1"]})["InvokeId"]
    wait_for(lambda: api("DescribeInvocationResults", RegionId=REGION, InvokeId=invoke)["Invocation"]
             ["InvocationResults"]["InvocationResult"][0]["InvokeRecordStatus"] == "Finished", "task", step=0.05)
    assert time.monotonic() - began >= 0.3 * 3  # RunCommand + delivery + at least one poll
    assert emu.control("GET", "faults")["latency_ms"] == 300


def test_twenty_live_sessions_per_instance(api: Callable[..., dict[str, Any]],
                                           start: Callable[..., dict[str, Any]]) -> None:
    """The documented cap: 20 sessions of one instance waiting for or holding a connection; an ended one frees
    its place."""
    for old in describe(api, MaxResults=100):
        api("EndTerminalSession", RegionId=REGION, SessionId=old["SessionId"])
    opened = [start("db-1")["SessionId"] for _n in range(20)]
    assert refused(lambda: start("db-1")) == ("SessionCount.ExceedLimit", 403)
    api("EndTerminalSession", RegionId=REGION, SessionId=opened[0])
    assert start("db-1")["SessionId"]
    for sid in opened[1:]:
        api("EndTerminalSession", RegionId=REGION, SessionId=sid)


def test_latency_is_per_frame_not_cumulative(emu: EmulatorProcess, connect: Callable[..., Any]) -> None:
    """Frames to the client each leave N ms late without waiting for each other (a network's latency): 20 chunks
    under 300 ms arrive in well under 20 × 300 ms."""
    emu.control("PATCH", "options", {"session_rate_bps": 8 * 1024 * 1000, "latency_ms": 300})  # 1 ms pauses
    _body, client = connect(CommandLine="python3 -c \"import sys; sys.stdout.write('z' * 20480)\"")
    began = time.monotonic()  # the terminal has just started: its output is produced from about now
    total = sum(len(m["payload"]) for m in client.drain() if m["kind"] == 1)
    assert total == 20480
    assert 0.25 <= time.monotonic() - began < 20 * 0.3 / 2
