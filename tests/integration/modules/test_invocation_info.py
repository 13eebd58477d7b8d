"""alicloud.ecs.invocation_info end to end: results and output, filters, paging, history of periodic tasks."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.api.client import CloudClient, resolve_settings
from emulator.testing import EmulatorProcess, wait_for

DEMO_FLEET = Path(__file__).resolve().parents[3] / "emulator" / "fleets" / "demo.yml"
MODULE = "alicloud.ecs.invocation_info"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    """The demo fleet with short schedules allowed, so a periodic task runs several times within a test."""
    with EmulatorProcess(fleet=DEMO_FLEET, state_dir=tmp_path_factory.mktemp("emulator-state"),
                         period_min=1, min_timeout=1) as process:
        yield process


def api(emulator) -> CloudClient:
    return CloudClient(resolve_settings(env=emulator.env()))


def local_ids(emulator, reachable) -> list[str]:
    region = emulator.env()["ALIBABA_CLOUD_REGION_ID"]
    return [item["id"] for item in reachable if item["region"] == region]


def run(ansible, task: str, **options) -> dict:
    played = ansible.play([{"name": task, "alicloud.ecs.invocation": {"fail_on_error": False, **options}}])
    assert played.rc == 0, played.output
    return played.result(task)


def test_results_with_and_without_output(ansible, emulator, reachable):
    targets = local_ids(emulator, reachable)
    ran = run(ansible, "ran", content="echo out-$(hostname)", instance_ids=targets, name="info-echo",
              tags={"suite": "info"})
    played = ansible.play([
        {"name": "plain", MODULE: {"invoke_id": ran["invoke_id"]}},
        {"name": "output", MODULE: {"invoke_id": ran["invoke_id"], "include_output": True,
                                    "instance_id": targets[0]}},
    ], check=True)
    assert played.rc == 0, played.output
    [plain] = played.result("plain")["invocations"]
    assert plain["invoke_id"] == ran["invoke_id"] and plain["status"] == "Success"
    assert plain["command_name"] == "info-echo" and plain["tags"] == {"suite": "info"}
    assert {item["instance_id"] for item in plain["results"]} == set(targets)
    assert all("output" not in item and item["exit_code"] == 0 and item["finish_time"] for item in plain["results"])
    [detailed] = played.result("output")["invocations"]
    [only] = detailed["results"]
    hostname = emulator.exec(targets[0], "hostname")["stdout"].strip()
    assert only["instance_id"] == targets[0]
    assert only["output"] == f"out-{hostname}\n"  # the wrapper's frame, decoded
    assert played.outcome("plain") == "ok"


def test_filters(ansible, emulator, reachable):
    target = local_ids(emulator, reachable)[0]
    failed = run(ansible, "failed", content="exit 4", instance_ids=[target], name="info-fails")
    ok = run(ansible, "ok", content="true", instance_ids=[target], name="info-ok", tags={"pick": "me"})
    played = ansible.play([
        {"name": "by-name", MODULE: {"command_name": "info-fails"}},
        {"name": "by-status", MODULE: {"invoke_status": "Failed", "instance_id": target}},
        {"name": "by-tag", MODULE: {"tags": {"pick": "me"}}},
        {"name": "future", MODULE: {"created_after": "2999-01-01T00:00:00Z"}},
        {"name": "past", MODULE: {"created_before": "2000-01-01T00:00:00"}},
        {"name": "unknown", MODULE: {"invoke_id": "t-doesnotexist"}},
    ])
    assert played.rc == 0, played.output
    ids = {task: [item["invoke_id"] for item in played.result(task)["invocations"]]
           for task in ("by-name", "by-status", "by-tag", "future", "past", "unknown")}
    assert ids["by-name"] == [failed["invoke_id"]]
    assert failed["invoke_id"] in ids["by-status"] and ok["invoke_id"] not in ids["by-status"]
    assert ids["by-tag"] == [ok["invoke_id"]]
    assert ids["future"] == ids["past"] == ids["unknown"] == []


def test_pages(ansible, emulator, reachable):
    target = local_ids(emulator, reachable)[0]
    made = [run(ansible, f"page-{n}", content="true", instance_ids=[target], name="info-page")["invoke_id"]
            for n in range(3)]
    first = ansible.play([{"name": "p1", MODULE: {"command_name": "info-page", "max_results": 2}}])
    page1 = first.result("p1")
    assert len(page1["invocations"]) == 2 and page1["next_token"]
    second = ansible.play([{"name": "p2", MODULE: {"command_name": "info-page", "max_results": 2,
                                                   "next_token": page1["next_token"]}}])
    page2 = second.result("p2")
    assert page2["next_token"] == ""
    listed = [item["invoke_id"] for item in page1["invocations"] + page2["invocations"]]
    assert sorted(listed) == sorted(made)
    whole = ansible.play([{"name": "all", MODULE: {"command_name": "info-page"}}])
    assert sorted(item["invoke_id"] for item in whole.result("all")["invocations"]) == sorted(made)


def test_history_of_a_periodic_task(ansible, emulator, reachable):
    target = local_ids(emulator, reachable)[0]
    client = api(emulator)
    invoke_id = client.call("RunCommand", Type="RunShellScript", Frequency="rate(2s)", Timeout=1,
                            CommandContent=base64.b64encode(b"date +%s%N").decode(), ContentEncoding="Base64",
                            InstanceId=[target], Name="info-periodic")["InvokeId"]
    try:
        task = {"name": "history", MODULE: {"invoke_id": invoke_id, "include_history": True, "include_output": True}}

        def three_runs() -> tuple[dict, list[dict]] | None:
            played = ansible.play([task])
            assert played.rc == 0, played.output
            [invocation] = played.result("history")["invocations"]
            runs = [item for item in invocation["results"] if item["status"] == "Success"]
            return (invocation, runs) if len(runs) >= 3 else None
        invocation, runs = wait_for(three_runs, "three successful runs in the periodic task's history", step=1)
        assert invocation["repeat_mode"] == "Period" and invocation["frequency"] == "rate(2s)"
        assert [item["repeats"] for item in runs] == sorted({item["repeats"] for item in runs})
        assert len({item["output"] for item in runs}) == len(runs)  # each run printed its own time
        latest = ansible.play([{"name": "latest", MODULE: {"invoke_id": invoke_id}}]).result("latest")
        [current] = latest["invocations"][0]["results"]
        assert current["repeats"] >= runs[-1]["repeats"]
    finally:
        client.call("StopInvocation", InvokeId=invoke_id)


@pytest.mark.parametrize("options, message", [
    ({"max_results": 0}, "max_results: 0 is outside 1..50"),
    ({"created_after": "yesterday"}, "created_after: 'yesterday' is not an ISO 8601 time"),
    ({"tags": {"aliyun-x": "1"}}, "may not start with acs: or aliyun"),
    ({"invoke_status": "Done"}, "invoke_status"),
])
def test_bad_input_fails_before_any_call(ansible, emulator, options, message):
    emulator.reset_counters()
    played = ansible.play([{"name": "bad", MODULE: options}])
    assert played.rc != 0
    assert message in played.result("bad")["msg"]
    assert sum(emulator.counters().values()) == 0


def test_a_token_the_api_did_not_issue_is_its_refusal(ansible, emulator):
    played = ansible.play([{"name": "token", MODULE: {"next_token": "not-a-token"}}])
    assert played.rc != 0
    result = played.result("token")
    assert "InvalidParameter.NextToken" in result["msg"] and "DescribeInvocations" in result["msg"]
