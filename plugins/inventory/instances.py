# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: instances
short_description: Alibaba Cloud ECS instances as an inventory, wired to Cloud Assistant
description:
  - Lists ECS instances with DescribeInstances (100 per page, regions queried in parallel) and adds each
    one as a host whose connection is M(alicloud.ecs.cloud_assistant), so playbooks run without SSH.
  - The inventory file name must end with C(alicloud_ecs.yml) or C(alicloud_ecs.yaml).
author:
  - alicloud.ecs maintainers (@alicloud-ecs)
version_added: 0.1.0
extends_documentation_fragment:
  - alicloud.ecs.api
  - constructed
options:
  plugin:
    description: Marks this file as an inventory of this plugin.
    type: str
    required: true
    choices: [alicloud.ecs.instances]
  regions:
    description:
      - Regions to list instances in. Empty means every region DescribeRegions returns.
    type: list
    elements: str
    default: []
  hostnames:
    description:
      - Which instance attributes name a host, in order of preference; the first that is set wins.
      - One of C(instance_name), C(instance_id), C(hostname), C(private_ip_address), C(public_ip_address),
        or C(tag:KEY) for the value of the tag KEY.
      - A name already used by another instance falls back to the instance ID, with a warning, so no two
        instances ever merge into one host.
    type: list
    elements: str
    default: [instance_id]
  filters:
    description:
      - Server-side DescribeInstances filters, by snake_case name, for example C(status), C(zone_id),
        C(vpc_id), C(vswitch_id), C(instance_name) (C(*) wildcards), C(instance_type), C(image_id),
        C(resource_group_id), C(instance_ids) (a list, at most 100) and C(tags) (a dict, at most 20).
      - Unknown names fail before any API call.
    type: dict
    default: {}
  cloud_assistant_only:
    description:
      - Keep only instances whose Cloud Assistant agent is online (DescribeCloudAssistantStatus, 50
        instances per call), so every host in the inventory is reachable by the connection plugin.
    type: bool
    default: false
  connection_vars:
    description:
      - Set C(ansible_connection), C(ansible_alicloud_instance_id), C(ansible_alicloud_region) (and
        C(ansible_alicloud_endpoint) when an endpoint is configured) on every host.
      - Host and group variables of your own still override them.
    type: bool
    default: true
"""

EXAMPLES = r"""
# demo.alicloud_ecs.yml
plugin: alicloud.ecs.instances
regions: [cn-hangzhou, cn-shanghai]
filters:
  status: Running
  tags:
    env: prod
cloud_assistant_only: true
hostnames: [instance_name, instance_id]
keyed_groups:
  - key: instance_tags.role
    prefix: role
  - key: region_id
    prefix: region
compose:
  ansible_python_interpreter: "'/usr/bin/python3'"
"""

import typing as t
from concurrent.futures import ThreadPoolExecutor

from ansible.errors import AnsibleError, AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Constructable

from ansible_collections.alicloud.ecs.plugins.module_utils.client import CloudClient, resolve_settings
from ansible_collections.alicloud.ecs.plugins.module_utils.errors import CloudError, ConfigError
from ansible_collections.alicloud.ecs.plugins.module_utils.instances import (
    assistant_online, describe_instances, filter_params, hostvars_for, list_regions, pick_hostname,
)

REGION_PARALLELISM = 8


class InventoryModule(BaseInventoryPlugin, Constructable):
    """ECS instances → hosts, groups and hostvars."""

    NAME = "alicloud.ecs.instances"

    def verify_file(self, path: str) -> bool:
        return super().verify_file(path) and path.endswith(("alicloud_ecs.yml", "alicloud_ecs.yaml"))

    def parse(self, inventory: t.Any, loader: t.Any, path: str, cache: bool = True) -> None:
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        hostnames = self.get_option("hostnames")
        try:
            pick_hostname({}, hostnames)  # validates every preference before any API call
            filters = filter_params(self.get_option("filters"))
        except ValueError as error:
            raise AnsibleParserError(f"alicloud.ecs.instances: {error}") from None
        try:
            settings = resolve_settings(
                access_key_id=self.get_option("access_key"),
                access_key_secret=self.get_option("secret_key"),
                security_token=self.get_option("security_token"),
                endpoint=self.get_option("endpoint"),
                require_region=False,
            )
            client = CloudClient(settings, region=(self.get_option("regions") or [""])[0])
            regions = self.get_option("regions") or list_regions(client.for_region(settings.region or "cn-hangzhou"))
            with ThreadPoolExecutor(max_workers=min(REGION_PARALLELISM, max(1, len(regions)))) as pool:
                per_region = list(pool.map(lambda region: self._list_region(client.for_region(region), filters),
                                           regions))
        except (CloudError, ConfigError) as error:
            raise AnsibleParserError(f"alicloud.ecs.instances: {error}") from None
        for region, instances in zip(regions, per_region):
            for instance in instances:
                self._add_instance(instance, region, hostnames, settings.endpoint)

    def _list_region(self, client: CloudClient, filters: dict[str, t.Any]) -> list[dict[str, t.Any]]:
        instances = describe_instances(client, **filters)
        if self.get_option("cloud_assistant_only") and instances:
            online = assistant_online(client, [instance["InstanceId"] for instance in instances])
            instances = [instance for instance in instances if instance["InstanceId"] in online]
        return instances

    def _add_instance(self, instance: dict[str, t.Any], region: str, hostnames: list[str],
                      endpoint: str | None) -> None:
        hostvars = hostvars_for(instance)
        name = pick_hostname(hostvars, hostnames)
        existing = self.inventory.get_host(name) if name else None
        if not name or (existing and existing.vars.get("instance_id") != hostvars["instance_id"]):
            if name:
                self.display.warning(
                    f"alicloud.ecs.instances: host name {name!r} is taken by another instance; "
                    f"using {hostvars['instance_id']} instead")
            name = hostvars["instance_id"]
        self.inventory.add_host(name)
        for key, value in hostvars.items():
            self.inventory.set_variable(name, key, value)
        if self.get_option("connection_vars"):
            self.inventory.set_variable(name, "ansible_connection", "alicloud.ecs.cloud_assistant")
            self.inventory.set_variable(name, "ansible_alicloud_instance_id", hostvars["instance_id"])
            self.inventory.set_variable(name, "ansible_alicloud_region", region)
            if endpoint:
                self.inventory.set_variable(name, "ansible_alicloud_endpoint", endpoint)
        strict = self.get_option("strict")
        try:
            self._set_composite_vars(self.get_option("compose"), hostvars, name, strict=strict)
            self._add_host_to_composed_groups(self.get_option("groups"), hostvars, name, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), hostvars, name, strict=strict)
        except AnsibleError as error:
            raise AnsibleParserError(f"alicloud.ecs.instances: {error}") from None
