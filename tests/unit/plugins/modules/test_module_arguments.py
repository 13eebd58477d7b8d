"""Three modules run in-process with real module arguments and a stubbed API client: every bad option fails the
module naming it before any API call, and good options reach the API as the module documents
(event_info's filters, assistant_install's plan in check mode, send_file's limits)."""

from __future__ import annotations

import json
import typing as t

import pytest

from ansible.module_utils import basic

from ansible_collections.alicloud.ecs.plugins.module_utils.services.cloud_module import CloudModule
from ansible_collections.alicloud.ecs.plugins.modules import assistant_install, event_info, send_file

KEYS = {"access_key": "LTAI.module", "secret_key": "SENTINEL-secret-value", "region": "cn-hangzhou"}  # no_log: masked


class StubClient:
    """Answers the read actions these modules use from a tiny region; records every call."""

    region = "cn-hangzhou"

    def __init__(self, instances: dict[str, str], online: t.Iterable[str] = ()) -> None:
        self.instances = instances
        self.online = set(online)
        self.calls: list[tuple[str, dict[str, t.Any]]] = []

    def call(self, action: str, **params: t.Any) -> dict[str, t.Any]:
        self.calls.append((action, params))
        if action == "DescribeInstances":
            wanted = json.loads(str(params["InstanceIds"]))
            return {"Instances": {"Instance": [{"InstanceId": iid, "Status": self.instances[iid]}
                                               for iid in wanted if iid in self.instances]}}
        if action == "DescribeCloudAssistantStatus":
            return {"InstanceCloudAssistantStatusSet": {"InstanceCloudAssistantStatus": [
                {"InstanceId": iid, "CloudAssistantStatus": str(iid in self.online).lower()}
                for iid in params["InstanceId"]]}, "TotalCount": len(params["InstanceId"])}
        if action == "DescribeInstancesFullStatus":
            return {"InstanceFullStatusSet": {"InstanceFullStatusType": [
                {"InstanceId": iid, "Status": {"Name": status}, "HealthStatus": {"Name": "Ok"},
                 "ScheduledSystemEventSet": {"ScheduledSystemEventType": [
                     {"EventId": f"e-{iid}", "EventType": {"Name": "SystemMaintenance.Reboot"},
                      "EventCycleStatus": {"Name": "Scheduled"}, "EventPublishTime": "2030-01-01T00:00:00Z"}]}}
                for iid, status in self.instances.items()]}, "TotalCount": len(self.instances)}
        if action == "DescribeInstanceHistoryEvents":
            return {"InstanceSystemEventSet": {"InstanceSystemEventType": []}}
        raise AssertionError(f"{action} is not a read this test expects")

    def actions(self) -> list[str]:
        return [action for action, _params in self.calls]


@pytest.fixture
def client(monkeypatch):
    """The client every module gets; replaced per test by setting ``stub.value``."""
    holder = {"value": StubClient({})}
    monkeypatch.setattr(CloudModule, "client", property(lambda self: holder["value"]))
    return holder


def run_module(monkeypatch, capsys, main: t.Callable[[], None], args: dict[str, t.Any],
               check_mode: bool = False) -> dict[str, t.Any]:
    """Run a module's main() as ansible would and return the JSON it prints."""
    payload = dict(args)
    if check_mode:
        payload["_ansible_check_mode"] = True
    monkeypatch.setattr(basic, "_ANSIBLE_ARGS", json.dumps({"ANSIBLE_MODULE_ARGS": payload}).encode())
    if hasattr(basic, "_ANSIBLE_PROFILE"):
        monkeypatch.setattr(basic, "_ANSIBLE_PROFILE", "legacy")
    with pytest.raises(SystemExit):
        main()
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("args, message", [
    ({"cycle_statuses": ["Done"]}, "cycle_statuses"),
    ({"publish_time": {"start": "yesterday"}}, "publish_time.start must look like 2030-01-01T00:00:00Z"),
    ({"not_before": {"start": "2030-01-02T00:00:00Z", "end": "2030-01-01T00:00:00Z"}},
     "not_before.end must not be earlier than not_before.start"),
    ({"event_types": ["SystemMaintenance.Reboot"] * 31}, "event_types takes at most 30 event types, got 31"),
    ({"instance_ids": ["i-1", ""]}, "instance_ids must hold non-empty instance id strings"),
    ({"publish_time": {"begin": "2030-01-01T00:00:00Z"}}, "begin"),
])
def test_event_info_refuses_bad_filters_before_any_call(monkeypatch, capsys, client, args, message) -> None:
    result = run_module(monkeypatch, capsys, event_info.main, {**KEYS, **args})
    assert result["failed"] and message in result["msg"]
    assert client["value"].calls == []


def test_event_info_reads_pending_events_for_the_named_instances(monkeypatch, capsys, client) -> None:
    client["value"] = StubClient({"i-1": "Running"})
    result = run_module(monkeypatch, capsys, event_info.main,
                        {**KEYS, "instance_ids": ["i-1", "i-1"], "history": False,
                         "event_types": ["SystemMaintenance.Reboot"]})
    assert result["changed"] is False and "history_events" not in result
    assert [event["event_id"] for event in result["pending_events"]] == ["e-i-1"]
    ((action, params),) = client["value"].calls
    assert (action, params["InstanceId"], params["InstanceEventType"]) == (
        "DescribeInstancesFullStatus", ["i-1"], ["SystemMaintenance.Reboot"])


@pytest.mark.parametrize("args, message", [
    ({}, "missing required arguments: instance_ids"),
    ({"instance_ids": []}, "instance_ids must name at least one instance"),
    ({"instance_ids": ["i-1"], "wait_timeout": 0}, "wait_timeout must be between 1 and"),
    ({"instance_ids": ["i-1"], "reboot": "perhaps"}, "reboot"),
])
def test_assistant_install_refuses_bad_options_before_any_call(monkeypatch, capsys, client, args, message) -> None:
    result = run_module(monkeypatch, capsys, assistant_install.main, {**KEYS, **args})
    assert result["failed"] and message in result["msg"]
    assert client["value"].calls == []


def test_assistant_install_in_check_mode_plans_from_reads_only(monkeypatch, capsys, client) -> None:
    client["value"] = StubClient({"i-on": "Running", "i-off": "Running"}, online=["i-on"])
    result = run_module(monkeypatch, capsys, assistant_install.main,
                        {**KEYS, "instance_ids": ["i-on", "i-off"], "reboot": True}, check_mode=True)
    assert (result["changed"], result["installed"], result["already_online"], result["rebooted"]) == (
        True, ["i-off"], ["i-on"], [])
    assert client["value"].actions() == ["DescribeInstances", "DescribeCloudAssistantStatus"]


def test_assistant_install_names_stopped_instances_and_installs_nothing(monkeypatch, capsys, client) -> None:
    client["value"] = StubClient({"i-stopped": "Stopped"})
    result = run_module(monkeypatch, capsys, assistant_install.main, {**KEYS, "instance_ids": ["i-stopped"]})
    assert result["failed"] and result["msg"] == ("the agent can only be installed on Running instances; start these "
                                                  "first: i-stopped (Stopped)")
    assert "InstallCloudAssistant" not in client["value"].actions()


@pytest.mark.parametrize("args, message", [
    ({"content": "x", "src": "/etc/hosts"}, "parameters are mutually exclusive: content|src"),
    ({}, "one of the following is required: content, src"),
    ({"content": "x", "target_dir": "relative/dir"}, "target_dir must be an absolute path"),
    ({"content": "x", "name": "a/b"}, "name must be a file name (no /)"),
    ({"content": "x", "mode": "rw-r--r--"}, "mode must be 3 or 4 octal digits such as 0644, got 'rw-r--r--'"),
    ({"content": "x", "owner": "bad user"}, "owner must be 1 to"),
    ({"content": "x", "timeout": 1}, "timeout must be between"),
    ({"src": "/nonexistent/file"}, "src: cannot read /nonexistent/file: No such file or directory"),
])
def test_send_file_refuses_bad_options_before_any_call(monkeypatch, capsys, client, args, message) -> None:
    base = {**KEYS, "instance_ids": ["i-1"], "target_dir": "/etc/app", "name": "app.conf"}
    result = run_module(monkeypatch, capsys, send_file.main, {**base, **args})
    assert result["failed"] and message in result["msg"]
    assert client["value"].calls == []
