"""Input checks of the invocation module (limits said before any API call)."""

from __future__ import annotations

import base64

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.engine import invocation_spec as spec


def test_placeholders_and_parameters():
    names, builtin = spec.placeholders("echo {{ a }} {{b-2}} {{a}} {{ACS::InstanceId}}")
    assert names == ["a", "b-2"] and builtin
    assert spec.check_parameters({"a": "", "b-2": "x"}, names) == {"a": "", "b-2": "x"}
    with pytest.raises(ValueError, match="no value for placeholder"):
        spec.check_parameters({"a": "1"}, names)
    with pytest.raises(ValueError, match="'c' is not a placeholder"):
        spec.check_parameters({"a": "1", "b-2": "2", "c": "3"}, names)
    with pytest.raises(ValueError, match="must be a string"):
        spec.check_parameters({"a": 1, "b-2": "2"}, names)
    with pytest.raises(ValueError, match="at most 10"):
        spec.check_parameters({f"p{n}": "" for n in range(11)}, [f"p{n}" for n in range(11)])
    with pytest.raises(ValueError, match="not a valid parameter name"):
        spec.placeholders("{{ bad name }}")
    with pytest.raises(ValueError, match="at most 20"):
        spec.placeholders(" ".join(f"{{{{p{n}}}}}" for n in range(21)))


def test_limits_of_targets_and_options():
    assert spec.check_instance_ids(["i-1", "i-1", "i-2"]) == ["i-1", "i-2"]
    with pytest.raises(ValueError, match="at most 100"):
        spec.check_instance_ids([f"i-{n}" for n in range(101)])
    assert spec.check_resource_tags({"role": 1}, 20) == {"role": "1"}
    with pytest.raises(ValueError, match="at most 10"):
        spec.check_resource_tags({f"k{n}": "" for n in range(11)}, 10)
    with pytest.raises(ValueError, match="http"):
        spec.check_resource_tags({"k": "https://x"}, 20)
    spec.check_run_options({"timeout": 10, "container_id": "docker://" + "a" * 64, "client_token": "t"})
    for bad, message in [({"timeout": 86401}, "timeout"), ({"container_id": "abc"}, "container_id"),
                         ({"client_token": "x" * 65}, "client_token"), ({"name": "n" * 129}, "name: 129"),
                         ({"wait_timeout": 0}, "wait_timeout")]:
        with pytest.raises(ValueError, match=message):
            spec.check_run_options(bad)
    assert spec.run_content_size("QUJD", {}) == 4
    assert spec.run_content_size("QUJD", {"a": "b"}) == 4 + len(base64.b64encode(b'{"a": "b"}'))


def test_run_argument_spec_is_fresh_and_shared_by_both_run_modules():
    first, second = spec.run_argument_spec(), spec.run_argument_spec()
    assert first == second and first is not second and first["instance_ids"] is not second["instance_ids"]
    assert first["command_type"]["choices"] == list(spec.COMMAND_TYPES)
    assert set(first) == {"content", "command_id", "command_name", "command_type", "instance_ids", "instance_tags",
                          "parameters", "username", "working_dir", "timeout"}
