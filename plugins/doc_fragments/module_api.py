# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options every alicloud.ecs module shares (credentials, region, endpoint), written once.

Modules cannot document ``env:`` sources (that key belongs to plugin options), so the fallbacks are
described in prose; ``module_utils/common_args.py`` implements them.
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
    aliases: [access_key_id]
  secret_key:
    description:
      - Alibaba Cloud AccessKey secret. It never appears in output or error messages.
      - Falls back to the environment variables E(ALIBABA_CLOUD_ACCESS_KEY_SECRET) and E(ALICLOUD_SECRET_KEY), in that order.
    type: str
    aliases: [access_key_secret]
  security_token:
    description:
      - STS security token, for temporary credentials.
      - Falls back to the environment variables E(ALIBABA_CLOUD_SECURITY_TOKEN) and E(ALICLOUD_SECURITY_TOKEN), in that order.
    type: str
  region:
    description:
      - The region to act in, for example V(cn-hangzhou).
      - Falls back to the environment variables E(ALIBABA_CLOUD_REGION_ID) and E(ALICLOUD_REGION), in that order.
    type: str
    aliases: [region_id]
  endpoint:
    description:
      - API endpoint to use instead of the public regional one, as V(http://host:port) or V(https://host).
      - This is the one switch between the real cloud and the local emulator.
      - Falls back to the environment variables E(ALIBABA_CLOUD_ECS_ENDPOINT) and E(ALICLOUD_ECS_ENDPOINT), in that order.
    type: str
  retry_budget:
    description:
      - Seconds an API call that is safe to repeat (a read, or a write carrying a ClientToken) keeps being retried
        when it is throttled, answered with a 5xx, or cannot reach the endpoint; pauses grow exponentially with
        random jitter, up to 10 seconds each. V(0) retries nothing.
      - Falls back to the environment variable E(ANSIBLE_ALICLOUD_RETRY_BUDGET), then 120 seconds.
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
      - Most API calls this task keeps in flight at once (V(0) sets no cap).
      - Falls back to the environment variable E(ANSIBLE_ALICLOUD_API_CONCURRENCY), then 32.
    type: int
notes:
  - >-
    The module runs on the controller and calls the API from there; use it with C(delegate_to: localhost)
    or in a play with C(connection: local). It never connects to the instances itself.
  - Every alicloud.ecs module belongs to the C(group/alicloud.ecs.alicloud) C(module_defaults) group, so
    credentials and the region can be set once per play.
requirements:
  - aliyun-python-sdk-core >= 2.16.1
"""
