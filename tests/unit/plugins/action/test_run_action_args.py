"""alicloud.ecs.run's action checks its task's arguments before any API call: every wrong option fails the task
with a message naming it, and a check-mode run with explicit targets plans without calling the API at all.
The action is run as ansible's task executor runs it (a Task, a connection with its shell, task_vars); the API
client class is replaced by one that records every call, so "before any call" is checked, not assumed."""

from __future__ import annotations

import typing as t

import pytest

from ansible.errors import AnsibleActionFail
from ansible.parsing.dataloader import DataLoader
from ansible.playbook.play_context import PlayContext
from ansible.playbook.task import Task
from ansible.plugins.loader import shell_loader
from ansible.template import Templar

from ansible_collections.alicloud.ecs.plugins.action import run as run_action

KEYS = {"access_key": "LTAI.action", "secret_key": "s", "region": "cn-hangzhou", "endpoint": "http://127.0.0.1:9"}


class RecordingClient:
    """Stands in for CloudClient: built like it, and records any API call (a call here fails the test)."""

    made: list[t.Any] = []
    calls: list[tuple[str, dict[str, t.Any]]] = []

    def __init__(self, settings: t.Any, **_options: t.Any) -> None:
        self.settings = settings
        self.region = settings.region
        RecordingClient.made.append(settings)

    def call(self, action: str, **params: t.Any) -> dict[str, t.Any]:
        RecordingClient.calls.append((action, params))
        raise AssertionError(f"{action} was called")


class Shell:
    def __init__(self) -> None:
        self._shell = shell_loader.get("sh")


@pytest.fixture(autouse=True)
def no_api(monkeypatch, tmp_path):
    RecordingClient.made, RecordingClient.calls = [], []
    monkeypatch.setattr(run_action, "CloudClient", RecordingClient)
    for name in ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALICLOUD_ACCESS_KEY", "ALIBABA_CLOUD_REGION_ID", "ALICLOUD_REGION",
                 "ALIBABA_CLOUD_PROFILE", "ALICLOUD_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALIBABA_CLOUD_CONFIG_FILE", str(tmp_path / "none.json"))
    monkeypatch.setenv("ALIBABA_CLOUD_CREDENTIALS_FILE", str(tmp_path / "none.ini"))
    monkeypatch.setenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
    monkeypatch.setenv("ANSIBLE_ALICLOUD_CREDENTIAL_CACHE", "off")
    yield
    assert RecordingClient.calls == []


def run(args: dict[str, t.Any], run_once: bool = True, check_mode: bool = False,
        hosts: t.Mapping[str, dict[str, t.Any]] | None = None, host: str = "web-1") -> dict[str, t.Any]:
    task = Task()
    task.action = "alicloud.ecs.run"
    task.args = dict(args)
    task.run_once = run_once
    task.check_mode = check_mode
    hostvars = dict(hosts or {host: {}})
    action = run_action.ActionModule(task, Shell(), PlayContext(), DataLoader(), Templar(loader=DataLoader()), None)
    action._load_name = "alicloud.ecs.run"  # what ansible's plugin loader sets on every plugin it loads
    return action.run(task_vars={"inventory_hostname": host, "ansible_play_batch": list(hostvars),
                                 "hostvars": hostvars, **hostvars.get(host, {})})


@pytest.mark.parametrize("args, message", [
    ({"content": "id", "colour": "red"}, "colour"),
    ({"content": "id", "script": "x.sh"}, "mutually exclusive: content|script"),
    ({"timeout": 60}, "one of the following is required: content, script"),
    ({"content": "id", "command_type": "RunPerlScript"}, "command_type"),
    ({"content": "id", "timeout": "ten"}, "timeout"),
    ({"content": "id", "instance_ids": ["i-1"], "instance_tags": {"a": "b"}}, "instance_ids|instance_tags"),
    ({"content": "id", "batch": 2, "batch_size": 5}, "batch|batch_size"),
    ({"content": "id", "pause": "sometimes"}, "pause"),
])
def test_the_argument_spec_refuses_a_wrong_option_by_name(args, message: str) -> None:
    with pytest.raises(AnsibleActionFail, match=message):
        run({**KEYS, **args})
    assert RecordingClient.made == []


@pytest.mark.parametrize("args, message", [
    ({"timeout": 5}, "timeout must be at least 10 seconds, got 5"),
    ({"content": "   "}, "content must not be empty"),
    ({"health_check": " "}, "health_check must not be empty when given"),
    ({"instance_ids": []}, "instance_ids must not be empty when given"),
    ({"instance_tags": {}}, "instance_tags must hold between 1 and 20 tags"),
    ({"instance_tags": {f"k{number}": "v" for number in range(21)}}, "instance_tags must hold between 1 and 20"),
    ({"concurrency": "lots"}, "concurrency must be a whole number or a percentage like '10%', got 'lots'"),
    ({"max_errors": "150%"}, "max_errors must be a percentage between 0% and 100%, got '150%'"),
    ({"max_errors": -1}, "max_errors must not be negative"),
    ({"batch": 0}, "batch must be at least 1, got 0"),
    ({"batch_size": []}, "batch_size must not be an empty list"),
    ({"wait": False}, "wait: false needs engine: oos"),
    ({"oos_run_label": "x"}, "oos_run_label applies to engine: oos only"),
])
def test_the_actions_own_limits_fail_the_task_naming_the_option(args, message: str) -> None:
    result = run({**KEYS, "content": "uptime", **args})
    assert result["failed"] is True
    assert result["msg"].startswith(f"alicloud.ecs.run: {message}")
    assert RecordingClient.made == []  # refused before even a client was built


def test_missing_credentials_are_named_before_any_call() -> None:
    result = run({"content": "uptime", "region": "cn-hangzhou", "instance_ids": ["i-1"]})
    assert result["failed"] and result["msg"].startswith("alicloud.ecs.run: No Alibaba Cloud credentials.")


def test_a_host_without_an_instance_id_is_named() -> None:
    result = run({**KEYS, "content": "uptime"}, run_once=False, hosts={"web-1": {}})
    assert result["failed"] and result["msg"] == (
        "alicloud.ecs.run: no instance ID for host web-1: set ansible_alicloud_instance_id or instance_id "
        "(the alicloud.ecs.instances inventory does)")


def test_run_once_names_every_host_without_an_instance_id() -> None:
    hosts = {"web-1": {"ansible_alicloud_instance_id": "i-1"}, "bastion": {}, "db-9": {}}
    result = run({**KEYS, "content": "uptime"}, hosts=hosts)
    assert result["failed"] and "no instance ID for host(s) bastion, db-9" in result["msg"]


def test_check_mode_with_explicit_targets_plans_the_batches_without_calling_the_api() -> None:
    ids = [f"i-{number:03d}" for number in range(10)] + ["i-000"]  # a repeated id runs once
    result = run({**KEYS, "content": "uptime", "instance_ids": ids, "batch_size": "30%", "concurrency": "50%",
                  "max_errors": 1}, check_mode=True)
    assert not result.get("failed"), result
    assert result["changed"] is True and result["targets"] == ids[:10]
    assert (result["batches"], result["concurrency"], result["max_errors"]) == ([3, 3, 3, 1], 5, 1)
    assert result["msg"].startswith("would run RunShellScript on 10 instance(s) in 4 batch(es) [3, 3, 3, 1], 5 at a "
                                    "time, stopping once more than 1 fail")
    assert [settings.region for settings in RecordingClient.made] == ["cn-hangzhou"]


def test_check_mode_of_a_play_host_names_its_instance_and_region() -> None:
    hosts = {"web-1": {"ansible_alicloud_instance_id": "i-web", "ansible_alicloud_region": "cn-shanghai"}}
    result = run({**KEYS, "content": "uptime"}, run_once=False, check_mode=True, hosts=hosts)
    assert result == {**result, "changed": True,
                      "msg": "would run RunShellScript on instance i-web (cn-shanghai) with the other hosts of the "
                             "batch"}
