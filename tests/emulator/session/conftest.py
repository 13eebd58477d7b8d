"""Session tests: one emulator per module with the agent's first-read pause shrunk, and helpers to start and
attach sessions (the websocket client is ws_client.py, written apart from the emulator's codec)."""
from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ws_client import Client, terminal_started  # noqa: E402

from emulator.testing import EmulatorProcess, wait_for  # noqa: E402

DEFAULTS = {"session_manager": "on", "session_idle_seconds": 180, "session_max_seconds": 10800,
            "session_pty_delay": 0.0, "session_start_delay": 0.0, "session_rate_bps": 204800, "latency_ms": 0}


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorProcess]:
    """A fresh emulator per module; terminals start and are read at once (the agent pauses 1 s before each)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from emulator_helpers import FLEET
    with EmulatorProcess(fleet=FLEET, session_pty_delay=0, session_start_delay=0, min_timeout=1,
                         delivery_timeout=0.5) as proc:
        yield proc


@pytest.fixture(autouse=True)
def default_options(emu: EmulatorProcess) -> Iterator[None]:
    """Every test starts from the default session settings (tests shrink them through the control API)."""
    emu.control("PATCH", "options", DEFAULTS)
    yield
    emu.control("PATCH", "options", DEFAULTS)


@pytest.fixture
def start(api: Callable[..., dict[str, Any]], ids: dict[str, str]) -> Callable[..., dict[str, Any]]:
    """``start(name="web-1", **params)``: StartTerminalSession on an instance of the fleet."""
    def call(name: str = "web-1", **params: Any) -> dict[str, Any]:
        return api("StartTerminalSession", RegionId="cn-hangzhou", **{"InstanceId.1": ids[name]}, **params)
    return call


@pytest.fixture
def connect(emu: EmulatorProcess,
            start: Callable[..., dict[str, Any]]) -> Iterator[Callable[..., tuple[dict[str, Any], Client]]]:
    """``connect(**params)``: a started session and its websocket client (closed after the test), once its
    terminal exists (``wait=False``: at once)."""
    opened: list[Client] = []

    def call(name: str = "web-1", wait: bool = True, **params: Any) -> tuple[dict[str, Any], Client]:
        body = start(name, **params)
        client = Client(body["WebSocketUrl"], body["SecurityToken"])
        opened.append(client)
        if wait:
            wait_for(lambda: terminal_started(emu, body["SessionId"]), "the session's terminal", step=0.02)
        return body, client
    yield call
    for client in opened:
        client.close()
