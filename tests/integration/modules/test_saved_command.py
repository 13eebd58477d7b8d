"""alicloud.ecs.saved_command end to end: create, modify in place, replace, delete, check mode, diff, bad input."""

from __future__ import annotations

import base64

from ansible_collections.alicloud.ecs.plugins.module_utils.api.client import CloudClient, resolve_settings

# Jinja would render {{ who }} itself; this is how a playbook writes a Cloud Assistant parameter.
PARAMETERISED = "echo hello {{ '{{' }} who {{ '}}' }}"


def listed(emulator, name: str) -> list[dict]:
    """The saved commands called ``name`` as DescribeCommands lists them (straight from the API)."""
    client = CloudClient(resolve_settings(env=emulator.env()))
    response = client.call("DescribeCommands", Name=name, MaxResults=50)
    return [item for item in response["Commands"]["Command"] if item["Name"] == name]


def test_check_mode_create_idempotence_and_result(ansible, emulator):
    task = {"name": "greet", "content": PARAMETERISED, "enable_parameter": True, "timeout": 120,
            "description": "says hello", "tags": {"team": "ops"}}
    emulator.reset_counters()
    checked = ansible.play([{"name": "save", "alicloud.ecs.saved_command": task}], check=True, diff=True)
    assert checked.rc == 0, checked.output
    assert checked.outcome("save") == "changed"
    assert checked.result("save")["operation"] == "create"
    assert "+echo hello {{ who }}" in checked.output
    assert "CreateCommand" not in emulator.counters()
    assert not listed(emulator, "greet")

    played = ansible.play([{"name": "save", "alicloud.ecs.saved_command": task},
                           {"name": "again", "alicloud.ecs.saved_command": task}])
    assert played.rc == 0, played.output
    command = played.result("save")["command"]
    assert played.outcome("save") == "changed" and played.outcome("again") == "ok"
    assert played.result("again")["operation"] == "none"
    assert command["content"] == "echo hello {{ who }}"
    assert command["parameter_names"] == ["who"]
    assert command["tags"] == {"team": "ops"}
    [saved] = listed(emulator, "greet")
    assert saved["CommandId"] == command["command_id"]
    assert base64.b64decode(saved["CommandContent"]) == b"echo hello {{ who }}"
    assert (saved["Timeout"], saved["Description"], saved["EnableParameter"]) == (120, "says hello", True)


def test_modify_in_place_keeps_the_id_and_content_change_replaces(ansible, emulator):
    base = {"name": "tidy", "content": "rm -rf /tmp/cache", "working_dir": "/tmp"}
    first = ansible.play([{"name": "save", "alicloud.ecs.saved_command": base}])
    assert first.rc == 0, first.output
    old_id = first.result("save")["command"]["command_id"]

    modified = ansible.play([{"name": "modify", "alicloud.ecs.saved_command": {**base, "timeout": 300}}], diff=True)
    assert modified.rc == 0, modified.output
    assert modified.result("modify")["operation"] == "modify"
    assert modified.result("modify")["command"]["command_id"] == old_id
    [saved] = listed(emulator, "tidy")
    assert (saved["CommandId"], saved["Timeout"], saved["WorkingDir"]) == (old_id, 300, "/tmp")

    replaced = ansible.play([{"name": "replace", "alicloud.ecs.saved_command": {
        **base, "content": "rm -rf /tmp/cache /tmp/old"}}], diff=True)
    assert replaced.rc == 0, replaced.output
    result = replaced.result("replace")
    assert result["operation"] == "replace" and result["replaced_fields"] == ["content"]
    assert "-rm -rf /tmp/cache" in replaced.output and "+rm -rf /tmp/cache /tmp/old" in replaced.output
    [saved] = listed(emulator, "tidy")
    assert saved["CommandId"] == result["command"]["command_id"] != old_id
    # What the task did not mention survives the replacement.
    assert (saved["Timeout"], saved["WorkingDir"]) == (300, "/tmp")
    assert base64.b64decode(saved["CommandContent"]) == b"rm -rf /tmp/cache /tmp/old"


def test_src_base64_and_type_change(ansible, emulator, tmp_path):
    script = tmp_path / "report.ps1"
    script.write_bytes(b"Get-Date\r\nWrite-Output 'done'\r\n")
    played = ansible.play([{"name": "from file", "alicloud.ecs.saved_command": {
        "name": "report", "src": str(script), "command_type": "RunPowerShellScript"}}])
    assert played.rc == 0, played.output
    [saved] = listed(emulator, "report")
    assert base64.b64decode(saved["CommandContent"]) == script.read_bytes()
    assert saved["Type"] == "RunPowerShellScript"

    same = base64.b64encode(script.read_bytes()).decode()
    again = ansible.play([
        {"name": "as base64", "alicloud.ecs.saved_command": {
            "name": "report", "content": same, "content_encoding": "Base64", "command_type": "RunPowerShellScript"}},
        {"name": "as bat", "alicloud.ecs.saved_command": {
            "name": "report", "content": same, "content_encoding": "Base64", "command_type": "RunBatScript"}}])
    assert again.rc == 0, again.output
    assert again.outcome("as base64") == "ok"
    assert again.result("as bat")["replaced_fields"] == ["command_type"]
    [saved] = listed(emulator, "report")
    assert saved["Type"] == "RunBatScript"


def test_delete_and_check_mode_delete(ansible, emulator):
    ansible.play([{"name": "save", "alicloud.ecs.saved_command": {"name": "gone", "content": "true"}}])
    checked = ansible.play([{"name": "delete", "alicloud.ecs.saved_command": {"name": "gone", "state": "absent"}}],
                           check=True)
    assert checked.outcome("delete") == "changed" and listed(emulator, "gone")
    played = ansible.play([{"name": "delete", "alicloud.ecs.saved_command": {"name": "gone", "state": "absent"}},
                           {"name": "again", "alicloud.ecs.saved_command": {"name": "gone", "state": "absent"}}])
    assert played.rc == 0, played.output
    assert played.result("delete")["operation"] == "delete"
    assert played.outcome("again") == "ok" and played.result("again")["operation"] == "none"
    assert not listed(emulator, "gone")


def test_two_commands_with_the_name_fail_clearly(ansible, emulator):
    client = CloudClient(resolve_settings(env=emulator.env()))
    ids = [client.call("CreateCommand", Name="twin", Type="RunShellScript", CommandContent="ZWNobw==")["CommandId"]
           for _index in range(2)]
    played = ansible.play([{"name": "twin", "alicloud.ecs.saved_command": {"name": "twin", "content": "echo"}}])
    assert played.rc != 0
    message = played.result("twin")["msg"]
    assert "2 saved commands are named 'twin'" in message and all(command_id in message for command_id in ids)


def test_bad_input_fails_before_any_call(ansible, emulator):
    cases = {
        "long name": ({"name": "n" * 129, "content": "true"}, "name must be 1 to 128 characters"),
        "big content": ({"name": "big", "content": "x" * 14000}, "at most 18432"),
        "timeout": ({"name": "t", "content": "true", "timeout": 5}, "timeout must be between 10 and 86400"),
        "param": ({"name": "p", "content": "echo {{ '{{' }} bad.name {{ '}}' }}", "enable_parameter": True},
                  "invalid parameter name 'bad.name'"),
        "reserved": ({"name": "p", "content": "echo {{ '{{' }} ACS::Nope {{ '}}' }}", "enable_parameter": True},
                     "ACS:: prefix is reserved"),
        "tags": ({"name": "p", "content": "true", "tags": {"acs:x": "1"}}, "may not start with acs:"),
        "base64": ({"name": "p", "content": "not base64!", "content_encoding": "Base64"}, "not valid Base64"),
        "both": ({"name": "p", "content": "true", "src": "/etc/hostname"}, "mutually exclusive"),
        "neither": ({"name": "p"}, "content, src"),
    }
    emulator.reset_counters()
    played = ansible.play([{"name": name, "alicloud.ecs.saved_command": args, "ignore_errors": True}
                           for name, (args, _message) in cases.items()])
    for name, (_args, message) in cases.items():
        assert played.outcome(name) == "failed", name
        assert message in played.result(name)["msg"], (name, played.result(name)["msg"])
    assert sum(emulator.counters().values()) == 0
