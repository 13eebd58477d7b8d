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
    (tmp_path / "0.lead").write_text(f"{dead} 0 web-1")
    follower = SharedRun(tmp_path, "web-2")
    with pytest.raises(LeaderGone, match="task of host web-1"):
        follower.wait(sleep=lambda seconds: None)


def test_the_run_directory_belongs_to_the_parent_process_and_stale_ones_go(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("ANSIBLE_LOCAL_TEMP", str(tmp_path / "local"))
    base = tmp_path / "local" / "alicloud-ecs" / "fleet-runs"
    stale = base / "999999999-1"
    stale.mkdir(parents=True)
    directory = fleet_share.run_directory()
    assert directory.parent == base
    assert directory.name.startswith(f"{os.getppid()}-") and directory.is_dir()
    assert not stale.exists()
    assert fleet_share.run_directory() == directory
    assert oct((tmp_path / "local" / "alicloud-ecs").stat().st_mode & 0o777) == "0o700"


def test_every_file_of_a_shared_run_is_private(tmp_path) -> None:
    leader = SharedRun(tmp_path, "web-1")
    assert leader.lead()
    leader.publish({"i-1": {"status": "Success", "output": "secret"}}, {"summary": {}})
    Gathering(tmp_path, "web-2", "options")
    files = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert len(files) >= 5
    assert {oct(path.stat().st_mode & 0o777) for path in files} == {"0o600"}
    assert {oct(path.stat().st_mode & 0o777) for path in tmp_path.rglob("*") if path.is_dir()} == {"0o700"}


def test_a_result_file_replaced_by_a_link_is_not_read(tmp_path) -> None:
    leader = SharedRun(tmp_path, "web-1")
    leader.lead()
    leader.publish({"i-1": {"status": "Success"}}, {"summary": {}})
    forged = tmp_path / "forged.json"
    forged.write_text('{"status": "Forged"}')
    result = tmp_path / "0" / f"{fleet_share.digest('i-1')}.json"
    result.unlink()
    result.symlink_to(forged)
    with pytest.raises(OSError):
        leader.result_of("i-1")


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


def _dead_pid() -> int:
    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                              check=True).stdout)


def test_a_member_closes_the_group_when_its_leader_died_before_closing_it(tmp_path, monkeypatch) -> None:
    dead = _dead_pid()
    monkeypatch.setattr(fleet_share, "_me", lambda: f"{dead} 12345")  # the leader's process, now gone
    Gathering(tmp_path, "web-1", "options")
    monkeypatch.undo()
    member = Gathering(tmp_path, "web-2", "options")
    other = Gathering(tmp_path, "web-3", "options")
    assert not member.leads and not other.leads
    # The first member to see it takes over, without the dead leader's host; the other waits for its outcome.
    assert member.settle(everyone=3, sleep=pytest.fail) == ["web-2", "web-3"]
    assert other.settle(everyone=3, sleep=pytest.fail) is None
    member.run.publish({"i-2": {"status": "Success"}}, {"summary": {}})
    assert other.run.wait(sleep=pytest.fail) == {"summary": {}}
    late = Gathering(tmp_path, "web-4", "options")  # the group is closed: a newcomer opens the next one
    assert late.leads and late.group == member.group + 1


def test_a_member_takes_over_a_stuck_leader_and_the_leader_then_runs_nothing(tmp_path, monkeypatch) -> None:
    now = [0.0]
    leader = Gathering(tmp_path, "web-1", "options")  # alive (this process), but never closes in time
    member = Gathering(tmp_path, "web-2", "options")

    def later(seconds: float) -> None:
        now[0] += 5.0
    assert member.settle(everyone=5, sleep=later, clock=lambda: now[0]) == ["web-1", "web-2"]
    assert now[0] >= fleet_share.GATHER_TAKEOVER
    # The leader wakes up: the group is no longer its to close, so it does not run the command a second time.
    assert leader.settle(everyone=5, sleep=pytest.fail) is None
    assert leader.run.lead() is False
