"""remote_user and become over Cloud Assistant, with pipelining on and off."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"


@pytest.mark.parametrize("pipelining", [True, False])
def test_remote_user_and_become(ansible, pipelining) -> None:
    run = ansible.playbook(PLAYBOOKS / "become.yml", "-e", json.dumps({"ansible_pipelining": pipelining}))
    assert run.rc == 0, run.output
    assert "ops-pass" not in run.output


@pytest.mark.parametrize("case, extra, message", [
    ("no password", {}, "Missing sudo password"),
    ("a wrong password", {"ansible_become_password": "wrong"}, "Incorrect sudo password"),
])
def test_become_password_problems_fail_fast_and_clearly(ansible, case, extra, message) -> None:
    assert ansible.playbook(PLAYBOOKS / "become.yml").rc == 0  # the users exist
    started = time.monotonic()
    run = ansible.playbook(PLAYBOOKS / "become_fails.yml", "-e", json.dumps({"case": case, **extra}))
    elapsed = time.monotonic() - started
    assert run.rc != 0
    assert message in run.output, run.output
    assert elapsed < 30, f"took {elapsed:.1f}s"
