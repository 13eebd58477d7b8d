"""Fixtures shared by the module_utils unit tests."""

from __future__ import annotations

import pytest


class FakeClock:
    """A monotonic clock that moves only when the code under test sleeps (pass ``clock`` and ``clock.sleep``)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
