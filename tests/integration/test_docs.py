"""ansible-doc renders the plugins' pages with options and examples."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("plugin_type, name, option", [
    ("connection", "alicloud.ecs.cloud_assistant", "command_timeout"),
    ("inventory", "alicloud.ecs.instances", "hostnames"),
])
def test_plugin_docs_render(ansible, plugin_type, name, option) -> None:
    run = ansible.run("ansible-doc", "-t", plugin_type, name)
    assert run.rc == 0, run.output
    assert option in run.stdout and "EXAMPLES" in run.stdout
    assert "ALIBABA_CLOUD_ECS_ENDPOINT" in run.stdout
