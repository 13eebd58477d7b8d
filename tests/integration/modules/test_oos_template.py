"""alicloud.ecs.oos_template end to end: create from a dict, from a YAML file and from JSON text; idempotence by
parsed content; tags; check mode and diff; delete; bad input before any API call."""

from __future__ import annotations

import json

import yaml

TEMPLATE = {"FormatVersion": "OOS-2019-06-01", "Description": "restart a service",
            "Parameters": {"service": {"Type": "String", "Default": "nginx"}},
            "Tasks": [{"Name": "noop", "Action": "ACS::Sleep", "Properties": {"Duration": "PT1S"}}]}


def task(title: str, ignore_errors: bool = False, **options) -> dict:
    """One oos_template task named ``title``; ``options`` are the module's (``name`` is the template's)."""
    return {"name": title, "alicloud.ecs.oos_template": options, "ignore_errors": ignore_errors}


def test_create_is_idempotent_by_content_and_updates_make_versions(ansible, emulator, tmp_path):
    yaml_file = tmp_path / "template.yml"
    yaml_file.write_text("# same template, other spelling\nFormatVersion: OOS-2019-06-01\n"
                         "Description: restart a service\nParameters:\n  service: {Type: String, Default: nginx}\n"
                         "Tasks:\n  - Name: noop\n    Action: 'ACS::Sleep'\n    Properties:\n      Duration: PT1S\n")
    changed = dict(TEMPLATE, Description="restart it now")
    played = ansible.play([
        task("create", name="restart-svc", content=TEMPLATE, tags={"team": "web"}),
        task("again from yaml", name="restart-svc", src=str(yaml_file), tags={"team": "web"}),
        task("again from json text", name="restart-svc", content=json.dumps(TEMPLATE, indent=4)),
        task("update", name="restart-svc", content=changed),
        task("retag", name="restart-svc", content=changed, tags={"team": "ops", "tier": 1}),
    ], diff=True)
    assert played.rc == 0, played.output
    created = played.result("create")
    assert played.outcome("create") == "changed"
    assert created["template"]["version"] == "v1" and created["template"]["content"] == TEMPLATE
    assert created["template"]["tags"] == {"team": "web"}
    assert created["diff"]["before"] == "" and "restart a service" in created["diff"]["after"]
    assert played.outcome("again from yaml") == "ok" and played.outcome("again from json text") == "ok"
    updated = played.result("update")
    assert played.outcome("update") == "changed" and updated["template"]["version"] == "v2"
    assert "restart a service" in updated["diff"]["before"] and "restart it now" in updated["diff"]["after"]
    retagged = played.result("retag")
    assert retagged["template"]["tags"] == {"team": "ops", "tier": "1"} and retagged["template"]["version"] == "v2"
    stored = emulator_template(ansible, "restart-svc")
    assert stored["content"]["Description"] == "restart it now"


def emulator_template(ansible, name: str) -> dict:
    """The template as the API now holds it, read back through the module in check mode with no change."""
    played = ansible.play([task("read", name=name, content={"FormatVersion": "OOS-2019-06-01", "probe": True})],
                          check=True, diff=True)
    assert played.rc == 0, played.output
    return {"content": yaml.safe_load(played.result("read")["diff"]["before"])}


def test_check_mode_and_delete(ansible, emulator):
    played = ansible.play([task("would create", name="ghost", content=TEMPLATE)], check=True, diff=True)
    assert played.rc == 0, played.output
    assert played.outcome("would create") == "changed"
    emulator.reset_counters()
    played = ansible.play([task("still absent", name="ghost", state="absent")])
    assert played.outcome("still absent") == "ok"
    assert set(emulator.counters()) <= {"GetTemplate"}
    played = ansible.play([
        task("make", name="short-lived", content=TEMPLATE),
        task("would delete", name="short-lived", state="absent"),
    ], check=True)
    assert played.outcome("would delete") == "ok"  # check mode: nothing was created to delete
    played = ansible.play([
        task("make", name="short-lived", content=TEMPLATE),
        task("delete", name="short-lived", state="absent"),
        task("delete again", name="short-lived", state="absent"),
    ])
    assert played.rc == 0, played.output
    assert [played.outcome(n) for n in ("make", "delete", "delete again")] == ["changed", "changed", "ok"]
    assert played.result("delete")["template"] == {}


def test_bad_input_fails_before_any_call(ansible, emulator, tmp_path):
    missing = tmp_path / "nowhere.yml"
    emulator.reset_counters()
    played = ansible.play([
        task("reserved", True, name="ACS-Mine", content=TEMPLATE),
        task("bad name", True, name="has space", content=TEMPLATE),
        task("no format", True, name="fine", content={"Tasks": []}),
        task("not a template", True, name="fine", content="[1, 2]"),
        task("no file", True, name="fine", src=str(missing)),
    ])
    for name, words in (("reserved", "reserved"), ("bad name", "1 to 200 characters"),
                        ("no format", "FormatVersion"), ("not a template", "must be a template mapping"),
                        ("no file", "cannot read src")):
        result = played.result(name)
        assert played.outcome(name) == "failed" and words in result["msg"], (name, result)
    assert sum(emulator.counters().values()) == 0


def test_the_apis_refusal_is_the_failure_message(ansible, emulator):
    played = ansible.play([task("elsewhere", True, name="mine", content=TEMPLATE, region="xx-nowhere-1")])
    result = played.result("elsewhere")
    assert played.outcome("elsewhere") == "failed"
    assert "InvalidRegionId.NotFound" in result["msg"] and "GetTemplate" in result["msg"]
    assert result["error"]["code"] == "InvalidRegionId.NotFound"
