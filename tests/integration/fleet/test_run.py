"""alicloud.ecs.run end to end on 20 isolated emulated instances: the error threshold, batches with a
health check and rollback, pauses without a terminal, check mode and bad input."""

from __future__ import annotations

import pytest

from fleet_helpers import fleet_play, fleet_play_tty, names_to_ids, own_fact_task

FLEET_FILE = "twenty.yml"  # 20 instances, each with its own filesystem (namespace isolation)
pytestmark = pytest.mark.usefixtures("fresh")
RUN = "fleet run"


def has_file(emulator, instance_id: str, path: str) -> bool:
    return emulator.exec(instance_id, f"test -e {path} && echo yes")["stdout"].strip() == "yes"


def run_task(**args) -> dict:
    return {"name": RUN, "alicloud.ecs.run": args, "run_once": True}


def test_threshold_stops_launching_names_the_failed_hosts_and_rolls_back(ansible, emulator, tmp_path):
    names = names_to_ids(emulator)
    failing = ["fleet-7", "fleet-8", "fleet-9"]
    task = run_task(content="touch /tmp/ran; test ! -e /etc/fail-me", batch_size=5, max_errors=2,
                    rollback="touch /tmp/rolled-back")
    for name in failing:
        emulator.exec(names[name], "touch /etc/fail-me")
    played = fleet_play(ansible, emulator, tmp_path, [{**task, "ignore_errors": True}])
    assert played.outcome(RUN) == "failed", played.output
    result = played.result(RUN)
    assert "more than max_errors (2)" in result["msg"]
    assert result["msg"].endswith("Failed hosts: fleet-7, fleet-8, fleet-9")
    assert result["summary"]["failed"] == sorted(failing)
    check_threshold_run(emulator, names, failing, result["results"])

    # The same run again with fail_when_stopped: false, so that ansible-core sets the facts.
    emulator.reset()
    for name in failing:
        emulator.exec(names[name], "touch /etc/fail-me")
    played = fleet_play(ansible, emulator, tmp_path, [
        {**task, "alicloud.ecs.run": {**task["alicloud.ecs.run"], "fail_when_stopped": False}}, own_fact_task(),
        {"name": "summary fact", "ansible.builtin.debug": {"var": "ansible_facts.alicloud_run_summary"}, "run_once": True}])
    assert played.rc == 0, played.output
    summary = played.result("summary fact")["ansible_facts.alicloud_run_summary"]
    assert summary["failed"] == sorted(failing)
    assert "more than max_errors (2)" in summary["stopped"]
    facts = {host: item["ansible_facts.alicloud_run"] for host, item in played.per_host("own fact").items()}
    assert len(facts) == 20
    check_threshold_run(emulator, names, failing, facts)


def check_threshold_run(emulator, names: dict[str, str], failing: list[str], results: dict[str, dict]) -> None:
    """Batches of 5: batch 2 holds the 3 failures, batches 3-4 never start, batches 1-2 are rolled back."""
    for name, instance_id in names.items():
        number = int(name.split("-")[1])
        fact = results[name]
        assert fact["instance_id"] == instance_id
        expected = "Failed" if name in failing else "Success" if number <= 10 else "Skipped"
        assert fact["status"] == expected, (name, fact)
        assert fact["batch"] == (number - 1) // 5 + 1
        assert has_file(emulator, instance_id, "/tmp/ran") == (number <= 10)
        assert has_file(emulator, instance_id, "/tmp/rolled-back") == (number <= 10)
        assert (fact["rollback"] or {}).get("status") == ("Success" if number <= 10 else None)
    assert results["fleet-7"]["exit_code"] == 1
    assert results["fleet-7"]["error_code"] == "ExitCodeNonzero"


def test_failures_within_max_errors_leave_the_task_successful(ansible, emulator, tmp_path):
    emulator.exec(names_to_ids(emulator)["fleet-3"], "touch /etc/fail-me")
    played = fleet_play(ansible, emulator, tmp_path, [
        run_task(content="echo out-$(hostname); test ! -e /etc/fail-me", max_errors="10%"), own_fact_task()])
    assert played.rc == 0, played.output
    result = played.result(RUN)
    assert result["summary"]["failed"] == ["fleet-3"]
    assert len(result["summary"]["succeeded"]) == 19
    assert "fleet-3" in result["msg"]
    facts = played.per_host("own fact")
    assert facts["fleet-5"]["ansible_facts.alicloud_run"]["output"] == "out-fleet-5\n"


def test_health_check_failure_rolls_back_started_batches_and_leaves_the_rest(ansible, emulator, tmp_path):
    names = names_to_ids(emulator)
    emulator.exec(names["fleet-10"], "touch /etc/unhealthy")
    played = fleet_play(ansible, emulator, tmp_path, [
        {**run_task(content="touch /tmp/updated", batch=3, health_check="test ! -e /etc/unhealthy",
                    rollback="rm -f /tmp/updated; touch /tmp/rolled-back"), "ignore_errors": True}])
    result = played.result(RUN)
    assert played.outcome(RUN) == "failed"
    assert "health check of batch 2 failed on fleet-10" in result["msg"]
    assert result["summary"]["failed"] == ["fleet-10"]
    assert result["results"]["fleet-10"]["status"] == "HealthCheckFailed"
    assert result["results"]["fleet-10"]["health_check"]["exit_code"] == 1
    for name, instance_id in names.items():
        number = int(name.split("-")[1])
        started = number <= 14  # batches of 7, 7, 6
        assert has_file(emulator, instance_id, "/tmp/rolled-back") == started, name
        assert not has_file(emulator, instance_id, "/tmp/updated"), name


def test_pause_without_a_terminal_fails_clearly_unless_told_to_continue(ansible, emulator, tmp_path):
    names = names_to_ids(emulator)
    stopped = fleet_play(ansible, emulator, tmp_path, [
        {**run_task(content="touch /tmp/ran", batch=2, pause="first"), "ignore_errors": True}])
    result = stopped.result(RUN)
    assert stopped.outcome(RUN) == "failed"
    assert "stdin is not interactive" in result["msg"] and "pause_continue: true" in result["msg"]
    assert result["summary"]["skipped"] == sorted(f"fleet-{n}" for n in range(11, 21))
    assert not has_file(emulator, names["fleet-11"], "/tmp/ran")
    assert has_file(emulator, names["fleet-1"], "/tmp/ran")
    went_on = fleet_play(ansible, emulator, tmp_path, [
        run_task(content="touch /tmp/ran", batch=2, pause="first", pause_continue=True)])
    assert went_on.rc == 0, went_on.output
    assert len(went_on.result(RUN)["summary"]["succeeded"]) == 20
    assert has_file(emulator, names["fleet-20"], "/tmp/ran")


@pytest.mark.parametrize(("answer", "outcome"), [(b"\r", "changed"), (b"a", "failed")])
def test_pause_in_a_terminal_waits_for_the_operator(ansible, emulator, tmp_path, answer, outcome):
    names = names_to_ids(emulator)
    played = fleet_play_tty(ansible, emulator, tmp_path, [
        {**run_task(content="touch /tmp/ran", batch=2, pause="first", rollback="touch /tmp/rolled-back"),
         "ignore_errors": True}], prompt="Press Enter to start batch 2", answer=answer)
    assert played.outcome(RUN) == outcome, played.output
    summary = played.result(RUN)["summary"]
    assert "batch 1/2 done" in played.output
    assert has_file(emulator, names["fleet-20"], "/tmp/ran") == (outcome == "changed")
    if outcome == "failed":
        assert summary["stopped"] == "the operator stopped the run after batch 1"
        assert summary["rolled_back"] == sorted(f"fleet-{n}" for n in range(1, 11))
    else:
        assert len(summary["succeeded"]) == 20


def test_concurrency_limits_instances_at_once(ansible, emulator, tmp_path):
    emulator.reset_counters()
    played = fleet_play(ansible, emulator, tmp_path, [
        run_task(content="sleep 1", concurrency="25%")])
    assert played.rc == 0, played.output
    counters = emulator.counters()
    # 5 at a time: at least 4 launches, none bigger than 5 instances.
    assert counters["RunCommand"] >= 4
    assert len(played.result(RUN)["summary"]["invoke_ids"]) == counters["RunCommand"]
    per_invocation: dict[str, int] = {}
    for item in played.result(RUN)["results"].values():
        per_invocation[item["invoke_id"]] = per_invocation.get(item["invoke_id"], 0) + 1
    assert max(per_invocation.values()) <= 5


def test_check_mode_runs_nothing_and_says_what_would(ansible, emulator, tmp_path):
    emulator.reset_counters()
    played = fleet_play(ansible, emulator, tmp_path, [run_task(content="touch /tmp/ran", batch=4)], "--check")
    assert played.rc == 0, played.output
    result = played.result(RUN)
    assert result["batches"] == [5, 5, 5, 5]
    assert "would run RunShellScript on 20 instance(s) in 4 batch(es)" in result["msg"]
    assert sum(emulator.counters().values()) == 0
    assert not has_file(emulator, names_to_ids(emulator)["fleet-1"], "/tmp/ran")


def test_script_is_rendered_with_the_play_variables(ansible, emulator, tmp_path):
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "greet.sh.j2").write_text("echo '{{ greeting }} from {{ ansible_play_hosts_all | length }}'\n")
    played = fleet_play(ansible, emulator, tmp_path, [
        run_task(script="greet.sh.j2", instance_ids=[names_to_ids(emulator)["fleet-2"]]), own_fact_task()],
        "-e", "greeting=hi")
    assert played.rc == 0, played.output
    result = played.result(RUN)
    assert list(result["results"]) == ["fleet-2"]
    assert played.per_host("own fact")["fleet-2"]["ansible_facts.alicloud_run"]["output"] == "hi from 20\n"
    assert played.per_host("own fact")["fleet-3"]["ansible_facts.alicloud_run"] is None


def test_tag_targets_are_listed_then_run_and_land_on_their_hosts(ansible, emulator, tmp_path):
    emulator.reset_counters()
    played = fleet_play(ansible, emulator, tmp_path, [
        run_task(content="hostname", instance_tags={"role": "fleet"}, batch_size=100), own_fact_task()])
    assert played.rc == 0, played.output
    counters = emulator.counters()
    assert counters["DescribeInstances"] == 1 and counters["RunCommand"] == 1
    facts = played.per_host("own fact")
    assert {host: item["ansible_facts.alicloud_run"]["output"] for host, item in facts.items()} == \
        {host: f"{host}\n" for host in names_to_ids(emulator)}


@pytest.mark.parametrize(("args", "message"), [
    ({"content": "true", "max_errors": "lots"}, "max_errors must be a whole number or a percentage"),
    ({"content": "true", "concurrency": "150%"}, "concurrency must be a percentage between 0% and 100%"),
    ({"content": "true", "batch": 0}, "batch must be at least 1"),
    ({"content": "true", "timeout": 5}, "timeout must be at least 10 seconds"),
    ({"content": "true", "batch": 2, "batch_size": 3}, "mutually exclusive"),
    ({"script": "no-such-script.sh"}, "script:"),
])
def test_bad_input_fails_before_any_api_call(ansible, emulator, tmp_path, args, message):
    emulator.reset_counters()
    played = fleet_play(ansible, emulator, tmp_path, [run_task(**args)])
    assert played.rc != 0
    assert message in played.result(RUN)["msg"]
    assert sum(emulator.counters().values()) == 0
