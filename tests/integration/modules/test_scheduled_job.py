"""alicloud.ecs.scheduled_job end to end: a job runs on its schedule, is idempotent, is replaced when its
definition changes, stops when absent, and refuses bad schedules before any API call."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.api.client import CloudClient, resolve_settings
from emulator.testing import wait_for

JOB = "alicloud.ecs.scheduled_job"


def api(emulator) -> CloudClient:
    """A plain API client on the emulator, to look at what the module left behind."""
    env = emulator.env()
    return CloudClient(resolve_settings(env=env), env={})


def invocation(emulator, invoke_id: str) -> dict:
    found = api(emulator).call("DescribeInvocations", InvokeId=invoke_id)["Invocations"]["Invocation"]
    assert len(found) == 1, found
    return found[0]


def runs_seen(ansible, name: str, invoke_id: str) -> int:
    """Finished runs of the job's invocation as alicloud.ecs.invocation_info lists them (one result per past run),
    found by the job's tag."""
    played = ansible.play([{"name": "info", "alicloud.ecs.invocation_info": {
        "tags": {"alicloud-ecs:job": name}, "include_history": True}}])
    assert played.rc == 0, played.output
    found = [item for item in played.result("info")["invocations"] if item["invoke_id"] == invoke_id]
    assert len(found) == 1, played.result("info")
    return len([result for result in found[0]["results"] if result["status"] == "Success"])


def lines(emulator, instance_id: str, path: str) -> int:
    """How many runs left their line in ``path`` on the instance."""
    done = emulator.exec(instance_id, f"cat {path} 2>/dev/null | wc -l")
    return int(done["stdout"].strip() or 0)


@pytest.fixture
def web1(emulator) -> str:
    return emulator.instance_id("web-1")


def job_task(name: str, task: str = "job", **options) -> dict:
    return {"name": task, JOB: {"name": name, **options}}


def test_cron_job_runs_repeatedly_is_idempotent_and_stops_when_absent(ansible, emulator, web1):
    log = "/tmp/job-every-10s.log"
    options = {"content": f"date +%s >> {log}", "instance_ids": [web1], "timeout": 10,
               "schedule": {"cron": "*/10 * * * * ?"}}
    played = ansible.play([job_task("every-10s", "create", **options), job_task("every-10s", "again", **options)])
    assert played.rc == 0, played.output
    created, again = played.result("create")["job"], played.result("again")["job"]
    assert played.outcome("create") == "changed" and played.outcome("again") == "ok"
    assert again["invoke_id"] == created["invoke_id"] and created["invoke_id"].startswith("t-")
    assert created["schedule"] == {"repeat_mode": "Period", "frequency": "*/10 * * * * ?"}
    assert created["status"] in ("Pending", "Scheduled")
    invoke_id = created["invoke_id"]

    wait_for(lambda: runs_seen(ansible, "every-10s", invoke_id) >= 2 and lines(emulator, web1, log) >= 2,
             "two runs of the cron job", step=1)
    assert invocation(emulator, invoke_id)["InvocationStatus"] in ("Scheduled", "Running")

    played = ansible.play([job_task("every-10s", "remove", state="absent"),
                           job_task("every-10s", "remove again", state="absent")])
    assert played.rc == 0, played.output
    assert played.outcome("remove") == "changed" and played.result("remove")["stopped"] == [invoke_id]
    assert played.outcome("remove again") == "ok" and played.result("remove again")["stopped"] == []
    wait_for(lambda: invocation(emulator, invoke_id)["InvocationStatus"] == "Stopped",
             "the removed job's invocation to stop", step=0.5)
    runs, written = runs_seen(ansible, "every-10s", invoke_id), lines(emulator, web1, log)
    time.sleep(21)  # two more fire times of the cron
    assert (runs_seen(ansible, "every-10s", invoke_id), lines(emulator, web1, log)) == (runs, written)


def test_changed_schedule_replaces_the_job_new_first_then_old_stopped(ansible, emulator, web1):
    base = {"content": "true", "instance_ids": [web1], "timeout": 30}
    played = ansible.play([job_task("replace-me", "rate", schedule={"rate": "1m"}, **base)])
    assert played.rc == 0, played.output
    old = played.result("rate")["job"]
    assert old["schedule"] == {"repeat_mode": "Period", "frequency": "rate(1m)"}

    emulator.reset_counters()
    played = ansible.play([job_task("replace-me", "cron", schedule={"cron": "0 0 3 * * ? Asia/Shanghai"}, **base)],
                          diff=True)
    assert played.rc == 0, played.output
    result = played.result("cron")
    new = result["job"]
    assert played.outcome("cron") == "changed" and new["invoke_id"] != old["invoke_id"]
    assert result["stopped"] == [old["invoke_id"]]
    assert new["schedule"] == {"repeat_mode": "Period", "frequency": "0 0 3 * * ? Asia/Shanghai"}
    assert result["diff"]["before"]["schedule"]["frequency"] == "rate(1m)"
    assert result["diff"]["after"]["schedule"]["frequency"] == "0 0 3 * * ? Asia/Shanghai"
    counters = emulator.counters()
    assert counters.get("RunCommand") == 1 and counters.get("StopInvocation") == 1
    assert invocation(emulator, old["invoke_id"])["InvocationStatus"] == "Stopped"
    tags = {tag["TagKey"]: tag["TagValue"] for tag in invocation(emulator, new["invoke_id"])["Tags"]["Tag"]}
    assert tags["alicloud-ecs:job"] == "replace-me" and tags["alicloud-ecs:job-hash"] == new["definition_hash"]
    assert new["definition_hash"] != old["definition_hash"]


def test_check_mode_reports_without_starting_or_stopping(ansible, emulator, web1):
    base = {"content": "true", "instance_ids": [web1], "schedule": {"rate": "5m"}}
    emulator.reset_counters()
    played = ansible.play([job_task("checked", "new", **base)], check=True, diff=True)
    assert played.rc == 0, played.output
    result = played.result("new")
    assert played.outcome("new") == "changed" and result["job"]["invoke_id"] is None
    assert result["diff"]["before"] == {} and result["diff"]["after"]["schedule"]["frequency"] == "rate(5m)"
    assert emulator.counters().get("RunCommand", 0) == 0

    created = ansible.play([job_task("checked", "real", **base)]).result("real")["job"]
    emulator.reset_counters()
    played = ansible.play([job_task("checked", "change", **{**base, "schedule": {"rate": "10m"}}),
                           job_task("checked", "same", **base)], check=True)
    assert played.outcome("change") == "changed" and played.result("change")["stopped"] == [created["invoke_id"]]
    assert played.outcome("same") == "ok" and played.result("same")["job"]["invoke_id"] == created["invoke_id"]
    counters = emulator.counters()
    assert counters.get("RunCommand", 0) == 0 and counters.get("StopInvocation", 0) == 0
    assert invocation(emulator, created["invoke_id"])["InvocationStatus"] in ("Pending", "Scheduled")


def test_at_job_runs_once_and_then_counts_as_done(ansible, emulator, web1):
    when = (datetime.now(timezone.utc) + timedelta(seconds=8)).replace(microsecond=0).isoformat()
    options = {"content": "echo once >> /tmp/job-at.log", "instance_ids": [web1], "schedule": {"at": when}}
    created = ansible.play([job_task("at-once", "create", **options)]).result("create")["job"]
    assert created["schedule"]["frequency"].startswith("at(") and created["schedule"]["repeat_mode"] == "Period"
    wait_for(lambda: invocation(emulator, created["invoke_id"])["InvocationStatus"] == "Success",
             "the at job's run to succeed", step=1)
    assert lines(emulator, web1, "/tmp/job-at.log") == 1
    played = ansible.play([job_task("at-once", "again", **options)])
    assert played.rc == 0, played.output
    assert played.outcome("again") == "ok" and played.result("again")["job"]["invoke_id"] == created["invoke_id"]


BAD = [
    ({"schedule": {"rate": "30s"}}, "schedule.rate: '30s' is 30s; it must be between 60s and 7d"),
    ({"schedule": {"rate": "2m"}, "timeout": 300}, "schedule.rate: 120s must be longer than the timeout (300s)"),
    ({"schedule": {"cron": "*/5 * * * * ?"}, "timeout": 10}, "fires 5s apart"),
    ({"schedule": {"cron": "0 0 0 * * ? Mars/Olympus"}}, "schedule.cron: unknown time zone 'Mars/Olympus'"),
    ({"schedule": {"cron": "0 * * * *"}}, "needs 6 or 7 fields"),
    ({"schedule": {"at": "someday"}}, "schedule.at: 'someday' is not an ISO 8601 time"),
    ({"schedule": {"rate": "5m", "cron": "0 0 0 * * ?"}}, "schedule: give exactly one of"),
    ({"schedule": {"rate": "5m"}, "timeout": 5}, "timeout: must be between 10 and 86400"),
    ({"schedule": {"rate": "5m"}, "instance_tags": {"acs:x": "y"}}, "instance_tags: key 'acs:x'"),
]


def test_bad_schedules_fail_before_any_api_call(ansible, emulator, web1):
    tasks = [{**job_task("bad", f"bad {n}", content="true", instance_ids=[web1], command_type="RunShellScript",
                         **options), "ignore_errors": True} for n, (options, _message) in enumerate(BAD)]
    tasks.append({**job_task("bad", "past at", command_id="c-nosuch", instance_ids=[web1],
                             schedule={"cron": "0 0 0 1 1 ? 2020"}), "ignore_errors": True})
    emulator.reset_counters()
    played = ansible.play(tasks)
    for n, (_options, message) in enumerate(BAD):
        assert played.outcome(f"bad {n}") == "failed" and message in played.result(f"bad {n}")["msg"]
    assert "never fires" in played.result("past at")["msg"]
    assert sum(emulator.counters().values()) == 0


def test_saved_command_job_uses_invoke_command_with_its_timeout(ansible, emulator, web1):
    client = api(emulator)
    client.call("CreateCommand", Name="job-saved", Type="RunShellScript", CommandContent="echo saved",
                ContentEncoding="PlainText", Timeout=120)
    options = {"command_name": "job-saved", "instance_ids": [web1]}
    emulator.reset_counters()
    played = ansible.play([{**job_task("saved", "too fast", schedule={"rate": "2m"}, **options), "ignore_errors": True}])
    assert "schedule.rate: 120s must be longer than the timeout (120s)" in played.result("too fast")["msg"]
    assert set(emulator.counters()) == {"DescribeCommands"}  # the look-up of the command's timeout only
    played = ansible.play([job_task("saved", "ok", schedule={"rate": "3m"}, **options)])
    assert played.rc == 0, played.output
    job = played.result("ok")["job"]
    assert job["schedule"] == {"repeat_mode": "Period", "frequency": "rate(3m)"}
    assert emulator.counters().get("InvokeCommand") == 1
    assert invocation(emulator, job["invoke_id"])["CommandName"] == "job-saved"


def test_rate_job_runs_every_minute_until_removed(ansible, emulator, web1):
    """rate(1m) is the shortest rate the API accepts: the first run comes one minute after creation, the next one
    minute after it ended, so two runs take a little over two minutes of real time."""
    log = "/tmp/job-every-minute.log"
    options = {"content": f"date +%s >> {log}", "instance_ids": [web1], "timeout": 10, "schedule": {"rate": "1m"}}
    played = ansible.play([job_task("every-minute", "create", **options)])
    assert played.rc == 0, played.output
    invoke_id = played.result("create")["job"]["invoke_id"]
    wait_for(lambda: runs_seen(ansible, "every-minute", invoke_id) >= 2, "two runs of the rate job", 150, step=5)
    stamps = [int(line) for line in emulator.exec(web1, f"cat {log}")["stdout"].split()]
    assert len(stamps) >= 2 and stamps[1] - stamps[0] >= 60
    played = ansible.play([job_task("every-minute", "remove", state="absent")])
    assert played.result("remove")["stopped"] == [invoke_id]
    wait_for(lambda: invocation(emulator, invoke_id)["InvocationStatus"] == "Stopped",
             "the removed job's invocation to stop", step=0.5)
