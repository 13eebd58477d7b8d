"""The instances inventory hands API strings to ansible as data, on every supported ansible-core line.

One DescribeInstances item whose name, description and tags hold a Jinja lookup goes through the plugin's
host building (as it comes from the API or back from the cache: plain JSON): its host variables, compose
results and keyed groups render verbatim and the lookup never runs; its host name, which cannot be marked,
falls back to the instance ID. The end-to-end counterpart is tests/integration/test_api_data.py.
"""

from __future__ import annotations

import json

import pytest
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.inventory import BaseInventoryPlugin
from ansible.template import Templar

from ansible_collections.alicloud.ecs.plugins.inventory.instances import InventoryModule, _HostRules

try:
    from ansible.template import trust_as_template
except ImportError:  # ansible-core < 2.19
    trust_as_template = None

INSTANCE_ID = "i-bp1unittestapidata01"


def operator_template(text: str) -> str:
    """What the operator wrote (inventory file, playbook): trusted, as ansible-core 2.19+ trusts those files."""
    return trust_as_template(text) if trust_as_template else text


@pytest.fixture
def lookup(tmp_path) -> str:
    return "{{ lookup('pipe', 'touch " + str(tmp_path / "ran") + "') }}"


def listing_item(lookup: str) -> dict:
    instance = {
        "InstanceId": INSTANCE_ID, "InstanceName": lookup + "{{ 7*6 }}", "Description": lookup,
        "HostName": "tagged-1", "OSType": "linux", "Status": "Running", "RegionId": "cn-hangzhou",
        "Tags": {"Tag": [{"TagKey": "Name", "TagValue": lookup}, {"TagKey": "owner", "TagValue": lookup},
                         {"TagKey": "role", "TagValue": lookup}, {"TagKey": "answer", "TagValue": "{{ 7*6 }}"}]},
    }
    # The cache holds the listing as one JSON string: what is read back is exactly this.
    return json.loads(json.dumps({"region": "cn-hangzhou", "instance": instance, "events": [],
                                  "agent": {"online": True, "version": lookup}}))


class Warnings(list):
    """Stands in for the plugin's display: keeps the warnings."""

    def warning(self, message: str) -> None:
        self.append(message)


def build(item: dict, hostnames: list, display: Warnings | None = None) -> InventoryModule:
    plugin = InventoryModule()
    BaseInventoryPlugin.parse(plugin, InventoryData(), DataLoader(), "unit.alicloud_ecs.yml")
    plugin.display = Warnings() if display is None else display
    plugin._names = {}
    rules = _HostRules(
        hostnames=hostnames, allow_duplicated_hosts=False, include_events=False, prefix="", suffix="",
        connection_vars=True, endpoint=None, credential_source="unit.alicloud_ecs.yml", strict=True,
        compose={"owner_copy": operator_template("instance_tags.owner"),
                 "answer_copy": operator_template("instance_tags.answer ~ '!'")},
        groups={"answered": operator_template("'7' in instance_tags.answer")},
        keyed_groups=[{"key": operator_template("instance_tags.role"), "prefix": "role"}])
    plugin._add_instance(item, rules)
    return plugin


def rendered(plugin: InventoryModule, host: str, template: str) -> str:
    variables = plugin.inventory.get_host(host).get_vars()
    return Templar(loader=DataLoader(), variables=variables).template(operator_template(template))


def test_host_variables_compose_and_groups_keep_api_strings_verbatim(lookup, tmp_path) -> None:
    plugin = build(listing_item(lookup), ["instance_id"])
    text = rendered(plugin, INSTANCE_ID, "{{ instance_name }}|{{ description }}|{{ instance_tags.owner }}|"
                                         "{{ instance_tags.answer }}|{{ cloud_assistant_version }}|{{ owner_copy }}|"
                                         "{{ answer_copy }}|{{ ansible_alicloud_instance_id }}")
    assert text.split("|") == [lookup + "{{ 7*6 }}", lookup, lookup, "{{ 7*6 }}", lookup, lookup, "{{ 7*6 }}!",
                               INSTANCE_ID]
    groups = sorted(group for group in plugin.inventory.groups if group not in ("all", "ungrouped"))
    assert "answered" in groups and len(groups) == 2
    assert not [group for group in groups if "{" in group], groups
    assert not (tmp_path / "ran").exists()


@pytest.mark.parametrize("hostnames", [["tag:Name", "instance_name", "instance_id"], ["tag:Name", "tag:owner"]])
def test_a_host_name_holding_template_syntax_counts_as_unset(lookup, tmp_path, hostnames) -> None:
    warnings = Warnings()
    plugin = build(listing_item(lookup), hostnames, warnings)
    assert list(plugin.inventory.hosts) == [INSTANCE_ID]
    assert len(warnings) == 1 and "may not hold template syntax" in warnings[0] and INSTANCE_ID in warnings[0]
    assert rendered(plugin, INSTANCE_ID, "{{ inventory_hostname }}|{{ inventory_hostname_short }}") == \
        f"{INSTANCE_ID}|{INSTANCE_ID}"
    assert not (tmp_path / "ran").exists()


def test_the_next_preference_names_the_host(lookup) -> None:
    plugin = build(listing_item(lookup), ["tag:Name", "region_id", "instance_id"])
    assert list(plugin.inventory.hosts) == ["cn-hangzhou"]


def test_plain_host_names_stay_plain_text(lookup) -> None:
    """Names without template syntax are used as they are and stay plain str: ansible-inventory prints them as
    names, never as {"__ansible_unsafe": ...} (which ansible-core 2.17 would print for a marked one)."""
    item = listing_item(lookup)
    item["instance"]["InstanceName"] = "tagged-1"
    plugin = build(item, ["instance_name"])
    assert list(plugin.inventory.hosts) == ["tagged-1"]
    assert plugin.inventory.get_host("tagged-1").name.__class__ is str
