# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shared API options (credentials, endpoint, retries, timeouts, call cap), written once for modules and plugins.

``DOCUMENTATION`` holds what is true everywhere; every user adds one section of its own, as ansible merges each
option's keys across fragments:

- ``alicloud.ecs.api.modules``: the region option, the key aliases, and the notes every module shares. Modules
  cannot document ``env:`` sources (that key belongs to plugin options); ``services/common_args.py`` implements the
  fallbacks the descriptions name.
- ``alicloud.ecs.api.plugins``: the ``env:`` sources and defaults ansible's configuration reads for the connection
  and the inventory. Plugins that also read host variables (the connection) add only a ``vars:`` list per option
  in their own documentation.

``module_utils/api/options.py`` turns the options into Settings the same way for all of them.
"""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  access_key:
    description:
      - Alibaba Cloud AccessKey ID.
      - Falls back to the environment variables E(ALIBABA_CLOUD_ACCESS_KEY_ID) and E(ALICLOUD_ACCESS_KEY), in that order.
    type: str
  secret_key:
    description:
      - Alibaba Cloud AccessKey secret. It never appears in output or error messages.
      - Falls back to the environment variables E(ALIBABA_CLOUD_ACCESS_KEY_SECRET) and E(ALICLOUD_SECRET_KEY), in that order.
    type: str
  security_token:
    description:
      - STS security token, for temporary credentials.
      - Falls back to the environment variables E(ALIBABA_CLOUD_SECURITY_TOKEN) and E(ALICLOUD_SECURITY_TOKEN), in that order.
    type: str
  profile:
    description:
      - Name of a profile in the aliyun CLI configuration (O(profile_file)) or a section of the credentials ini
        file, used when no keys are given. Every mode C(aliyun configure) writes is supported.
      - Without it, the configuration's C(current) profile is used, then the ini file's C([default]) section.
      - Falls back to the environment variables E(ALIBABA_CLOUD_PROFILE) and E(ALICLOUD_PROFILE), in that order.
      - See docs/credentials.md for the whole order in which credentials are looked for.
    type: str
  profile_file:
    description:
      - Path of the aliyun CLI configuration holding the profiles.
      - Falls back to the environment variable E(ALIBABA_CLOUD_CONFIG_FILE), then C(~/.aliyun/config.json).
    type: path
  assume_role_arn:
    description:
      - ARN of a RAM role to assume (STS AssumeRole) with the credentials found otherwise, for example
        V(acs:ram::123456789012****:role/ansible-operator). Temporary credentials are renewed before they expire.
    type: str
  assume_role_session_name:
    description:
      - Session name of the assumed role (2 to 64 characters), shown in ActionTrail. Default V(ansible-alicloud-ecs).
    type: str
  assume_role_duration:
    description:
      - Lifetime in seconds of the assumed role's credentials, 900 up to the role's maximum session duration.
        Default V(3600).
    type: int
  assume_role_external_id:
    description:
      - External ID the role's trust policy asks for (2 to 1224 characters).
    type: str
  assume_role_policy:
    description:
      - Inline RAM policy (JSON, at most 2048 characters) further limiting the assumed role's permissions.
    type: str
  sts_endpoint:
    description:
      - STS endpoint to use instead of the regional or central one, as V(https://host) or V(http://host:port).
      - Falls back to the environment variable E(ALIBABA_CLOUD_STS_ENDPOINT).
    type: str
  sts_region:
    description:
      - Region whose STS endpoint is called (C(sts.<region>.aliyuncs.com)); the central C(sts.aliyuncs.com) when unset.
      - Falls back to the environment variable E(ALIBABA_CLOUD_STS_REGION).
    type: str
  vpc_endpoint:
    description:
      - Call the VPC endpoints of STS (C(sts-vpc.<region>.aliyuncs.com)) and ECS (C(ecs-vpc.<region>.aliyuncs.com)),
        for controllers inside a VPC without internet access. O(endpoint) and O(sts_endpoint) still win.
      - Falls back to the environment variable E(ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED).
    type: bool
  endpoint:
    description:
      - API endpoint to use instead of the public regional one, as V(http://host:port) or V(https://host).
      - Without it, the region's ECS endpoint comes from the vendor's endpoint data in aliyun-python-sdk-ecs
        (C(ecs.<region>.aliyuncs.com) for most regions, another host for about 35, e.g. C(ecs-cn-hangzhou.aliyuncs.com));
        OOS uses C(oos.<region>.aliyuncs.com).
      - This is the one switch between the real cloud and the local emulator.
      - Falls back to the environment variables E(ALIBABA_CLOUD_ECS_ENDPOINT) and E(ALICLOUD_ECS_ENDPOINT), in that order.
    type: str
  retry_budget:
    description:
      - Seconds an API call that is safe to repeat (a read, or a write carrying a ClientToken) keeps being retried
        when it is throttled, answered with a 5xx, or cannot reach the endpoint; pauses grow exponentially with
        random jitter, up to 10 seconds each. V(0) retries nothing.
      - Falls back to the environment variable E(ANSIBLE_ALICLOUD_RETRY_BUDGET), then 120 seconds, which ride out
        a minute-long throttling storm or a 30-second outage of the API.
      - 'An endpoint this ansible run has not reached yet is not waited for like an outage: a first call that cannot
        connect (refused, DNS, TLS) fails within about 10 seconds, saying so. Once the endpoint has answered in the
        run (in any task or process of it), a connection failure is retried for this budget, and while a call keeps
        failing a line every 10 seconds says so (from the connection, the inventory and M(alicloud.ecs.run)).'
    type: float
  connect_timeout:
    description:
      - Seconds to wait for the API endpoint to accept a connection.
      - Falls back to the environment variable E(ANSIBLE_ALICLOUD_CONNECT_TIMEOUT), then 5 seconds.
    type: int
  read_timeout:
    description:
      - Seconds to wait for the answer to one API call once it is sent.
      - Falls back to the environment variable E(ANSIBLE_ALICLOUD_READ_TIMEOUT), then 10 seconds.
    type: int
  api_concurrency:
    description:
      - Most API calls in flight at once. The connection, the inventory and M(alicloud.ecs.run) count them across
        the whole ansible run (all forks, their transfer threads and the inventory; each call holds one of this many
        lock files while its request is on the wire); any other module counts the calls of its own task.
      - Keeps many forks with parallel transfers from flooding the controller and the account's rate limit. V(0)
        sets no cap.
      - Falls back to the environment variable E(ANSIBLE_ALICLOUD_API_CONCURRENCY), then 32.
    type: int
requirements:
  - aliyun-python-sdk-core >= 2.16.1
  - aliyun-python-sdk-ecs >= 4.24.83 (the vendor's ECS endpoint per region)
  - alibabacloud-credentials >= 1.0 (only to assume a role, with assume_role_arn or a RamRoleArn, ChainableRamRoleArn or OIDC profile)
"""

    # Only for modules: the region each module acts in, the keys' aliases, and where modules run.
    MODULES = r"""
options:
  region:
    description:
      - The region to act in, for example V(cn-hangzhou).
      - Falls back to the environment variables E(ALIBABA_CLOUD_REGION_ID) and E(ALICLOUD_REGION), in that order.
    type: str
    aliases: [region_id]
  access_key:
    aliases: [access_key_id]
  secret_key:
    aliases: [access_key_secret]
notes:
  - >-
    The module calls the API from where its task runs, and never connects to the instances itself: write it
    in a play on C(localhost) or with C(delegate_to: localhost), so that it runs on the controller.
    M(alicloud.ecs.run) is the exception: it always runs on the controller, so it needs neither; write it on the
    fleet's hosts, or on C(localhost) with O(alicloud.ecs.run#module:instance_ids) or
    O(alicloud.ecs.run#module:instance_tags) (no C(run_once) needed; see its notes).
  - Every alicloud.ecs module belongs to the C(group/alicloud.ecs.alicloud) C(module_defaults) group, so
    credentials and the region can be set once per play.
  - The RAM actions each module can call (per option) and minimal RAM policies are listed in docs/permissions.md
    of the collection.
"""

    # Only for plugins: where ansible's configuration finds each option, and the defaults it applies.
    PLUGINS = r"""
options:
  access_key:
    env:
      - name: ALIBABA_CLOUD_ACCESS_KEY_ID
      - name: ALICLOUD_ACCESS_KEY
  secret_key:
    env:
      - name: ALIBABA_CLOUD_ACCESS_KEY_SECRET
      - name: ALICLOUD_SECRET_KEY
  security_token:
    env:
      - name: ALIBABA_CLOUD_SECURITY_TOKEN
      - name: ALICLOUD_SECURITY_TOKEN
  profile:
    env:
      - name: ALIBABA_CLOUD_PROFILE
      - name: ALICLOUD_PROFILE
  profile_file:
    env:
      - name: ALIBABA_CLOUD_CONFIG_FILE
  sts_endpoint:
    env:
      - name: ALIBABA_CLOUD_STS_ENDPOINT
  sts_region:
    env:
      - name: ALIBABA_CLOUD_STS_REGION
  vpc_endpoint:
    env:
      - name: ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED
  endpoint:
    env:
      - name: ALIBABA_CLOUD_ECS_ENDPOINT
      - name: ALICLOUD_ECS_ENDPOINT
  retry_budget:
    default: 120
    env:
      - name: ANSIBLE_ALICLOUD_RETRY_BUDGET
  connect_timeout:
    default: 5
    env:
      - name: ANSIBLE_ALICLOUD_CONNECT_TIMEOUT
  read_timeout:
    default: 10
    env:
      - name: ANSIBLE_ALICLOUD_READ_TIMEOUT
  api_concurrency:
    default: 32
    env:
      - name: ANSIBLE_ALICLOUD_API_CONCURRENCY
"""
