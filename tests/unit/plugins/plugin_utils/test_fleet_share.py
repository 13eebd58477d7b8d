"""Sharing one fleet run between the per-host tasks of an ansible run: one leader per round, results by
instance, waiting hosts, a leader that died, and the per-run directory."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ansible_collections.alicloud.ecs.plugins.plugin_utils import fleet_share
from ansible_collections.alicloud.ecs.plugins.plugin_utils.fleet_share import Gathering, LeaderGone, SharedRun


def test_one_leader_per_round_and_each_host_reads_its_instance(tmp_path) -> None:
    first, second = SharedRun(tmp_path, "web-1"), SharedRun(tmp_path, "web-2")
    assert (first.round, second.round) == (0, 0)
    assert first.lead() and not second.lead()
    first.publish({"i-1": {"status": "Success"}, "i-2": {"status": "Failed"}}, {"summary": {"counts": {}}})
    assert second.wait(sleep=pytest.fail) == {"summary": {"counts": {}}}
    assert second.result_of("i-2") == {"status": "Failed"}
    assert second.result_of("i-9") is None
    # The same host arriving again (a loop, the task run again) starts the next round.
    again = SharedRun(tmp_path, "web-2")
    assert again.round == 1 and again.lead()


def test_a_waiting_host_gives_up_when_the_leader_died_without_a_result(tmp_path) -> None:
    leader = SharedRun(tmp_path, "web-1")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True).stdout.strip()
    leader.lead()
    (tmp_path / "0.lead").write_text(f"{dead} web-1")
    follower = SharedRun(tmp_path, "web-2")
    with pytest.raises(LeaderGone, match="task of host web-1"):
        follower.wait(sleep=lambda seconds: None)


def test_the_run_directory_belongs_to_the_parent_process_and_stale_ones_go(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(fleet_share.tempfile, "gettempdir", lambda: str(tmp_path))
    base = tmp_path / f"alicloud-ecs-run-{os.getuid()}"
    stale = base / "999999999-1"
    stale.mkdir(parents=True)
    directory = fleet_share.run_directory()
    assert directory.name.startswith(f"{os.getppid()}-") and directory.is_dir()
    assert not stale.exists()
    assert fleet_share.run_directory() == directory


def test_hosts_gather_into_one_group_until_it_closes(tmp_path) -> None:
    first = Gathering(tmp_path, "web-1", "options")
    second = Gathering(tmp_path, "web-2", "options")
    assert (first.leads, second.leads) == (True, False)
    assert first.close(everyone=2, sleep=pytest.fail) == ["web-1", "web-2"]
    late = Gathering(tmp_path, "web-4", "options")
    assert late.leads and late.group != first.group
    other = Gathering(tmp_path, "web-3", "other options")  # options differ: a group of its own
    assert other.leads and other.group not in (first.group, late.group)


def test_a_group_closes_once_nobody_new_came(tmp_path, monkeypatch) -> None:
    now = iter(range(1000))
    monkeypatch.setattr(fleet_share.time, "monotonic", lambda: float(next(now)))
    leader = Gathering(tmp_path, "web-1", "options")
    Gathering(tmp_path, "web-2", "options")
    assert leader.close(everyone=10, sleep=lambda seconds: None) == ["web-1", "web-2"]
    assert leader.run.lead() is False  # closing made it the group's leader
