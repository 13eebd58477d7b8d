"""Emulator tests drive a real emulator subprocess with the real legacy SDK over HTTP (one server per module)."""
from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# --import-mode=importlib keeps test dirs off sys.path; the shared helpers module lives next to this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from aliyunsdkcore.client import AcsClient  # noqa: E402
from emulator_helpers import FLEET, KEY_ID, SECRET, sdk_call  # noqa: E402

from emulator.testing import EmulatorProcess  # noqa: E402


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorProcess]:
    """A fresh emulator per test module; short timeouts keep the suite fast."""
    with EmulatorProcess(fleet=FLEET, min_timeout=1, delivery_timeout=0.5, progress_interval=0.2) as proc:
        yield proc


@pytest.fixture(scope="module")
def client() -> AcsClient:
    """Legacy SDK client; proxies disabled (the SDK ignores NO_PROXY, docs/api-contract.md#wire-protocol)."""
    return AcsClient(KEY_ID, SECRET, "cn-hangzhou", proxy={"http": "", "https": ""})


@pytest.fixture(scope="module")
def api(emu: EmulatorProcess, client: AcsClient) -> Callable[..., dict[str, Any]]:
    """``api(Action, **params)`` through CommonRequest (POST, query params), returns the parsed JSON."""
    def call(action: str, method: str = "POST", **params: Any) -> dict[str, Any]:
        return sdk_call(client, emu.endpoint, action, method=method, **params)
    return call


@pytest.fixture(scope="module")
def ids(emu: EmulatorProcess) -> dict[str, str]:
    """name → instance id."""
    return {i["name"]: i["id"] for i in emu.instances()}
