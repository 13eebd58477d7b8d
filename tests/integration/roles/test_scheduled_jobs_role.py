"""The alicloud.ecs.scheduled_jobs role: a list of jobs created, left alone when unchanged, stopped when absent."""

from __future__ import annotations

ROLE_TASK = "jobs"
MODULE_TASK = "alicloud.ecs.scheduled_jobs : Put every scheduled job in its desired state"


def jobs_play(ansible, jobs: list[dict], web_tag: dict):
    return ansible.play([{"name": ROLE_TASK, "ansible.builtin.include_role": {"name": "alicloud.ecs.scheduled_jobs"},
                          "vars": {"scheduled_jobs_list": jobs, "scheduled_jobs_defaults": {"instance_tags": web_tag}}}])


def job_invocations(ansible, name: str) -> list[dict]:
    played = ansible.play([{"name": "runs", "alicloud.ecs.invocation_info": {"tags": {"alicloud-ecs:job": name}}}])
    assert played.rc == 0, played.output[-3000:]
    return played.result("runs")["invocations"]


def test_jobs_as_code(ansible, emulator):
    web = {"role": "web"}
    jobs = [{"name": "role-heartbeat", "content": "date >> /tmp/heartbeat", "schedule": {"rate": "5m"}},
            {"name": "role-rotate", "content": "true", "schedule": {"cron": "0 0 3 * * ? Asia/Shanghai"}, "timeout": 60}]
    first = jobs_play(ansible, jobs, web)
    assert first.rc == 0, first.output[-3000:]
    assert [item["changed"] for item in first.result(MODULE_TASK)["results"]] == [True, True]

    again = jobs_play(ansible, jobs, web)
    assert again.rc == 0, again.output[-3000:]
    assert [item["changed"] for item in again.result(MODULE_TASK)["results"]] == [False, False]
    running = [item for item in job_invocations(ansible, "role-rotate") if item["invoke_status"] not in ("Stopped",)]
    assert len(running) == 1

    removed = jobs_play(ansible, [jobs[0], {"name": "role-rotate", "state": "absent"}], web)
    assert removed.rc == 0, removed.output[-3000:]
    assert [item["changed"] for item in removed.result(MODULE_TASK)["results"]] == [False, True]
    statuses = {item["invoke_status"] for item in job_invocations(ansible, "role-rotate")}
    assert statuses <= {"Stopped", "Stopping"}, statuses
