"""alicloud.ecs.oos_execution end to end on a fleet of six instances: ACS-ECS-BulkyRunCommand with concurrency 2 and
a failing instance (per-instance outputs, MaxErrors), check mode, FailurePause with notify retry/skip, batch pause
with notify approve, cancel, and bad input refused before any API call."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.testing import EmulatorProcess

FLEET = Path(__file__).resolve().parent / "fleets" / "oos.yml"
BULKY = "ACS-ECS-BulkyRunCommand"
ALL = {"Type": "Tags", "RegionId": "cn-hangzhou", "Tags": [{"Key": "fleet", "Value": "oos"}]}
# Every instance prints when it ran (one host clock for all); the given one fails fast with exit 7.
TIMED = ('s=$(date +%s.%N); if [ "$(hostname)" = {bad} ]; then echo boom; exit 7; fi; sleep 1; '
         'echo "hello $(hostname) $s $(date +%s.%N)"')


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    """This module's own fleet: six reachable instances in one region."""
    with EmulatorProcess(fleet=FLEET, state_dir=tmp_path_factory.mktemp("oos-state")) as process:
        yield process


def run(name: str, ignore_errors: bool = False, **options) -> dict:
    """One oos_execution task named ``name``."""
    return {"name": name, "alicloud.ecs.oos_execution": options, "ignore_errors": ignore_errors}


def bulky(content: str, rate: dict, targets: dict | None = None, **options) -> dict:
    """Options of a BulkyRunCommand start."""
    return {"template_name": BULKY, "parameters": {"targets": targets or ALL, "commandContent": content,
                                                   "timeout": 60, "rateControl": rate}, **options}


def names(emulator) -> dict[str, str]:
    return {item["id"]: item["name"] for item in emulator.instances()}


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    """The largest number of intervals that overlap at one instant."""
    edges = sorted([(start, 1) for start, _end in intervals] + [(end, -1) for _start, end in intervals])
    best = running = 0
    for _instant, step in edges:
        running += step
        best = max(best, running)
    return best


def test_six_instances_two_at_a_time_one_failure_allowed(ansible, emulator):
    by_id = names(emulator)
    played = ansible.play([run("bulky", **bulky(TIMED.replace("{bad}", "oos-3"),
                                                {"Mode": "Concurrency", "Concurrency": 2, "MaxErrors": 1}))])
    assert played.rc == 0, played.output
    result = played.result("bulky")
    assert played.outcome("bulky") == "changed"
    assert result["status"] == "Success" and result["counters"] == {"Total": 6, "Success": 5, "Failed": 1}
    instances = {by_id[item["instance_id"]]: item for item in result["instances"]}
    assert set(instances) == {f"oos-{n}" for n in range(1, 7)}
    bad = instances.pop("oos-3")
    assert (bad["status"], bad["exit_code"], bad["output"], bad["error_code"]) == ("Failed", 7, "boom\n", "ExitCodeNonzero")
    intervals = []
    for name, item in instances.items():
        words = item["output"].split()
        assert (item["status"], item["exit_code"], words[:2]) == ("Success", 0, ["hello", name])
        intervals.append((float(words[2]), float(words[3])))
    assert most_at_once(intervals) == 2  # Concurrency 2: never three at once, and the pool was used
    assert sorted(result["outputs"]["commandOutputs"]) == sorted([i["output"] for i in result["instances"]])
    assert [task["name"] for task in result["tasks"]] == ["getInstance", "runCommand"]
    assert len(result["loop_items"]) == 6
    assert result["progress"] and result["progress"][-1]["status"] == "Success"
    assert any(seen["status"] == "Running" for seen in result["progress"])


def test_max_errors_zero_stops_and_names_the_instance(ansible, emulator):
    by_name = {name: iid for iid, name in names(emulator).items()}
    played = ansible.play([run("strict", True, **bulky(TIMED.replace("{bad}", "oos-1"),
                                                       {"Mode": "Concurrency", "Concurrency": 2, "MaxErrors": 0}))])
    assert played.outcome("strict") == "failed"
    result = played.result("strict")
    assert result["status"] == "Failed"
    assert by_name["oos-1"] in result["msg"] and "exit code 7" in result["msg"] and "MaxErrors is 0" in result["msg"]
    assert len(result["instances"]) < 6  # no item started once the failure exceeded MaxErrors
    assert result["counters"]["Failed"] == 1
    played = ansible.play([run("tolerant", fail_on_error=False,
                               **bulky("exit 2", {"Mode": "Concurrency", "Concurrency": 2, "MaxErrors": 0}))])
    assert played.rc == 0, played.output
    assert played.result("tolerant")["status"] == "Failed"


def test_check_mode_starts_nothing(ansible, emulator):
    emulator.reset_counters()
    played = ansible.play([run("would run", **bulky("true", {"Mode": "Concurrency", "Concurrency": 2}))], check=True)
    assert played.rc == 0, played.output
    assert played.outcome("would run") == "changed" and played.result("would run")["execution_id"] == ""
    assert "StartExecution" not in emulator.counters()
    played = ansible.play([run("unknown", True, template_name="no-such-template")], check=True)
    assert played.outcome("unknown") == "failed" and "does not exist" in played.result("unknown")["msg"]


def test_failure_pause_retry_then_skip(ansible, emulator):
    by_name = {name: iid for iid, name in names(emulator).items()}
    first, second = by_name["oos-4"], by_name["oos-5"]
    emulator.exec(first, "rm -f /tmp/oos-ok")
    emulator.exec(second, "rm -f /tmp/oos-ok")
    targets = {"Type": "ResourceIds", "RegionId": "cn-hangzhou", "ResourceIds": [first, second]}
    played = ansible.play([run("paused", mode="FailurePause", **bulky(
        "[ -e /tmp/oos-ok ] || { echo missing; exit 4; }; echo fine", {"Mode": "Concurrency", "Concurrency": 1},
        targets))])
    assert played.rc == 0, played.output
    paused = played.result("paused")
    assert paused["status"] == "Waiting"
    [failed] = [item for item in paused["instances"] if item["status"] == "Failed"]
    emulator.exec(failed["instance_id"], "touch /tmp/oos-ok")
    exec_id = paused["execution_id"]
    played = ansible.play([
        run("retry", execution_id=exec_id, notify="retry", loop_item=failed["instance_id"]),
        run("skip", execution_id=exec_id, notify="skip"),
        run("nothing left", True, execution_id=exec_id, notify="skip"),
    ])
    retried, skipped = played.result("retry"), played.result("skip")
    assert retried["notified"] == [failed["task_execution_id"]] and retried["status"] == "Waiting"
    assert played.outcome("skip") == "changed" and skipped["status"] == "Success"
    statuses = {item["instance_id"]: item["status"] for item in skipped["instances"]}
    other = second if failed["instance_id"] == first else first
    assert statuses == {failed["instance_id"]: "Success", other: "Skipped"}
    assert skipped["counters"] == {"Total": 2, "Success": 1, "Failed": 0, "Skipped": 1}
    assert played.outcome("nothing left") == "failed" and "not Waiting" in played.result("nothing left")["msg"]


def test_batch_pause_approve(ansible, emulator):
    played = ansible.play([run("first batch", loop_mode="FirstBatchPause", **bulky(
        "echo batch", {"Mode": "Batch", "Batch": [3], "MaxErrors": 0}))])
    assert played.rc == 0, played.output
    first = played.result("first batch")
    assert first["status"] == "Waiting" and first["counters"]["Success"] == 3
    played = ansible.play([run("approve", execution_id=first["execution_id"], notify="approve")])
    assert played.rc == 0, played.output
    assert played.result("approve")["status"] == "Success"
    assert played.result("approve")["counters"] == {"Total": 6, "Success": 6, "Failed": 0}


def test_cancel(ansible, emulator):
    played = ansible.play([run("long", wait=False, **bulky("sleep 30", {"Mode": "Concurrency", "Concurrency": 2}))])
    assert played.rc == 0, played.output
    exec_id = played.result("long")["execution_id"]
    assert played.result("long")["status"] in ("Started", "Running")
    played = ansible.play([
        run("would cancel", execution_id=exec_id, state="cancelled"),
    ], check=True)
    assert played.outcome("would cancel") == "changed"
    played = ansible.play([
        run("cancel", execution_id=exec_id, state="cancelled"),
        run("cancel again", execution_id=exec_id, state="cancelled"),
    ])
    assert played.rc == 0, played.output
    assert played.outcome("cancel") == "changed" and played.result("cancel")["status"] == "Cancelled"
    assert played.outcome("cancel again") == "ok"
    # the running commands were stopped, not waited for: a `sleep 30` left to run would end in Success
    assert all(item["status"] != "Success" for item in played.result("cancel")["instances"])


def test_bad_input_fails_before_any_call(ansible, emulator):
    concurrency = {"Mode": "Concurrency", "Concurrency": 2}
    cases = [
        ("no command", {"template_name": BULKY, "parameters": {"targets": ALL}}, "commandContent is required"),
        ("long command", bulky("x" * 16385, concurrency), "at most 16384"),
        ("bad rate", bulky("true", {"Mode": "Fast"}), "rateControl.Mode"),
        ("bad max errors", bulky("true", {"Mode": "Concurrency", "MaxErrors": "lots"}), "rateControl.MaxErrors"),
        ("skip needs automatic", bulky("true", concurrency, mode="FailurePause", safety_check="Skip"),
         "safety_check=Skip"),
        ("timeout", bulky("true", concurrency, wait_timeout=0), "wait_timeout must be 1 to 86400"),
        ("notify a template", bulky("true", concurrency, notify="approve"), "need execution_id"),
        ("bad template name", {"template_name": "has space"}, "1 to 200 characters"),
    ]
    emulator.reset_counters()
    played = ansible.play([run(name, True, **options) for name, options, _words in cases])
    for name, _options, words in cases:
        assert played.outcome(name) == "failed" and words in played.result(name)["msg"], (name, played.result(name))
    assert sum(emulator.counters().values()) == 0
