"""alicloud.ecs.oos_parameter end to end: plain and secret parameters created, compared by value (idempotent),
updated into new versions, deleted; check mode changes nothing; the diff and every output hide the value
(no_log); bad input fails before any API call."""

from __future__ import annotations

import json

from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import CommonRequest

PLAIN_VALUE = "plain-SENTINEL-4d1"
SECRET_VALUE = "secret-SENTINEL-9e2"
NEW_SECRET = "secret-SENTINEL-new-77a"


def task(title: str, ignore_errors: bool = False, **options) -> dict:
    """One oos_parameter task named ``title``."""
    return {"name": title, "alicloud.ecs.oos_parameter": options, "ignore_errors": ignore_errors}


def stored(emulator, name: str, secret: bool) -> dict | None:
    """The parameter as the emulator holds it (clear value), None when absent."""
    env = emulator.env()
    client = AcsClient(env["ALIBABA_CLOUD_ACCESS_KEY_ID"], env["ALIBABA_CLOUD_ACCESS_KEY_SECRET"], "cn-hangzhou",
                       proxy={"http": "", "https": ""})
    request = CommonRequest(domain=emulator.endpoint.removeprefix("http://"), version="2019-06-01",
                            action_name="GetSecretParameters" if secret else "GetParameters")
    request.add_query_param("RegionId", "cn-hangzhou")
    request.add_query_param("Names", json.dumps([name]))
    request.add_query_param("WithDecryption", "true")
    found = json.loads(client.do_action_with_exception(request))["Parameters"]
    return found[0] if found else None


def test_plain_parameter_is_idempotent_and_versions_each_value(ansible, emulator):
    played = ansible.play([
        task("create", name="app-release", value=PLAIN_VALUE, description="release", tags={"team": "web"}),
        task("again", name="app-release", value=PLAIN_VALUE, description="release", tags={"team": "web"}),
        task("same value, other tags", name="app-release", value=PLAIN_VALUE, tags={"team": "ops"}),
        task("new value", name="app-release", value="v2"),
        task("again after", name="app-release", value="v2"),
    ], diff=True)
    assert played.rc == 0, played.output
    assert [played.outcome(t) for t in ("create", "again", "same value, other tags", "new value", "again after")] \
        == ["changed", "ok", "changed", "changed", "ok"]
    created = played.result("create")
    assert created["parameter"]["version"] == 1 and created["parameter"]["tags"] == {"team": "web"}
    assert created["diff"]["before"] == {} and created["diff"]["after"]["value"] == "(hidden)"
    retagged = played.result("same value, other tags")
    assert retagged["parameter"]["version"] == 1 and retagged["parameter"]["tags"] == {"team": "ops"}
    assert retagged["diff"]["before"]["value"] == retagged["diff"]["after"]["value"] == "(hidden)"
    renewed = played.result("new value")
    assert renewed["parameter"]["version"] == 2 and renewed["diff"]["after"]["value"] == "(hidden, changed)"
    assert stored(emulator, "app-release", secret=False)["Value"] == "v2"
    assert PLAIN_VALUE not in played.output


def test_secret_parameter_never_shows_its_value(ansible, emulator):
    played = ansible.play([
        task("create secret", name="db-password", type="Secret", value=SECRET_VALUE, key_id="key-1"),
        task("same secret", name="db-password", type="Secret", value=SECRET_VALUE),
        task("rotate", name="db-password", type="Secret", value=NEW_SECRET),
    ], "-vvvv", diff=True)
    assert played.rc == 0, played.output
    assert [played.outcome(t) for t in ("create secret", "same secret", "rotate")] == ["changed", "ok", "changed"]
    for value in (SECRET_VALUE, NEW_SECRET):
        assert value not in played.output, "a secret value in the -vvvv output"
        assert value not in json.dumps(played.entries), "a secret value in a task result"
    rotated = played.result("rotate")["parameter"]
    assert (rotated["type"], rotated["version"], rotated["key_id"]) == ("Secret", 2, "key-1")
    assert stored(emulator, "db-password", secret=True)["Value"] == NEW_SECRET
    assert stored(emulator, "db-password", secret=False) is None  # plain and secret are separate namespaces


def test_check_mode_changes_nothing(ansible, emulator):
    played = ansible.play([
        task("would create", name="ghost", value="x"),
        task("would create secret", name="ghost", type="Secret", value="x"),
    ], check=True, diff=True)
    assert played.rc == 0, played.output
    assert played.outcome("would create") == "changed" and played.outcome("would create secret") == "changed"
    assert stored(emulator, "ghost", secret=False) is None and stored(emulator, "ghost", secret=True) is None
    setup = ansible.play([task("real", name="kept", value="one")])
    assert setup.rc == 0, setup.output
    checked = ansible.play([task("would update", name="kept", value="two"),
                            task("would delete", name="kept", state="absent")], check=True, diff=True)
    assert checked.rc == 0, checked.output
    assert checked.outcome("would update") == "changed" and checked.outcome("would delete") == "changed"
    assert checked.result("would update")["diff"]["after"]["value"] == "(hidden, changed)"
    assert stored(emulator, "kept", secret=False)["Value"] == "one"


def test_delete_is_idempotent(ansible, emulator):
    played = ansible.play([
        task("make", name="short-lived", type="Secret", value="s"),
        task("delete", name="short-lived", type="Secret", state="absent"),
        task("delete again", name="short-lived", type="Secret", state="absent"),
    ])
    assert played.rc == 0, played.output
    assert [played.outcome(t) for t in ("make", "delete", "delete again")] == ["changed", "changed", "ok"]
    assert played.result("delete")["parameter"] == {}
    assert stored(emulator, "short-lived", secret=True) is None


def test_bad_input_fails_before_any_api_call(ansible, emulator):
    emulator.reset_counters()
    played = ansible.play([
        task("reserved", ignore_errors=True, name="ALIYUN-x", value="value-1"),
        task("bad character", ignore_errors=True, name="a b", value="value-1"),
        task("too long", ignore_errors=True, name="big", value="v" * 4097),
        task("no value", ignore_errors=True, name="novalue"),
        task("key on plain", ignore_errors=True, name="plain", value="value-1", key_id="k"),
    ])
    cases = ("reserved", "bad character", "too long", "no value", "key on plain")
    messages = {t: played.result(t)["msg"] for t in cases}
    assert "reserved" in messages["reserved"] and "name" in messages["bad character"]
    assert "value must be 1 to 4096" in messages["too long"] and "value is required" in messages["no value"]
    assert "key_id applies only to type=Secret" in messages["key on plain"]
    assert "v" * 4097 not in played.output
    assert not {k: v for k, v in emulator.counters().items() if "Parameter" in k}, emulator.counters()


def test_type_cannot_change_in_place(ansible, emulator):
    played = ansible.play([
        task("as string", name="listy", value="a,b"),
        task("as list", ignore_errors=True, name="listy", type="StringList", value="a,b"),
    ])
    assert played.outcome("as list") == "failed"
    assert "type cannot change in place" in played.result("as list")["msg"]
