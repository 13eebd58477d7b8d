"""The control API obeys only requests carrying the token its server generated at start, with a JSON body.

Loopback is no permission: any local process, and any web page a local browser shows (a ``text/plain`` form post
needs no CORS preflight), can reach 127.0.0.1, and ``exec`` runs commands as root inside the instances.
"""
from __future__ import annotations

import json
import stat
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest
from emulator_helpers import FLEET, KEY_ID

from emulator.testing import EmulatorProcess


def raw(emu: EmulatorProcess, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, Any]:
    """One control request made by hand: (HTTP status, decoded body)."""
    request = urllib.request.Request(f"{emu.endpoint}/_emulator/{path}", data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def exec_body(command: str) -> bytes:
    return json.dumps({"command": command}).encode()


@pytest.fixture
def marker(emu: EmulatorProcess, ids: dict[str, str]) -> str:
    """A file path no command has created yet on web-1."""
    path = f"/tmp/control-token-{uuid.uuid4().hex}"
    assert emu.exec(ids["web-1"], f"test -e {path}")["exit_code"] == 1
    return path


def ran(emu: EmulatorProcess, ids: dict[str, str], path: str) -> bool:
    """Whether a refused exec ran anyway (its command would have created ``path``)."""
    return emu.exec(ids["web-1"], f"test -e {path}")["exit_code"] == 0


@pytest.mark.parametrize("case, headers, status", [
    ("no token", {"Content-Type": "application/json"}, 401),
    ("a wrong token", {"Content-Type": "application/json", "Authorization": "Bearer wrong"}, 401),
    ("the token without its scheme", {"Content-Type": "application/json", "Authorization": "TOKEN"}, 401),
    ("a browser's form post", {"Content-Type": "text/plain"}, 401),
    ("the token with a text/plain body", {"Content-Type": "text/plain", "Authorization": "Bearer TOKEN"}, 415),
    ("the token with no content type", {"Authorization": "Bearer TOKEN"}, 415),
])
def test_exec_is_refused_and_runs_nothing(emu: EmulatorProcess, ids: dict[str, str], marker: str, case: str,
                                          headers: dict[str, str], status: int) -> None:
    headers = {name: value.replace("TOKEN", emu.token) for name, value in headers.items()}
    if "Content-Type" not in headers:  # urllib adds a form content type to any body unless told otherwise
        headers["Content-Type"] = ""
    got, answer = raw(emu, "POST", f"instances/{ids['web-1']}/exec", exec_body(f"touch {marker}"), headers)
    assert got == status, (case, answer)
    assert ("Authorization: Bearer" if status == 401 else "application/json") in answer["error"]
    assert not ran(emu, ids, marker)


def test_exec_with_the_token_runs(emu: EmulatorProcess, ids: dict[str, str], marker: str) -> None:
    got, answer = raw(emu, "POST", f"instances/{ids['web-1']}/exec", exec_body(f"touch {marker}; hostname"),
                      {"Content-Type": "application/json; charset=utf-8", "Authorization": f"Bearer {emu.token}"})
    assert got == 200 and answer["exit_code"] == 0 and answer["stdout"] == "web-1\n"
    assert ran(emu, ids, marker)


def test_reset_without_the_token_is_refused_and_resets_nothing(emu: EmulatorProcess) -> None:
    emu.faults(emu.throttle("DescribeRegions", times=7))
    for headers in ({"Content-Type": "application/json"},
                    {"Content-Type": "application/json", "Authorization": f"Bearer {emu.token}x"},
                    {"Content-Type": "text/plain"}):
        assert raw(emu, "POST", "reset", b"{}", headers)[0] == 401
    assert emu.fault_plan()["rules"][0]["times"] == 7  # the plan a reset would have cleared
    emu.reset()
    assert emu.fault_plan()["rules"] == []


@pytest.mark.parametrize("method, path", [("GET", "health"), ("GET", "instances"), ("GET", "counters"),
                                          ("DELETE", "counters"), ("GET", "faults")])
def test_reads_need_the_token_too(emu: EmulatorProcess, method: str, path: str) -> None:
    assert raw(emu, method, path, None, {})[0] == 401
    assert raw(emu, method, path, None, {"Authorization": f"Bearer {emu.token}"})[0] == 200


def test_the_signed_cloud_api_needs_no_token(emu: EmulatorProcess, api) -> None:
    assert {r["RegionId"] for r in api("DescribeRegions")["Regions"]["Region"]} >= {"cn-hangzhou"}


def test_each_start_has_a_new_token_in_a_file_only_its_owner_reads(tmp_path) -> None:
    with EmulatorProcess(fleet=FLEET, state_dir=tmp_path) as emu:
        first = emu.token
        token_file = tmp_path / "control-token"
        assert token_file.read_text() == first and len(first) >= 32
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        emu.stop()
        emu.start()
        assert emu.token != first
        assert raw(emu, "GET", "health", None, {"Authorization": f"Bearer {first}"})[0] == 401
        assert emu.health()["status"] == "ok"
        assert emu.env()["ALICLOUD_ECS_EMULATOR_TOKEN"] == emu.token
        assert emu.env()["ALIBABA_CLOUD_ACCESS_KEY_ID"] == KEY_ID
