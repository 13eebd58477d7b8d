"""The connection staples, with pipelining on and off."""

from __future__ import annotations

import json

import pytest

from pathlib import Path

PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"

ODD_NAME = "odd [name] 'q' \"dq\" 文件.txt"


@pytest.mark.parametrize("pipelining", ["true", "false"])
def test_connection_staples(ansible, emulator, tmp_path, pipelining) -> None:
    run = ansible.playbook(
        PLAYBOOKS / "connection.yml",
        "-e", json.dumps({"ansible_pipelining": pipelining == "true", "work_dir": str(tmp_path / "work"),
                          "odd_name": ODD_NAME}),
    )
    assert run.rc == 0, run.output
    assert "ansible_alicloud_secret_key" not in run.stdout
    assert emulator.env()["ALIBABA_CLOUD_ACCESS_KEY_SECRET"] not in run.output
