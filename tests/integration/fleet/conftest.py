"""The fleet tests' emulator: each test module names its fleet file (``FLEET_FILE``, from fleets/) and, when it needs
any, its ``EMULATOR_OPTIONS``; ``fresh`` (a module's ``pytestmark`` asks for it) starts each test from the fleet as
loaded, with zeroed call counters. A module that needs another fleet defines its own ``emulator`` fixture."""

from __future__ import annotations

import pytest

from fleet_helpers import fleet_emulator


@pytest.fixture(scope="module")
def emulator(request, tmp_path_factory):
    """One emulator for the test module, on the fleet file it names."""
    module = request.module
    yield from fleet_emulator(tmp_path_factory, module.FLEET_FILE, **getattr(module, "EMULATOR_OPTIONS", {}))


@pytest.fixture
def fresh(emulator):
    """The fleet as loaded and zeroed call counters, before the test."""
    emulator.reset()
    emulator.reset_counters()
