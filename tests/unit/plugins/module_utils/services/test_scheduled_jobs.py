"""Scheduled-job decisions: option validation, the definition hash, and keep / replace / stop plans."""

from __future__ import annotations

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.services.scheduled_jobs import (
    HASH_TAG, JOB_TAG, build_spec, plan,
)

PARAMS = {"name": "nightly", "content": "true", "instance_ids": ["i-1"], "schedule": {"rate": "5m"},
          "command_type": "RunShellScript", "timeout": None}


def spec(**changes):
    return build_spec({**PARAMS, **changes})


def invocation(invoke_id: str, digest: str, status: str = "Scheduled", created: str = "2026-01-01T00:00:00Z",
               stop_time: str = "") -> dict:
    return {"InvokeId": invoke_id, "InvocationStatus": status, "CreationTime": created,
            "Tags": {"Tag": [{"TagKey": JOB_TAG, "TagValue": "nightly"}, {"TagKey": HASH_TAG, "TagValue": digest}]},
            "InvokeInstances": {"InvokeInstance": [{"InstanceId": "i-1", "StopTime": stop_time}]}}


def test_hash_follows_the_definition_not_its_spelling() -> None:
    assert spec().digest() == spec(instance_ids=["i-1", "i-1"], schedule={"rate": "rate(5m)"}).digest()
    assert spec().digest() != spec(schedule={"rate": "6m"}).digest()
    assert spec().digest() != spec(content="false").digest()
    assert spec().digest() != spec(parameters={"a": "1"}).digest()


def test_same_live_job_is_kept_and_leftovers_stopped() -> None:
    digest = spec().digest()
    kept, other = invocation("t-new", digest), invocation("t-old", "other")
    result = plan(spec(), [kept, other])
    assert result.keep is kept and result.stop == [other] and not result.create and result.changed
    assert not plan(spec(), [kept]).changed


def test_changed_definition_creates_and_stops_the_old() -> None:
    old = invocation("t-old", "other")
    result = plan(spec(), [old, invocation("t-done", "x", status="Stopped")])
    assert result.create and result.stop == [old] and result.keep is None


def test_absent_stops_every_live_invocation_only() -> None:
    live, done = invocation("t-1", "a"), invocation("t-2", "b", status="Success")
    result = plan(None, [live, done])
    assert result.stop == [live] and not result.create
    assert not plan(None, [done]).changed


def test_a_finished_one_shot_job_is_done_unless_it_was_stopped() -> None:
    once = spec(schedule={"at": "2020-01-01T00:00:00"})
    ran = invocation("t-1", once.digest(), status="Success")
    assert plan(once, [ran]).keep is ran and not plan(once, [ran]).changed
    stopped = invocation("t-1", once.digest(), status="Stopped", stop_time="2026-01-01T00:00:00Z")
    assert plan(once, [stopped]).create
    repeating = spec()
    assert plan(repeating, [invocation("t-1", repeating.digest(), status="Failed")]).create


@pytest.mark.parametrize("changes, message", [
    ({"name": "x" * 129}, "name: must be 1-128 characters"),
    ({"instance_ids": []}, "a job needs at least one target"),
    ({"instance_ids": [f"i-{n}" for n in range(101)]}, "instance_ids: at most 100"),
    ({"instance_tags": {f"k{n}": "v" for n in range(21)}}, "instance_tags: at most 20 tags"),
    ({"content": None, "command_id": "c-1", "instance_tags": {f"k{n}": "v" for n in range(11)}},
     "instance_tags: at most 10 tags"),
    ({"timeout": 86401}, "timeout: must be between 10 and 86400"),
    ({"working_dir": "/" * 201}, "working_dir: at most 200"),
    ({"parameters": {f"p{n}": "v" for n in range(11)}}, "parameters: at most 10 keys"),
    ({"content": "x" * 20000}, "content and parameters: 26668 bytes as Base64, the limit is 24576"),
])
def test_bad_options_name_the_option_and_the_limit(changes, message) -> None:
    with pytest.raises(ValueError) as raised:
        spec(**changes)
    assert message in str(raised.value)


def test_saved_command_timeout_bounds_the_schedule_once_known() -> None:
    invoke = {"content": None, "command_id": "c-1", "schedule": {"rate": "1m"}}
    assert spec(**invoke).schedule.frequency == "rate(1m)"  # before the look-up: only the absolute limits
    with pytest.raises(ValueError, match="longer than the timeout"):
        build_spec({**PARAMS, **invoke}, saved_timeout=60)
