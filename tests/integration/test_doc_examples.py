"""The examples of docs/migration.md and docs/awx.md, run as written against the emulator's demo fleet.

The demo fleet has the regions the examples name (cn-hangzhou, cn-shanghai), running instances tagged
``role: web`` and ``role: db``, one stopped and one whose agent is offline.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import jinja2
import yaml

DOCS = Path(__file__).resolve().parents[2] / "docs"


def yaml_blocks(doc: str) -> list:
    """Every ```yaml block of a document, parsed."""
    text = (DOCS / doc).read_text(encoding="utf-8")
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", text, re.S)]


def inventory_example(doc: str) -> dict:
    (found,) = [block for block in yaml_blocks(doc) if isinstance(block, dict) and block.get("plugin") == "alicloud.ecs.instances"]
    return found


def web_hosts(reachable: list[dict]) -> list[str]:
    return sorted(item["name"] for item in reachable if item["tags"].get("role") == "web")


def test_migration_inventory_lists_the_same_groups_and_connects(ansible, reachable, tmp_path) -> None:
    inventory = tmp_path / "prod.alicloud_ecs.yml"
    inventory.write_text(yaml.safe_dump(inventory_example("migration.md")))
    listed = ansible.inventory("--list", inventory=inventory)
    assert listed.rc == 0, listed.output
    groups = json.loads(listed.stdout)
    assert sorted(groups["role_web"]["hosts"]) == web_hosts(reachable)
    assert sorted(groups["alicloud"]["hosts"]) == sorted(item["name"] for item in reachable)
    pinged = ansible.run("ansible", "-i", str(inventory), "role_web", "-m", "ansible.builtin.ping")
    assert pinged.rc == 0, pinged.output
    assert pinged.stdout.count("SUCCESS") == len(web_hosts(reachable))


def test_migration_module_defaults_play_runs(ansible, reachable, tmp_path) -> None:
    (play,) = [block for block in yaml_blocks("migration.md") if isinstance(block, list)]
    play[0]["tasks"].append({"name": "the module saw the fleet's running instances",
                             "ansible.builtin.assert": {"that": ["listed.instances | length > 0",
                                                                 "listed.instances[0].cloud_assistant_online is boolean"]}})
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump(play))
    inventory = tmp_path / "local.ini"
    inventory.write_text(f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    run = ansible.playbook(playbook, inventory=inventory)
    assert run.rc == 0, run.output


def awx_environment(emulator, config_file: Path) -> dict[str, str]:
    """What the credential type of docs/awx.md injects, for a credential with the key pair, region and endpoint."""
    (injectors,) = [block for block in yaml_blocks("awx.md") if isinstance(block, dict) and "env" in block]
    given = emulator.env()
    fields = {"access_key_id": given["ALIBABA_CLOUD_ACCESS_KEY_ID"], "access_key_secret": given["ALIBABA_CLOUD_ACCESS_KEY_SECRET"],
              "security_token": "", "region_id": "cn-hangzhou", "profile": "", "config_file": "", "role_arn": "",
              "role_session_name": "", "endpoint": emulator.endpoint, "tower": {"filename": {"config": str(config_file)}}}
    return {name: jinja2.Template(value).render(**fields) for name, value in injectors["env"].items()}


def test_awx_credential_type_and_inventory_source(ansible, emulator, reachable, tmp_path) -> None:
    (fields,) = [block for block in yaml_blocks("awx.md") if isinstance(block, dict) and "fields" in block]
    wanted = {"access_key_id", "access_key_secret", "security_token", "profile", "role_arn", "endpoint"}
    assert {field["id"] for field in fields["fields"]} >= wanted
    config_file = tmp_path / "config"
    config_file.write_text("")
    injected = awx_environment(emulator, config_file)
    assert injected["ALIBABA_CLOUD_CONFIG_FILE"] == "", "no configuration file is named when the field is empty"
    project = tmp_path / "project" / "inventories"
    project.mkdir(parents=True)
    inventory = project / "prod.alicloud_ecs.yml"
    inventory.write_text(yaml.safe_dump(inventory_example("awx.md")))
    # Only what the credential injects: none of the emulator's own variables.
    for name in list(ansible.env):
        if name.startswith(("ALIBABA_CLOUD_", "ALICLOUD_")):
            del ansible.env[name]
    listed = ansible.inventory("--list", inventory=inventory, env=injected)
    assert listed.rc == 0, listed.output
    groups = json.loads(listed.stdout)
    assert sorted(groups["role_web"]["hosts"]) == web_hosts(reachable)
    assert sorted(groups["region_cn_hangzhou"]["hosts"] + groups["region_cn_shanghai"]["hosts"]) == sorted(
        item["name"] for item in reachable)
    hostvars = groups["_meta"]["hostvars"]
    # ansible-inventory writes a value the plugin marked unsafe as {"__ansible_unsafe": value}
    connections = {json.dumps(hostvars[name]["ansible_connection"]) for name in hostvars}
    assert connections <= {'"alicloud.ecs.cloud_assistant"', '{"__ansible_unsafe": "alicloud.ecs.cloud_assistant"}'}, connections
