"""The agent's session behaviour inside an instance, each test naming the agent file it follows: the terminal and
its user (agent/session/shell/shell_unix.go), chunks and rate (shell.go writePump/processStdoutData), the idle
cancel (channel/sessionchannel.go), the 3 h cap (taskengine/session.go), and nothing left behind."""
from __future__ import annotations

import json
import re
import struct
import time
from collections.abc import Callable
from typing import Any

from ws_client import CLOSE, INPUT, OUTPUT, SET_SIZE, STATUS, client_message

from emulator.testing import EmulatorProcess, wait_for

REGION = "cn-hangzhou"
CHUNK = 1024
DEFAULT_BYTES_PER_SECOND = 204800 // 8  # 200 kbit/s as the agent counts it (200 × 1024 bit/s)


def outputs(messages: list[dict[str, Any]]) -> list[bytes]:
    """The output payloads among the messages."""
    return [m["payload"] for m in messages if m["kind"] == OUTPUT]


def closing(messages: list[dict[str, Any]]) -> list[bytes]:
    """The status payloads among the messages."""
    return [m["payload"] for m in messages if m["kind"] == STATUS]


def python_line(code: str) -> str:
    """A CommandLine running Python code (split by shlex as the agent splits it)."""
    return "python3 -c " + json.dumps(code)


def test_shell_user_home_term_and_sudo(connect: Callable[..., Any]) -> None:
    """shell_unix.go StartPty: bash as ecs-assist-user (created with passwordless sudo), TERM=xterm-256color,
    HOME and working directory the user's home, a terminal on stdin."""
    _body, client = connect()
    client.send(INPUT, b"echo \"[$(id -un)|$HOME|$TERM|$(pwd)|$(tty)|$(sudo -n id -u)]\"\n")
    out = client.read_until(b"|0]\r\n").decode()  # the echoed line has "-u)]", the output "|0]"
    found = re.search(r"\[(ecs[^|]*)\|([^|]*)\|([^|]*)\|([^|]*)\|([^|]*)\|(\d+)\]", out)
    assert found is not None, out
    assert found.groups()[:4] == ("ecs-assist-user", "/home/ecs-assist-user", "xterm-256color",
                                  "/home/ecs-assist-user")
    assert found.group(5).startswith("/dev/pts/") and found.group(6) == "0"


def test_given_username(emu: EmulatorProcess, connect: Callable[..., Any], ids: dict[str, str]) -> None:
    """A Username that exists in the instance runs the terminal as that user (shell_unix.go: RunAs user)."""
    assert emu.exec(ids["db-1"], "id -u alice >/dev/null 2>&1 || useradd -m alice")["exit_code"] == 0
    _body, client = connect("db-1", Username="alice")
    client.send(INPUT, b"echo \"<$(id -un):$HOME>\"\n")
    assert b"<alice:/home/alice>" in client.read_until(b">\r\n")


def test_echo_and_exit_ends_the_session(connect: Callable[..., Any], api: Callable[..., dict[str, Any]]) -> None:
    """Input goes to the terminal; when the shell exits, the client gets the closing status ("Exit") and the close
    frame, and the session is Terminated."""
    body, client = connect()
    client.send(INPUT, b"echo $((6*7))\n")
    assert b"42\r\n" in client.read_until(b"42\r\n")
    client.send(INPUT, b"exit\n")
    messages = client.drain()
    assert closing(messages) == [b"\x05Exit"] and client.close_code == 1000
    sequences = [m["sequence"] for m in messages]
    assert sequences == sorted(sequences)
    record = api("DescribeTerminalSessions", RegionId=REGION, SessionId=body["SessionId"])["Sessions"]["Session"]
    assert record[0]["Connections"]["Connection"][0]["Status"] == "Terminated"


def test_chunks_are_cut_at_utf8_boundaries(emu: EmulatorProcess, connect: Callable[..., Any]) -> None:
    """shell.go processStdoutData: at most 1,024 bytes read per chunk, an incomplete UTF-8 sequence at the end waits
    for the next read: 1,023 ASCII bytes then a 3-byte character give a first chunk of exactly 1,023 bytes."""
    emu.control("PATCH", "options", {"session_start_delay": 1.5})  # all output is in the terminal before a read
    text = "a" * 1023 + "€" * 700 + "end"
    code = "import sys; sys.stdout.buffer.write(('a' * 1023 + chr(8364) * 700 + 'end').encode()); sys.stdout.flush()"
    _body, client = connect(CommandLine=python_line(code))
    chunks = outputs(client.drain())
    assert chunks[0] == b"a" * 1023
    assert all(len(c) <= CHUNK for c in chunks)
    assert all(c.decode("utf-8") for c in chunks)  # each chunk alone is valid UTF-8
    assert b"".join(chunks).decode() == text


def test_output_rate_limit(emu: EmulatorProcess, connect: Callable[..., Any]) -> None:
    """shell.go writePump: a pause after each chunk keeps the output at the default 200 kbit/s; measured over
    50 KB the rate stays under the limit × 1.5."""
    code = "import sys; sys.stdout.buffer.write(b'x' * 51200); sys.stdout.flush()"
    _body, client = connect(CommandLine=python_line(code))
    total, first, last = 0, None, 0.0
    while (msg := client.message()) is not None:
        if msg["kind"] == OUTPUT:
            now = time.monotonic()
            first = now if first is None else first
            last = now
            total += len(msg["payload"])
    assert total == 51200
    assert total / (last - first) <= DEFAULT_BYTES_PER_SECOND * 1.5


def test_status_code_7_changes_the_rate(connect: Callable[..., Any]) -> None:
    """shell_unix.go InputStreamMessageHandler: status code 7 and a big-endian rate in bit/s set the pause; at
    65,536 bit/s (8 chunks a second) 16 KB take about two seconds."""
    code = "import sys, time; time.sleep(1); sys.stdout.buffer.write(b'y' * 16384); sys.stdout.flush()"
    _body, client = connect(CommandLine=python_line(code))
    client.send(STATUS, bytes([7]) + (65536).to_bytes(4, "big"))
    stamps = []
    while (msg := client.message()) is not None:
        if msg["kind"] == OUTPUT:
            stamps.append((time.monotonic(), len(msg["payload"])))
    total = sum(size for _t, size in stamps)
    assert total == 16384
    assert total / (stamps[-1][0] - stamps[0][0]) <= 65536 / 8 * 1.5


def test_set_size(connect: Callable[..., Any]) -> None:
    """set_size resizes the terminal: ali-instance-cli's binary rows/cols (client.go termsizeLoop) and the
    agent's JSON {"cols", "rows"} (shell_unix.go) both."""
    _body, client = connect()
    client.send(SET_SIZE, struct.pack("<hh", 33, 101))
    client.send(INPUT, b"echo \"size=$(stty size)\"\n")
    assert b"size=33 101" in client.read_until(b"size=33 101")
    client.send(SET_SIZE, json.dumps({"cols": 90, "rows": 20}).encode())
    client.send(INPUT, b"echo \"size=$(stty size)\"\n")
    assert b"size=20 90" in client.read_until(b"size=20 90")


def test_idle_cancel(emu: EmulatorProcess, connect: Callable[..., Any], api: Callable[..., dict[str, Any]]) -> None:
    """sessionchannel.go: every client message restarts the idle count; without one for the idle time (180 s,
    shrunk here) the session is cancelled."""
    emu.control("PATCH", "options", {"session_idle_seconds": 2})
    body, client = connect()
    for _tick in range(8):  # 2.4 s of messages every 0.3 s: still open
        client.send(INPUT, b"")
        time.sleep(0.3)
    client.send(INPUT, b"echo al''ive\n")
    client.read_until(b"alive\r\n")
    began = time.monotonic()
    messages = client.drain(timeout=30)
    assert closing(messages) == [b"\x05Timeout"]
    assert 1.5 <= time.monotonic() - began < 15
    connection = api("DescribeTerminalSessions", RegionId=REGION, SessionId=body["SessionId"])["Sessions"][
        "Session"][0]["Connections"]["Connection"][0]
    assert connection["Status"] == "Terminated" and connection["ClosedReason"] == "Timeout"


def test_max_duration(emu: EmulatorProcess, connect: Callable[..., Any]) -> None:
    """taskengine/session.go: a session ends after 3 h (shrunk here) even while the client keeps sending."""
    emu.control("PATCH", "options", {"session_max_seconds": 2})
    _body, client = connect()
    began = time.monotonic()
    client.sock.settimeout(0.2)
    ended = None
    while ended is None and time.monotonic() - began < 20:
        client.send(INPUT, b"\n")
        try:
            while (msg := client.message()) is not None:
                if msg["kind"] == STATUS:
                    ended = msg["payload"]
        except TimeoutError:
            continue
        break
    assert ended == b"\x05Timeout"
    assert 1.5 <= time.monotonic() - began < 15


def leftovers(emu: EmulatorProcess, instance_id: str, marker: str) -> str:
    """Processes inside the instance whose command line holds ``marker`` (pgrep itself excluded)."""
    found = emu.exec(instance_id, f"pgrep -af {marker} | grep -v pgrep || true")
    return found["stdout"].strip()


def test_nothing_left_running_after_close(emu: EmulatorProcess, connect: Callable[..., Any],
                                          ids: dict[str, str]) -> None:
    """Ending a session kills the terminal's process tree and session, background and nohup jobs and orphans
    included (the agent kills its process and closes the terminal, shell_unix.go waitPid/stop)."""
    for how in (CLOSE, "drop"):
        _body, client = connect()
        client.send(INPUT, b"sleep 4711 & nohup sleep 4712 >/dev/null 2>&1 & (sleep 4713 &) ; echo st''arted\n")
        client.read_until(b"started\r\n")
        assert "sleep 4711" in leftovers(emu, ids["web-1"], "sleep.471")
        if how == CLOSE:
            client.send(CLOSE)
            client.drain()
        else:  # the websocket drops: the session ends with it
            client.close()
        wait_for(lambda: not leftovers(emu, ids["web-1"], "sleep.471"), "the session's processes to end", timeout=20)


def test_stopping_the_instance_ends_its_sessions(emu: EmulatorProcess, connect: Callable[..., Any],
                                                 api: Callable[..., dict[str, Any]], ids: dict[str, str]) -> None:
    _body, client = connect("web-2")
    client.send(INPUT, b"echo up\n")
    client.read_until(b"up\r\n")
    api("StopInstance", RegionId=REGION, InstanceId=ids["web-2"])
    try:
        assert closing(client.drain()) == [b"\x05Exit"]
    finally:
        wait_for(lambda: power_state(emu, ids["web-2"]) == "Stopped", "web-2 to stop")
        api("StartInstance", RegionId=REGION, InstanceId=ids["web-2"])
        wait_for(lambda: power_state(emu, ids["web-2"]) == "Running", "web-2 to start")


def power_state(emu: EmulatorProcess, instance_id: str) -> str:
    """The instance's status as the control API shows it."""
    return next(i for i in emu.instances() if i["id"] == instance_id)["status"]


def test_input_before_the_terminal_is_dropped(emu: EmulatorProcess, connect: Callable[..., Any],
                                              api: Callable[..., dict[str, Any]]) -> None:
    """taskengine/session.go runTask sleeps 1 s between opening the agent's channel and starting the terminal;
    shell_unix.go InputStreamMessageHandler drops what comes meanwhile: a client waits for the first output."""
    emu.control("PATCH", "options", {"session_pty_delay": 1.0})
    _body, client = connect(wait=False)
    client.send(INPUT, b"echo ear''ly\n")
    sessions = emu.control("GET", "sessions")["sessions"]
    assert sessions[0]["Status"] == "Connected" and sessions[0]["TerminalPid"] is None
    first = client.message()  # the prompt: the terminal exists now
    assert first is not None and first["kind"] == OUTPUT
    client.send(INPUT, b"echo la''te\n")
    out = client.read_until(b"late\r\n")
    assert b"early" not in out


def test_large_fragmented_and_malformed_client_messages(connect: Callable[..., Any]) -> None:
    """RFC 6455 on the server side: a 70,000-byte input (64-bit length) reaches the terminal whole, past its full
    buffer; a message in three fragments is one message; a message shorter than the client's header is ignored
    and the session goes on."""
    _body, client = connect(CommandLine="sh -c 'stty raw -echo; echo raw; head -c 70000 | wc -c; cat'")
    client.read_until(b"raw")  # before it, the terminal is in line mode (lines of at most 4,096 bytes)
    client.send(INPUT, b"q" * 70000)
    assert b"70000" in client.read_until(b"70000")
    whole = client_message(INPUT, b"frag" + b"ment" + b"ed|")
    client.send_frame(0x2, whole[:10], fin=False)
    client.send_frame(0x0, whole[10:20], fin=False)
    client.send_frame(0x0, whole[20:], fin=True)
    assert b"fragmented|" in client.read_until(b"fragmented|")
    client.send_frame(0x2, b"\x00\x01")
    client.send(INPUT, b"after|")
    assert b"after|" in client.read_until(b"after|")
