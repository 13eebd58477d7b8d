"""First contact with an endpoint: which ansible run a process belongs to, the run's shared "has answered" fact,
the client giving an endpoint never reached 10 s while a reached one keeps the outage budget, and the progress
line every 10 s of a wait."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.api import client as client_mod
from ansible_collections.alicloud.ecs.plugins.module_utils.api.contact import (
    Contacts, is_ansible_command, run_of, start_time,
)
from ansible_collections.alicloud.ecs.plugins.module_utils.api.errors import CloudError
from ansible_collections.alicloud.ecs.plugins.module_utils.api.retries import RetryPolicy

PLAYBOOK = ("/venv/bin/python3", "/venv/bin/ansible-playbook", "-i", "hosts", "site.yml")


def tree(processes: dict[int, tuple[int, tuple[str, ...]]]):
    """parent() and command() over a made-up process table {pid: (parent pid, argv)}."""
    return (lambda pid: processes.get(pid, (0, ()))[0]), (lambda pid: processes.get(pid, (0, ()))[1])


def test_a_module_below_a_worker_belongs_to_the_main_ansible_process() -> None:
    parent, command = tree({
        900: (800, ("/usr/bin/python3", "/root/.ansible/tmp/ansible-tmp-1/AnsiballZ_instance_info.py")),
        800: (700, ("/bin/sh", "-c", "/usr/bin/python3 /root/.ansible/tmp/ansible-tmp-1/AnsiballZ_instance_info.py")),
        700: (650, ("sudo", "-u", "deploy", "/bin/sh", "-c", "...")),
        650: (600, PLAYBOOK),   # the worker (forked: the main process's command line)
        600: (500, PLAYBOOK),   # ansible-playbook's main process
        500: (1, ("-bash",)),
        1: (0, ("/sbin/init",)),
    })
    assert run_of(900, parent, command) == 600
    assert run_of(650, parent, command) == 600  # the worker itself (action, connection)
    assert run_of(600, parent, command) == 600  # the main process (inventory)
    assert run_of(500, parent, command) is None  # the shell: no run


def test_a_nested_playbook_is_a_run_of_its_own_and_pid_one_counts() -> None:
    parent, command = tree({
        30: (20, ("/usr/bin/ansible-playbook", "inner.yml")),
        20: (11, ("/bin/sh", "-c", "ansible-playbook inner.yml")),  # an outer task's command
        11: (10, PLAYBOOK), 10: (1, PLAYBOOK),
        1: (0, ("/usr/bin/python3", "/usr/bin/ansible-playbook", "outer.yml")),  # ansible as a container's pid 1
    })
    assert run_of(30, parent, command) == 30
    assert run_of(11, parent, command) == 1


def test_which_command_lines_are_ansible_commands() -> None:
    assert is_ansible_command(PLAYBOOK) and is_ansible_command(("/usr/local/bin/ansible-inventory", "--list"))
    assert is_ansible_command(("python3.13", "/x/bin/ansible", "all", "-m", "ping"))
    assert not is_ansible_command(("/usr/bin/ansible-runner", "run", "."))
    assert not is_ansible_command(("/bin/sh", "-c", "/x/bin/ansible-playbook site.yml"))
    assert not is_ansible_command(())


def test_this_process_descends_from_no_ansible_command() -> None:
    assert run_of(os.getpid()) is None


def private_env(tmp_path) -> dict[str, str]:
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    return {"XDG_RUNTIME_DIR": str(runtime)}


def test_an_answer_is_known_to_the_runs_other_processes_and_not_to_other_runs(tmp_path) -> None:
    env = private_env(tmp_path)
    me = os.getpid()
    first, second = Contacts(me, start_time(me), env), Contacts(me, start_time(me), env)
    other_run = Contacts(me, "not-my-start", env)  # the same pid, reused by another run
    assert not first.known("https://ecs.cn-hangzhou.aliyuncs.com")
    first.note("https://ecs.cn-hangzhou.aliyuncs.com")
    assert second.known("https://ecs.cn-hangzhou.aliyuncs.com")
    assert not second.known("https://ecs.cn-beijing.aliyuncs.com")
    assert not other_run.known("https://ecs.cn-hangzhou.aliyuncs.com")
    run_dir = tmp_path / "runtime" / "alicloud-ecs" / "reached" / f"{me}-{start_time(me)}"
    assert [oct(path.stat().st_mode & 0o777) for path in run_dir.iterdir()] == ["0o600"]


def test_without_a_run_every_endpoint_keeps_the_outage_budget(tmp_path) -> None:
    contacts = Contacts(None, env=private_env(tmp_path))
    assert contacts.known("http://127.0.0.1:1")
    contacts.note("http://127.0.0.1:1")
    assert not (tmp_path / "runtime" / "alicloud-ecs").exists()


def test_a_new_run_removes_the_marks_of_ended_runs(tmp_path) -> None:
    env = private_env(tmp_path)
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                           check=True)
    gone = int(ended.stdout)
    Contacts(gone, "12345", env).note("http://old")
    me = os.getpid()
    Contacts(me, start_time(me), env).note("http://new")
    names = {path.name for path in (tmp_path / "runtime" / "alicloud-ecs" / "reached").iterdir()}
    assert names == {f"{me}-{start_time(me)}"}


class FakeTime:
    """A clock that only moves when the policy sleeps (or an attempt takes time)."""

    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def clock(self) -> float:
        return self.now


class RefusingSdk:
    """Stands in for AcsClient: every request is refused before any HTTP answer, each attempt taking ``cost`` s."""

    def __init__(self, fake: FakeTime, cost: float = 0.01, answer_after: int | None = None) -> None:
        self.fake = fake
        self.cost = cost
        self.calls = 0
        self.answer_after = answer_after

    def do_action_with_exception(self, request):
        from aliyunsdkcore.acs_exception.exceptions import ClientException
        self.calls += 1
        self.fake.now += self.cost
        if self.answer_after is not None and self.calls > self.answer_after:
            return b'{"RequestId": "R"}'
        raise ClientException("SDK.HttpError", "HTTPConnectionPool: Max retries exceeded ... [Errno 111] Connection refused")


def refusing_client(tmp_path, fake: FakeTime, known: bool, cost: float = 0.01, budget: float = 120, lines=None,
                    answer_after: int | None = None):
    settings = client_mod.resolve_settings("id", "secret", region="cn-hangzhou", endpoint="http://127.0.0.1:1", env={})
    contacts = Contacts(os.getpid(), start_time(os.getpid()), private_env(tmp_path), clock=fake.clock)
    if known:
        contacts.note("http://127.0.0.1:1")
    client = client_mod.CloudClient(
        settings, retry=RetryPolicy(budget=budget, sleep=fake.sleep, clock=fake.clock), contacts=contacts,
        log=None if lines is None else lambda level, line: lines.append((level, line)))
    client._sdk = RefusingSdk(fake, cost, answer_after)
    return client


def test_an_endpoint_never_reached_fails_within_ten_seconds_saying_why(tmp_path) -> None:
    fake = FakeTime()
    client = refusing_client(tmp_path, fake, known=False)
    with pytest.raises(CloudError) as caught:
        client.call("DescribeInstances")
    message = str(caught.value)
    assert fake.now <= client_mod.FIRST_CONTACT_SECONDS
    assert "cannot reach http://127.0.0.1:1: connection refused" in message
    assert f"gave up after {client._sdk.calls} attempt(s) in {fake.now:.1f} s" in message
    assert "this run has not reached that endpoint yet" in message and caught.value.code == "SDK.HttpError"


def test_a_first_contact_that_times_out_is_not_tried_again_past_the_window(tmp_path) -> None:
    fake = FakeTime()
    client = refusing_client(tmp_path, fake, known=False, cost=5.0)  # each attempt spends the connect timeout
    with pytest.raises(CloudError):
        client.call("DescribeInstances")
    assert client._sdk.calls == 1 and fake.now <= client_mod.FIRST_CONTACT_SECONDS


def test_a_reached_endpoint_keeps_the_outage_budget_and_reports_every_ten_seconds(tmp_path) -> None:
    fake = FakeTime()
    lines: list[tuple[int, str]] = []
    client = refusing_client(tmp_path, fake, known=True, budget=60, lines=lines)
    with pytest.raises(CloudError) as caught:
        client.call("DescribeInstances")
    assert 50 <= fake.now <= 61 and "gave up after" not in str(caught.value)
    progress = [line for level, line in lines if level == client_mod.OUTAGE_VERBOSITY]
    assert len(progress) >= 4, lines
    assert progress[0].startswith("DescribeInstances has failed for 10 s (SDK.HttpError: cannot reach "
                                  "http://127.0.0.1:1: connection refused"), progress[0]
    assert "retrying for up to 50 s more (retry_budget 60 s)" in progress[0]
    seconds = [int(line.split(" for ", 1)[1].split(" s ", 1)[0]) for line in progress]
    assert all(10 <= later - earlier <= 11 for earlier, later in zip(seconds, seconds[1:])), seconds


def test_an_answer_makes_the_endpoint_known_for_the_run(tmp_path) -> None:
    fake = FakeTime()
    client = refusing_client(tmp_path, fake, known=False, answer_after=1)
    assert client.call("DescribeInstances") == {"RequestId": "R"}
    again = Contacts(os.getpid(), start_time(os.getpid()), private_env(tmp_path))  # another process of the run
    assert again.known("http://127.0.0.1:1")


def test_the_policy_reports_a_wait_at_ten_second_marks_without_a_busy_loop() -> None:
    fake = FakeTime()
    heard: list[float] = []
    policy = RetryPolicy(budget=45, sleep=fake.sleep, clock=fake.clock)
    failures = iter(range(1000))

    def failing():
        next(failures)
        raise CloudError("Throttling", "slow down")

    with pytest.raises(CloudError):
        policy.run(failing, on_wait=lambda error, seconds: heard.append(round(seconds, 6)))
    # The attempts take no time here, so the pauses follow each other: a report at every 10 s mark, up to the
    # last pause (which ends past 35 s: the budget stops a pause of at most 10 s that would end past 45 s).
    assert heard[:3] == [10.0, 20.0, 30.0] and len(heard) in (3, 4), heard


def test_the_runs_processes_take_turns_to_report_a_failing_endpoint(tmp_path) -> None:
    """One line per ~10 s for the run, not one per waiting process."""
    fake = FakeTime()
    fake.now = 1_000_000.0
    me, started = os.getpid(), start_time(os.getpid())
    workers = [Contacts(me, started, private_env(tmp_path), clock=fake.clock) for _worker in range(5)]
    assert [worker.turn_to_report("http://api") for worker in workers] == [True, False, False, False, False]
    assert workers[0].turn_to_report("http://other")  # another endpoint has its own turns
    fake.now += 10
    assert [worker.turn_to_report("http://api") for worker in workers[2:]] == [True, False, False]
    assert Contacts(None).turn_to_report("http://api")  # without a run, every process says it
