"""ansible-doc renders the plugins' pages with options and examples."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml


@pytest.mark.parametrize("plugin_type, name, option", [
    ("connection", "alicloud.ecs.cloud_assistant", "command_timeout"),
    ("inventory", "alicloud.ecs.instances", "hostnames"),
])
def test_plugin_docs_render(ansible, plugin_type, name, option) -> None:
    run = ansible.run("ansible-doc", "-t", plugin_type, name)
    assert run.rc == 0, run.output
    assert option in run.stdout and "EXAMPLES" in run.stdout
    assert "ALIBABA_CLOUD_ECS_ENDPOINT" in run.stdout


MODULES = sorted(path.stem for path in (Path(__file__).resolve().parents[2] / "plugins" / "modules").glob("*.py"))


@pytest.mark.parametrize("name", MODULES)
def test_module_docs_render(ansible, name) -> None:
    run = ansible.run("ansible-doc", f"alicloud.ecs.{name}")
    assert run.rc == 0, run.output
    assert "EXAMPLES" in run.stdout and "RETURN VALUES" in run.stdout
    assert "ALIBABA_CLOUD_REGION_ID" in run.stdout  # the shared fragment is there


def test_every_module_is_in_the_module_defaults_group() -> None:
    runtime = yaml.safe_load((Path(__file__).resolve().parents[2] / "meta" / "runtime.yml").read_text())
    group = {entry for entry in runtime["action_groups"]["alicloud"] if isinstance(entry, str)}
    assert set(MODULES) <= group
