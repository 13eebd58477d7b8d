"""The examples of docs/migration.md and docs/awx.md, run as written against the emulator's demo fleet.

The demo fleet has the regions the examples name (cn-hangzhou, cn-shanghai), running instances tagged
``role: web`` and ``role: db``, one stopped and one whose agent is offline.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

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


def awx_environment(emulator, private_dir: Path) -> dict[str, str]:
    """What the shipped credential type (docs/awx.md) injects for a credential with the key pair, region and
    endpoint, rendered as AWX renders it (test_awx_credential_type.awx_inject)."""
    from test_awx_credential_type import awx_inject
    given = emulator.env()
    return awx_inject({"access_key_id": given["ALIBABA_CLOUD_ACCESS_KEY_ID"],
                       "access_key_secret": given["ALIBABA_CLOUD_ACCESS_KEY_SECRET"], "region_id": "cn-hangzhou",
                       "endpoint": emulator.endpoint}, private_dir)


def test_awx_credential_type_and_inventory_source(ansible, emulator, reachable, tmp_path) -> None:
    injected = awx_environment(emulator, tmp_path)
    assert injected["ALIBABA_CLOUD_REGION_ID"] == "cn-hangzhou"
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


def test_troubleshooting_first_day_examples(ansible, emulator, reachable, tmp_path) -> None:
    """docs/troubleshooting.md: a file not named *alicloud_ecs.yml is not read; credentials only in the
    inventory do not reach a module on localhost, and the page's module_defaults play fixes that."""
    source = {"plugin": "alicloud.ecs.instances", "regions": ["cn-hangzhou"], "hostnames": ["instance_name"]}
    wrong = tmp_path / "prod.yml"
    wrong.write_text(yaml.safe_dump(source))
    skipped = ansible.inventory("--graph", inventory=wrong)
    assert "could not be verified by inventory plugin 'alicloud.ecs.instances'" in " ".join(skipped.output.split())
    right = tmp_path / "prod.alicloud_ecs.yml"
    right.write_text(yaml.safe_dump(source))
    listed = ansible.inventory("--graph", inventory=right)
    assert listed.rc == 0 and any(item["name"] in listed.stdout for item in reachable), listed.output

    given = emulator.env()
    config = tmp_path / "aliyun-config.json"
    config.write_text(json.dumps({"current": "", "profiles": [{
        "name": "prod", "mode": "AK", "access_key_id": given["ALIBABA_CLOUD_ACCESS_KEY_ID"],
        "access_key_secret": given["ALIBABA_CLOUD_ACCESS_KEY_SECRET"]}]}))
    for name in ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_REGION_ID"):
        ansible.env.pop(name, None)
    (tmp_path / "home").mkdir()
    ansible.env.update({"HOME": str(tmp_path / "home"), "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",
                        "ANSIBLE_ALICLOUD_CREDENTIAL_CACHE": "off"})
    (play,) = [block for block in yaml_blocks("troubleshooting.md")
               if isinstance(block, list) and "module_defaults" in block[0]]
    inventory = tmp_path / "local.ini"
    inventory.write_text(f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    without = tmp_path / "without.yml"
    without.write_text(yaml.safe_dump([{key: value for key, value in play[0].items() if key != "module_defaults"}]))
    failed = ansible.playbook(without, inventory=inventory)
    assert failed.rc != 0 and "No Alibaba Cloud credentials" in failed.output, failed.output
    playbook = tmp_path / "with.yml"
    playbook.write_text(yaml.safe_dump(play))
    run = ansible.playbook(playbook, inventory=inventory, env={"ALIBABA_CLOUD_CONFIG_FILE": str(config)})
    assert run.rc == 0 and "failed=0" in run.stdout, run.output
