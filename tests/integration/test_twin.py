"""``python -m emulator twin``: emulator A stands in for the real account; its twin fleet starts emulator B; the
same inventory file then lists the same hosts, groups and host variables on both, and the same playbook runs
on the twin through ``python -m emulator run`` (the loop docs/rehearsal.md shows)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from emulator.testing import EMULATOR_PYTHON, EmulatorProcess

from test_inventory import trusted

REPO_ROOT = Path(__file__).resolve().parents[2]

# The "real account": two regions with instances and one without, every status and agent state a twin must
# carry, a Windows instance, a pending system event, a public address, tags with spaces, a custom host name.
SOURCE_FLEET = {
    "access_keys": [{"id": "LTAI5tTwinSourceAccount", "secret": "twin-source-secret"}],
    "regions": [{"id": "cn-hangzhou", "zones": ["cn-hangzhou-h", "cn-hangzhou-i"]},
                {"id": "cn-beijing", "zones": ["cn-beijing-a"]}, {"id": "cn-shenzhen"}],
    "instances": [
        {"name": "web-1", "region": "cn-hangzhou", "zone": "cn-hangzhou-i", "public_ip": "47.98.1.2",
         "hostname": "iZweb1", "description": "front end", "tags": {"role": "web", "owner team": "shop web"}},
        {"name": "web-2", "region": "cn-hangzhou", "tags": {"role": "web"}},
        {"name": "db-1", "region": "cn-beijing", "instance_type": "ecs.c7.xlarge", "tags": {"role": "db"},
         "events": [{"type": "SystemMaintenance.Reboot", "reason": "host upgrade"}],
         "attributes": {"ResourceGroupId": "rg-prod", "KeyPairName": "ops-key", "InstanceChargeType": "PrePaid",
                        "ExpiredTime": "2027-01-31T16:00Z"}},
        {"name": "old-1", "region": "cn-hangzhou", "status": "Stopped", "tags": {"role": "web"}},
        {"name": "dark-1", "region": "cn-beijing", "agent": "offline", "agent_version": "2.1.0.1",
         "tags": {"role": "db"}},
        {"name": "win-1", "region": "cn-hangzhou", "os_type": "windows", "status": "Stopped",
         "tags": {"role": "app"}},
    ],
}
INVENTORY = """\
plugin: alicloud.ecs.instances
regions: [cn-hangzhou, cn-beijing, cn-shenzhen]
hostnames: [instance_name, instance_id]
include_events: true
keyed_groups:
  - {key: instance_tags.role, prefix: role}
  - {key: zone_id, prefix: zone}
  - {key: status, prefix: status}
  - {key: os_type, prefix: os}
  - {key: resource_group_id, prefix: rg}
groups:
  running: status == 'Running'
compose:
  ansible_python_interpreter: "'/usr/bin/python3'"
"""
# Where each emulator listens: the only host variable that differs between the account and its twin.
VOLATILE = {"ansible_alicloud_endpoint"}
PLUGIN = "alicloud.ecs.instances"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    """The account (conftest's ``ansible`` fixture runs the CLIs against it)."""
    with EmulatorProcess(fleet=SOURCE_FLEET, state_dir=tmp_path_factory.mktemp("account")) as process:
        yield process


def twin(ansible, inventory: Path, output: Path) -> subprocess.CompletedProcess[str]:
    """``python -m emulator twin`` with the account's environment, as a user runs it."""
    env = {**ansible.env, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "emulator", "twin", "-i", str(inventory), "-o", str(output)],
                          cwd=REPO_ROOT, env=env, text=True, capture_output=True, timeout=300, check=False)


def listed(ansible, inventory: Path) -> dict:
    run = ansible.inventory("--list", inventory=inventory, env={"ANSIBLE_INVENTORY_UNPARSED_FAILED": "true"})
    assert run.rc == 0, run.output
    return trusted(json.loads(run.stdout))


def without_volatile(data: dict) -> dict:
    hostvars = {name: {key: value for key, value in host.items() if key not in VOLATILE}
                for name, host in data["_meta"]["hostvars"].items()}
    return {**data, "_meta": {"hostvars": hostvars}}


def test_twin_lists_the_same_groups_and_hostvars_as_the_account(emulator, ansible, tmp_path) -> None:
    inventory = tmp_path / "my.alicloud_ecs.yml"
    inventory.write_text(INVENTORY)
    account = ansible
    fleet = tmp_path / "fleet.yml"
    made = twin(account, inventory, fleet)
    assert made.returncode == 0, made.stdout + made.stderr
    assert "wrote 6 instances" in made.stdout
    text = fleet.read_text()
    # Nothing of the account's credentials reaches the file: the twin signs with a key of its own.
    assert "twin-source-secret" not in text and "LTAI5tTwinSourceAccount" not in text
    expected = listed(account, inventory)
    assert {"role_web", "role_db", "role_app", "events_pending", "running", "os_windows", "rg_rg_prod"} <= set(expected)
    assert len(expected["_meta"]["hostvars"]) == 6
    filtered = tmp_path / "prod.alicloud_ecs.yml"
    filtered.write_text("plugin: alicloud.ecs.instances\nhostnames: [instance_name]\n"
                        "filters: {resource_group_id: rg-prod, key_pair_name: ops-key}\n")

    with EmulatorProcess(fleet=fleet, state_dir=tmp_path / "twin") as replica:
        got = listed(type(ansible)(replica, tmp_path), inventory)
        # A server-side filter on a field the emulator renders as a constant finds the same instance on the twin.
        assert set(listed(type(ansible)(replica, tmp_path), filtered)["_meta"]["hostvars"]) == {"db-1"}
        # The instances themselves: ids, states and agent states (which no host variable shows here).
        assert sorted((i["id"], i["name"], i["status"], i["agent"]) for i in replica.instances()) == \
            sorted((i["id"], i["name"], i["status"], i["agent"]) for i in emulator.instances())
    assert without_volatile(got) == without_volatile(expected)
    assert got["_meta"]["hostvars"]["web-1"]["ansible_alicloud_endpoint"] == replica.endpoint
    db = got["_meta"]["hostvars"]["db-1"]
    assert [event["type"] for event in db["system_events"]] == ["SystemMaintenance.Reboot"]


def doc_examples() -> tuple[dict, list]:
    """The inventory file and the playbook of docs/rehearsal.md, as written."""
    text = (REPO_ROOT / "docs" / "rehearsal.md").read_text(encoding="utf-8")
    blocks = [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", text, re.S)]
    (inventory,) = [block for block in blocks if isinstance(block, dict) and block.get("plugin") == PLUGIN]
    (play,) = [block for block in blocks if isinstance(block, list)]
    return inventory, play


def test_rehearsal_runs_the_documented_loop_on_the_twin(emulator, ansible, tmp_path) -> None:
    """docs/rehearsal.md's loop: export with the account's environment, then ``python -m emulator run --fleet``
    the same inventory file and playbook; a module finds the twin's instance by the account's instance ID."""
    example, play = doc_examples()
    inventory = tmp_path / "prod.alicloud_ecs.yml"
    inventory.write_text(yaml.safe_dump(example))
    account = ansible
    fleet = tmp_path / "fleet.yml"
    made = twin(account, inventory, fleet)
    assert made.returncode == 0, made.stdout + made.stderr
    web1 = emulator.instance_id("web-1")
    playbook = tmp_path / "deploy.yml"
    playbook.write_text(yaml.safe_dump(play + [{
        "name": "by the account's ID", "hosts": "localhost", "gather_facts": False,
        "tasks": [{"alicloud.ecs.instance_info": {"filters": {"instance_ids": [web1]}}, "register": "found"},
                  {"ansible.builtin.assert": {"that": ["found.instances | map(attribute='instance_name') | list"
                                                       " == ['web-1']"]}}]}]))
    state = tmp_path / "rehearsal"
    # Only ansible's own settings come along: the account's key and endpoint must not reach the rehearsal.
    env = {key: value for key, value in account.env.items() if not key.startswith(("ALIBABA_CLOUD_", "ALICLOUD_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    localhost = tmp_path / "localhost.ini"
    localhost.write_text(f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    done = subprocess.run([EMULATOR_PYTHON, "-m", "emulator", "run", "--fleet", str(fleet), "--state-dir", str(state),
                           "--", str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory),
                           "-i", str(localhost), str(playbook)], cwd=REPO_ROOT, env=env, text=True,
                          capture_output=True, timeout=600, stdin=subprocess.DEVNULL, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    recap = done.stdout[done.stdout.index("PLAY RECAP"):]
    assert re.search(r"web-1 +: ok=2 +changed=1 +unreachable=0 +failed=0", recap), recap
    assert re.search(r"web-2 +: ok=2 +changed=1 +unreachable=0 +failed=0", recap), recap
    assert re.search(r"localhost +: ok=2 .*failed=0", recap) and "old-1" not in recap, recap
    # The account itself was not touched by the rehearsal.
    assert emulator.exec(web1, "cat /etc/app-release 2>/dev/null || echo untouched")["stdout"].strip() == "untouched"


def test_bad_arguments_are_named_before_any_api_call(emulator, ansible, tmp_path) -> None:
    account = ansible
    emulator.reset_counters()
    wrong_name = tmp_path / "hosts.yml"
    wrong_name.write_text(INVENTORY)
    made = twin(account, wrong_name, tmp_path / "fleet.yml")
    assert made.returncode == 2 and "--inventory" in made.stderr and "alicloud_ecs.yml" in made.stderr
    inventory = tmp_path / "my.alicloud_ecs.yml"
    inventory.write_text(INVENTORY)
    made = twin(account, inventory, tmp_path / "missing" / "fleet.yml")
    assert made.returncode == 2 and "--output" in made.stderr
    assert not any(emulator.counters().values())


def test_an_endpoint_pinned_in_the_inventory_file_is_warned_about(emulator, ansible, tmp_path) -> None:
    """A rehearsal with such a file would reach that endpoint (the real account), not the emulator."""
    inventory = tmp_path / "pinned.alicloud_ecs.yml"
    inventory.write_text(INVENTORY + f"endpoint: {emulator.endpoint}\n")
    made = twin(ansible, inventory, tmp_path / "fleet.yml")
    assert made.returncode == 0, made.stderr
    assert "sets endpoint" in made.stderr and "not the emulator" in made.stderr
    assert len(yaml.safe_load((tmp_path / "fleet.yml").read_text())["instances"]) == 6


def test_a_profile_named_in_the_inventory_file_gives_way_to_the_environment(emulator, ansible, tmp_path) -> None:
    """docs/rehearsal.md: a profile in the file is fine, the keys in the environment (the emulator's, in a
    rehearsal) come first; here the profile does not even exist, and the account is listed all the same."""
    inventory = tmp_path / "profiled.alicloud_ecs.yml"
    inventory.write_text(INVENTORY + "profile: no-such-profile\n")
    made = twin(ansible, inventory, tmp_path / "fleet.yml")
    assert made.returncode == 0, made.stderr
    assert "warning" not in made.stderr and "wrote 6 instances" in made.stdout


def test_an_inventory_that_lists_nothing_is_refused(emulator, ansible, tmp_path) -> None:
    inventory = tmp_path / "empty.alicloud_ecs.yml"
    inventory.write_text("plugin: alicloud.ecs.instances\nfilters: {instance_name: no-such-*}\n")
    made = twin(ansible, inventory, tmp_path / "fleet.yml")
    assert made.returncode == 2 and "lists no instance and names no region" in made.stderr, made.stderr
    assert not (tmp_path / "fleet.yml").exists()
