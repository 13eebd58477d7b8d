"""remote_user and become over Cloud Assistant, with pipelining on and off."""

from __future__ import annotations

import json
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
    run = ansible.playbook(PLAYBOOKS / "become_fails.yml", "-e", json.dumps({"case": case, **extra}))
    assert run.rc != 0
    assert message in run.output, run.output
    assert "ExecutionTimeout" not in run.output, "sudo's prompt was seen, not waited on until the command's timeout"


BECOME_SENTINEL = "become-SENTINEL-pw-5c1"
# (label, remote user, become user, become password, who the task runs as, whether sudo asks)
MATRIX = [
    ("root to nobody, no prompt", "root", "nobody", BECOME_SENTINEL, "nobody"),
    ("ops to root, with its password", "ops", "root", "ops-pass", "root"),
    ("NOPASSWD sudo", "deploy", "root", BECOME_SENTINEL, "root"),
]


def matrix_play(tmp_path: Path) -> Path:
    """One play per case: a module, raw reading stdin, and a script reading stdin, all under become."""
    script = tmp_path / "who.sh"
    script.write_text("#!/bin/sh\nid -un\nhead -c 200\n")
    plays: list[dict] = []
    for label, user, become_user, password, expected in MATRIX:
        plays.append({
            "name": label, "hosts": "all[0]", "gather_facts": False, "remote_user": user, "become": True,
            "become_user": become_user, "vars": {"ansible_become_password": password},
            "tasks": [
                {"name": "module", "ansible.builtin.command": "id -un", "register": "module", "changed_when": False},
                {"name": "raw reading stdin", "ansible.builtin.raw": "id -un; head -c 200", "register": "raw",
                 "changed_when": False},
                {"name": "script reading stdin", "ansible.builtin.script": str(script), "register": "script",
                 "changed_when": False},
                {"name": "output larger than one API page", "ansible.builtin.raw": "head -c 40000 /dev/zero | base64 -w0",
                 "register": "large", "changed_when": False},
                {"name": "each ran as the become user and read an empty stdin", "ansible.builtin.assert": {"that": [
                    "large.stdout | trim | length == 53336",
                    f"module.stdout == '{expected}'",
                    f"raw.stdout | trim == '{expected}'",
                    f"script.stdout | trim == '{expected}'",
                ]}},
            ],
        })
    path = tmp_path / "become_matrix.yml"
    path.write_text(json.dumps(plays))
    return path


@pytest.mark.parametrize("pipelining", [True, False])
def test_become_password_goes_only_to_a_prompt(ansible, tmp_path, pipelining) -> None:
    """root→user without a prompt, user→root with a password, NOPASSWD sudo: modules, raw and script read
    nothing of the password on stdin, and no output (up to -vvvv) shows it."""
    assert ansible.playbook(PLAYBOOKS / "become.yml").rc == 0  # the users exist (their setup shows passwords)
    run = ansible.playbook(matrix_play(tmp_path), "-vvvv", "-e", json.dumps({"ansible_pipelining": pipelining}))
    assert run.rc == 0, run.output
    assert "ok=" in run.stdout
    for password in (BECOME_SENTINEL, "ops-pass"):
        assert password not in run.output
