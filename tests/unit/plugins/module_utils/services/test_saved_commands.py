"""Saved-command limits, parameter parsing and change planning, without any API."""

from __future__ import annotations

import base64
import hashlib

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.services import saved_commands as commands


def spec(**overrides):
    base = {"name": "c", "command_type": "RunShellScript", "content": b"echo", "description": None,
            "working_dir": None, "timeout": None, "enable_parameter": False, "launcher": None, "tags": None}
    return {**base, **overrides}


def test_parameter_names_in_order_without_builtins_or_repeats() -> None:
    content = b"echo {{ a }} {{b-2}} {{ACS::InstanceId}} {{\n a \n}}"
    assert commands.parameter_names(content) == ["a", "b-2"]


@pytest.mark.parametrize(("content", "message"), [
    (b"{{ }}", "empty parameter"),
    (b"{{ a.b }}", "invalid parameter name 'a.b'"),
    (b"{{ ACS::Other }}", "reserved"),
    (b"{{ " + b"x" * 65 + b" }}", "longer than 64"),
    (b"".join(b"{{ p%d }}" % index for index in range(21)), "at most 20"),
])
def test_bad_parameters_are_named(content: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        commands.parameter_names(content)


def test_content_limit_is_measured_after_base64() -> None:
    fits = b"x" * (commands.CONTENT_B64_MAX // 4 * 3)
    assert len(base64.b64encode(fits)) == commands.CONTENT_B64_MAX
    commands.check_spec(spec(content=fits))
    with pytest.raises(ValueError, match="18432"):
        commands.check_spec(spec(content=fits + b"x"))


@pytest.mark.parametrize(("overrides", "message"), [
    ({"name": ""}, "name must be"),
    ({"timeout": 86401}, "timeout must be between"),
    ({"description": "d" * 513}, "description is longer than 512"),
    ({"working_dir": "w" * 201}, "working_dir is longer than 200"),
    ({"launcher": "é" * 513}, "launcher is longer than 1024 bytes"),
    ({"tags": {f"k{index}": "v" for index in range(21)}}, "at most 20"),
    ({"tags": {"k": "v" * 129}}, "longer than 128"),
    ({"content": b""}, "content is empty"),
])
def test_limits(overrides, message) -> None:
    with pytest.raises(ValueError, match=message):
        commands.check_spec(spec(**overrides))


def test_decode_content_rejects_bad_base64() -> None:
    assert commands.decode_content("ZWNobw==", "Base64") == b"echo"
    with pytest.raises(ValueError, match="Base64"):
        commands.decode_content("%%", "Base64")


def current(**overrides):
    base = {"command_id": "c-1", "name": "c", "command_type": "RunShellScript", "content": "echo",
            "content_sha256": hashlib.sha256(b"echo").hexdigest(), "description": "old", "working_dir": "",
            "timeout": 60, "enable_parameter": False, "launcher": "", "tags": {"a": "1"}}
    return {**base, **overrides}


def test_plan_separates_in_place_changes_from_replacement() -> None:
    assert commands.plan_changes(current(), spec()) == ({}, [])
    assert commands.plan_changes(current(), spec(timeout=90, description="new")) == (
        {"description": "new", "timeout": 90}, [])
    assert commands.plan_changes(current(), spec(content=b"echo 2", tags={"a": "2"})) == ({}, ["content", "tags"])
    # ModifyCommand cannot clear a field: an emptied description needs a new command.
    assert commands.plan_changes(current(), spec(description="")) == ({}, ["description"])


def test_command_facts_decode_content_and_tags() -> None:
    facts = commands.command_facts({
        "CommandId": "c-1", "Name": "n", "Type": "RunShellScript", "CommandContent": "ZWNobyDDqQ==",
        "ParameterNames": {"ParameterName": ["x"]}, "Tags": {"Tag": [{"TagKey": "k", "TagValue": "v"}]},
        "EnableParameter": True, "Timeout": 60})
    assert facts["content"] == "echo é" and facts["tags"] == {"k": "v"} and facts["parameter_names"] == ["x"]
    assert facts["content_sha256"] == hashlib.sha256("echo é".encode()).hexdigest()
