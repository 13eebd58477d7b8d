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
  - With O(cache) on, a warm cache answers without a single API call; the cache key covers the access
    key ID, endpoint, regions and filters, so two accounts never share an entry.
  - Every string the API returns (names, descriptions, tags, addresses) is data, never a template, on every
    supported ansible-core line, read fresh or from the cache; O(compose), O(groups) and O(keyed_groups) read
    them as values. On ansible-core before 2.19 they are marked unsafe, so C(ansible-inventory --list) prints
    each of them wrapped in an C(__ansible_unsafe) mapping there, as ansible-core 2.20 and later do anyway.
notes:
  - The RAM actions this plugin can call (C(ecs:DescribeInstances); C(ecs:DescribeRegions) without O(regions);
    C(ecs:DescribeCloudAssistantStatus) for the agent state; C(ecs:DescribeInstancesFullStatus) with
    O(include_events)) and a minimal RAM policy are listed in docs/permissions.md of the collection.
author:
  - alicloud.ecs maintainers (@alicloud-ecs)
version_added: 0.1.0
extends_documentation_fragment:
  - alicloud.ecs.api
  - alicloud.ecs.api.plugins
  - constructed
  - inventory_cache
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
  filters:
    description:
      - Server-side DescribeInstances filters, by snake_case name, for example C(status), C(zone_id),
        C(vpc_id), C(vswitch_id), C(instance_name) (C(*) wildcards), C(instance_type), C(image_id),
        C(resource_group_id), C(instance_ids) (a list, at most 100) and C(tags) (a dict, at most 20).
      - Unknown names fail before any API call.
    type: dict
    default: {}
  include_filters:
    description:
      - More filter sets (same keys as O(filters)); an instance matching any of them is added too.
      - Every set costs its own DescribeInstances query per region.
    type: list
    elements: dict
    default: []
  exclude_filters:
    description:
      - Filter sets (same keys as O(filters)); an instance matching any of them is left out.
    type: list
    elements: dict
    default: []
  cloud_assistant_only:
    description:
      - Keep only instances whose Cloud Assistant agent is online (DescribeCloudAssistantStatus, 50
        instances per call), so every host in the inventory is reachable by the connection plugin.
      - The hosts then also get C(cloud_assistant_online) and C(cloud_assistant_version).
    type: bool
    default: false
  hostnames:
    description:
      - Which instance attributes name a host, in order of preference; the first that is set wins.
      - A source is one of C(instance_name), C(instance_id), C(hostname), C(private_ip_address),
        C(public_ip_address), C(region_id), C(zone_id), or C(tag:KEY) for the value of the tag KEY.
      - 'An entry may also be a dict with keys C(name), C(prefix) and C(separator) joining two sources,
        for example C(name=instance_name), C(prefix=region_id), C(separator=-) gives C(cn-hangzhou-web-1).'

      - A name already used by another instance falls back to the instance ID, with a warning, so no two
        instances ever merge into one host.
      - A name that holds template syntax (C({{), C({%) or C({#)), say from a tag anyone allowed to tag the
        instance wrote, is skipped like an unset one, with a warning; if no name is left, the instance ID is used.
    type: list
    elements: raw
    default: [instance_id]
  allow_duplicated_hosts:
    description:
      - Add each instance under every name its O(hostnames) preferences give, not just the first one.
    type: bool
    default: false
  include_events:
    description:
      - Look up pending system events (DescribeInstancesFullStatus, 100 instances per call) and put
        instances that have one in the group C(events_pending) and in C(events_<type>) (for example
        C(events_systemmaintenance_reboot)), with the events in the host variable C(system_events).
    type: bool
    default: false
  hostvars_prefix:
    description:
      - Prefix for the names of the instance's host variables (not the connection variables). Compose,
        groups and keyed groups see the prefixed names.
    type: str
    default: ""
  hostvars_suffix:
    description:
      - Suffix for the names of the instance's host variables, like O(hostvars_prefix).
    type: str
    default: ""
  region_parallelism:
    description:
      - How many regions are listed at the same time. C(1) lists them one after another.
    type: int
    default: 8
  strict_permissions:
    description:
      - When false, a region that refuses the listing (RAM policy, region not enabled) is skipped with a
        warning naming the region and the API code, instead of failing the whole inventory.
    type: bool
    default: true
  connection_vars:
    description:
      - Set C(ansible_connection), C(ansible_alicloud_instance_id), C(ansible_alicloud_region) (and
        C(ansible_alicloud_endpoint) when an endpoint is configured) on every host, and
        C(ansible_shell_type=powershell) on Windows instances.
      - Also C(ansible_alicloud_credential_source), the path of this inventory file, by which the connection
        finds the credentials this source was configured with (keys, profile, assumed role) in ansible's memory;
        no key, secret or token is ever a host variable.
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
exclude_filters:
  - tags:
      maintenance: "true"
cloud_assistant_only: true
hostnames:
  - tag:Name
  - name: instance_name
    prefix: region_id
    separator: "-"
  - instance_id
keyed_groups:
  - key: instance_tags.role
    prefix: role
  - key: region_id
    prefix: region
compose:
  ansible_python_interpreter: "'/usr/bin/python3'"
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/alicloud_ecs_inventory
cache_timeout: 600
"""

import dataclasses
import hashlib
import json
import re
import typing as t
from concurrent.futures import ThreadPoolExecutor

from ansible.errors import AnsibleError, AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable

from ansible_collections.alicloud.ecs.plugins.module_utils.api.client import CloudClient, Settings
from ansible_collections.alicloud.ecs.plugins.module_utils.api.options import settings_from_options
from ansible_collections.alicloud.ecs.plugins.module_utils.api.errors import CloudError, ConfigError
from ansible_collections.alicloud.ecs.plugins.module_utils.services.instances import (
    all_hostnames, assistant_status, describe_instances, filter_params, hostvars_for, is_permission_error,
    list_regions, pending_events, pick_hostname,
)
from ansible_collections.alicloud.ecs.plugins.plugin_utils.api_data import as_data, holds_template
from ansible_collections.alicloud.ecs.plugins.plugin_utils.diagnostics import display_log
# Every host listed here runs over the cloud_assistant connection, and ansible forks a fresh worker for each
# task: code imported here, in the parent, is inherited already compiled, where the collection loader would
# otherwise compile the connection's module_utils (and the SDK that client.py imports) from source again in
# every worker, for every task.
from ansible_collections.alicloud.ecs.plugins.module_utils.execution import powershell_transport, remote_exec  # noqa: F401  pylint: disable=unused-import
from ansible_collections.alicloud.ecs.plugins.plugin_utils import inventory_credentials


@dataclasses.dataclass(frozen=True)
class _HostRules:
    """The options that shape each host, read once per parse rather than once per host."""

    hostnames: list[t.Any]
    allow_duplicated_hosts: bool
    include_events: bool
    prefix: str
    suffix: str
    connection_vars: bool
    endpoint: str | None
    credential_source: str
    strict: bool
    compose: dict[str, t.Any]
    groups: dict[str, t.Any]
    keyed_groups: list[t.Any]


def _compile_each_expression_once(templar: t.Any) -> None:
    """Compile each compose, groups and keyed_groups expression once per parse instead of once per host.

    ansible-core (2.19 on) compiles an expression afresh every time it evaluates one: with one compose
    entry and one keyed group, two Jinja compiles per host, a large share of this plugin's time on a big
    fleet. What an expression compiles to depends only on its text and the compile
    options, so the compiled form is kept for the rest of the parse. The hook sits on a private method of
    the templar's engine; an ansible-core without it simply compiles as before.
    """
    engine = getattr(templar, "_engine", None)
    compile_expression = getattr(engine, "_compile_expression", None)
    if compile_expression is None or getattr(compile_expression, "compiles_once", False):
        return
    compiled: dict[tuple[str, t.Any], t.Any] = {}

    def compile_once(expression: str, options: t.Any) -> t.Any:
        key = (str(expression), options)
        if key not in compiled:
            compiled[key] = compile_expression(expression, options)
        return compiled[key]

    compile_once.compiles_once = True  # type: ignore[attr-defined]
    engine._compile_expression = compile_once


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    """ECS instances → hosts, groups and hostvars."""

    NAME = "alicloud.ecs.instances"

    def verify_file(self, path: str) -> bool:
        return super().verify_file(path) and path.endswith(("alicloud_ecs.yml", "alicloud_ecs.yaml"))

    def parse(self, inventory: t.Any, loader: t.Any, path: str, cache: bool = True) -> None:
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        try:
            pick_hostname({}, self.get_option("hostnames"))  # validates every preference
            include = [filter_params(self.get_option("filters"))]
            include += [filter_params(item) for item in self.get_option("include_filters")]
            exclude = [filter_params(item) for item in self.get_option("exclude_filters")]
            settings = settings_from_options(self.get_option, regional=False)  # the regions option says where to list
        except (ValueError, ConfigError) as error:  # all before any API call
            raise AnsibleParserError(f"alicloud.ecs.instances: {error}") from None

        # The hosts' connections use what this source was configured with; only its name becomes a host variable.
        inventory_credentials.register(str(path), settings.credentials)
        key = self._listing_key(settings, include, exclude)
        use_cache = self.get_option("cache") and cache
        listing = None
        if use_cache:
            try:
                listing = json.loads(self._cache[key])
            except KeyError:
                pass
        if listing is None:
            listing = self._fetch(settings, include, exclude)
            if self.get_option("cache"):
                # One JSON string rather than the nested listing: ansible's cache decoder looks for
                # its own type tags in every dict, a second per 10,000 instances on each cache hit.
                self._cache[key] = json.dumps(listing)
        rules = _HostRules(
            hostnames=self.get_option("hostnames"), allow_duplicated_hosts=self.get_option("allow_duplicated_hosts"),
            include_events=self.get_option("include_events"), prefix=self.get_option("hostvars_prefix"),
            suffix=self.get_option("hostvars_suffix"), connection_vars=self.get_option("connection_vars"),
            endpoint=settings.endpoint, credential_source=str(path), strict=self.get_option("strict"), compose=self.get_option("compose"),
            groups=self.get_option("groups"), keyed_groups=self.get_option("keyed_groups"))
        self._names: dict[str, str] = {}
        if rules.compose or rules.groups or rules.keyed_groups:
            _compile_each_expression_once(self.templar)
        for item in listing:
            self._add_instance(item, rules)

    def _listing_key(self, settings: Settings, include: list[t.Any], exclude: list[t.Any]) -> str:
        """Everything that changes the answer, and nothing secret: the credentials' identity (access key ID,
        profile, role), never a secret; and no STS call, so a warm cache still answers without any.

        The v2 marks the cached value as a JSON string; an entry written as a nested list by an
        earlier version of this plugin is simply never read.
        """
        scope = [settings.credentials.identity, settings.endpoint, self.get_option("regions"),
                 [str(item) for item in include], [str(item) for item in exclude],
                 self.get_option("cloud_assistant_only"), self.get_option("include_events")]
        digest = hashlib.sha256(json.dumps(scope, sort_keys=True, default=str).encode()).hexdigest()[:32]
        return f"alicloud_ecs_instances_v2_{digest}"

    def _fetch(self, settings: Settings, include: list[dict[str, t.Any]],
               exclude: list[dict[str, t.Any]]) -> list[dict[str, t.Any]]:
        client = CloudClient(settings, region=(self.get_option("regions") or [""])[0],
                             log=display_log(self.display))
        try:
            regions = self.get_option("regions") or list_regions(client.for_region(settings.region or "cn-hangzhou"))
        except CloudError as error:
            raise AnsibleParserError(f"alicloud.ecs.instances: {error}") from None
        workers = max(1, min(self.get_option("region_parallelism"), len(regions)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            answers = list(pool.map(lambda region: self._list_region(client.for_region(region), include, exclude),
                                    regions))
        listing = []
        for region, (instances, error) in zip(regions, answers):
            if error is not None:
                if self.get_option("strict_permissions") or not is_permission_error(error):
                    raise AnsibleParserError(f"alicloud.ecs.instances: region {region}: {error}")
                self.display.warning(f"alicloud.ecs.instances: skipping region {region}: {error.code}: {error.message}")
                continue
            # str() drops ansible's tags from the configured name, so a host's region is the same
            # plain value whether this listing is used now or read back from the cache.
            listing += [{"region": str(region), **item} for item in instances]
        return listing

    def _list_region(self, client: CloudClient, include: list[dict[str, t.Any]],
                     exclude: list[dict[str, t.Any]]) -> tuple[list[dict[str, t.Any]], CloudError | None]:
        """One region's instances (with their pending events when asked) matching any include set and no
        exclude set; or the error that stopped the listing."""
        try:
            found: dict[str, dict[str, t.Any]] = {}
            for params in include:
                found.update((item["InstanceId"], item) for item in describe_instances(client, **params))
            for params in exclude:
                for item in describe_instances(client, **params):
                    found.pop(item["InstanceId"], None)
            instances = list(found.values())
            agents: dict[str, dict[str, t.Any]] = {}
            if self.get_option("cloud_assistant_only") and instances:
                agents = assistant_status(client, [item["InstanceId"] for item in instances])
                instances = [item for item in instances if agents.get(item["InstanceId"], {}).get("online")]
            events = {}
            if self.get_option("include_events") and instances:
                events = pending_events(client, [item["InstanceId"] for item in instances])
            return [{"instance": item, "events": events.get(item["InstanceId"], []),
                     "agent": agents.get(item["InstanceId"])} for item in instances], None
        except CloudError as error:
            return [], error

    def _add_instance(self, item: dict[str, t.Any], rules: _HostRules) -> None:
        hostvars = hostvars_for(item["instance"])
        if rules.include_events:
            hostvars["system_events"] = item["events"]
        if item.get("agent"):
            hostvars["cloud_assistant_online"] = item["agent"]["online"]
            hostvars["cloud_assistant_version"] = item["agent"]["version"]
        # Names from the plain values: a host name stays plain text (_host_names keeps templates out of it).
        names = self._host_names(hostvars, rules)
        # Everything here came from the API (or the cache, which holds the same plain JSON): data, never a
        # template, for compose and keyed groups and in every play that reads it.
        hostvars = as_data(hostvars)
        for name in names:
            self._add_host(name, hostvars, item, rules)

    def _host_names(self, hostvars: dict[str, t.Any], rules: _HostRules) -> list[str]:
        """The instance's host names; one holding template syntax counts as unset (api_data: names stay plain
        text, so they must not be templates), one that another instance already took gives way to the ID."""
        instance_id = hostvars["instance_id"]
        names = all_hostnames(hostvars, rules.hostnames)
        refused = [name for name in names if holds_template(name)]
        if refused:
            self.display.warning(f"alicloud.ecs.instances: instance {instance_id}: a host name may not hold template "
                                 f"syntax; not using {', '.join(repr(name) for name in refused)}")
            names = [name for name in names if name not in refused]
        if not rules.allow_duplicated_hosts:
            names = names[:1]
        chosen = []
        for name in names or [instance_id]:
            if self._names.get(name, instance_id) != instance_id:
                self.display.warning(
                    f"alicloud.ecs.instances: host name {name!r} is taken by another instance; using {instance_id} instead")
                name = instance_id
            self._names[name] = instance_id
            if name not in chosen:
                chosen.append(name)
        return chosen

    def _add_host(self, name: str, hostvars: dict[str, t.Any], item: dict[str, t.Any], rules: _HostRules) -> None:
        self.inventory.add_host(name)
        if rules.prefix or rules.suffix:
            hostvars = {f"{rules.prefix}{key}{rules.suffix}": value for key, value in hostvars.items()}
        for key, value in hostvars.items():
            self.inventory.set_variable(name, key, value)
        if rules.connection_vars:
            self.inventory.set_variable(name, "ansible_connection", "alicloud.ecs.cloud_assistant")
            self.inventory.set_variable(name, "ansible_alicloud_instance_id", as_data(item["instance"]["InstanceId"]))
            self.inventory.set_variable(name, "ansible_alicloud_region", item["region"])
            self.inventory.set_variable(name, inventory_credentials.HOSTVAR, rules.credential_source)
            if rules.endpoint:
                self.inventory.set_variable(name, "ansible_alicloud_endpoint", rules.endpoint)
            if str(item["instance"].get("OSType", "")).lower() == "windows":
                self.inventory.set_variable(name, "ansible_shell_type", "powershell")
        for event in item["events"]:
            for group in ("events_pending", "events_" + re.sub(r"[^a-z0-9_]", "_", event["type"].lower())):
                self.inventory.add_group(group)
                self.inventory.add_child(group, name)
        if not (rules.compose or rules.groups or rules.keyed_groups):
            return  # nothing to construct: skip the three helpers' per-host work
        try:
            self._set_composite_vars(rules.compose, hostvars, name, strict=rules.strict)
            self._add_host_to_composed_groups(rules.groups, hostvars, name, strict=rules.strict)
            self._add_host_to_keyed_groups(rules.keyed_groups, hostvars, name, strict=rules.strict)
        except AnsibleError as error:
            raise AnsibleParserError(f"alicloud.ecs.instances: {error}") from None
