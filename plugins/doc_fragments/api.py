# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared API options (credentials and endpoint), written once.

Plugins that also read host variables (the connection) add only a ``vars:`` list per option in
their own documentation; ansible merges each option's keys with these.
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
    env:
      - name: ALIBABA_CLOUD_ACCESS_KEY_ID
      - name: ALICLOUD_ACCESS_KEY
  secret_key:
    description:
      - Alibaba Cloud AccessKey secret. It never appears in output or error messages.
      - Falls back to the environment variables E(ALIBABA_CLOUD_ACCESS_KEY_SECRET) and E(ALICLOUD_SECRET_KEY), in that order.
    type: str
    env:
      - name: ALIBABA_CLOUD_ACCESS_KEY_SECRET
      - name: ALICLOUD_SECRET_KEY
  security_token:
    description:
      - STS security token, for temporary credentials.
      - Falls back to the environment variables E(ALIBABA_CLOUD_SECURITY_TOKEN) and E(ALICLOUD_SECURITY_TOKEN), in that order.
    type: str
    env:
      - name: ALIBABA_CLOUD_SECURITY_TOKEN
      - name: ALICLOUD_SECURITY_TOKEN
  endpoint:
    description:
      - API endpoint to use instead of the public regional one, as V(http://host:port) or V(https://host).
      - This is the one switch between the real cloud and the local emulator.
      - Falls back to the environment variables E(ALIBABA_CLOUD_ECS_ENDPOINT) and E(ALICLOUD_ECS_ENDPOINT), in that order.
    type: str
    env:
      - name: ALIBABA_CLOUD_ECS_ENDPOINT
      - name: ALICLOUD_ECS_ENDPOINT
  retry_budget:
    description:
      - Seconds an API call that is safe to repeat (a read, or a write carrying a ClientToken) keeps being retried
        when it is throttled, answered with a 5xx, or cannot reach the endpoint; pauses grow exponentially with
        random jitter, up to 10 seconds each. V(0) retries nothing.
      - The default rides out a minute-long throttling storm or a 30-second outage of the API.
    type: float
    default: 120
    env:
      - name: ANSIBLE_ALICLOUD_RETRY_BUDGET
  connect_timeout:
    description:
      - Seconds to wait for the API endpoint to accept a connection.
    type: int
    default: 5
    env:
      - name: ANSIBLE_ALICLOUD_CONNECT_TIMEOUT
  read_timeout:
    description:
      - Seconds to wait for the answer to one API call once it is sent.
    type: int
    default: 10
    env:
      - name: ANSIBLE_ALICLOUD_READ_TIMEOUT
  api_concurrency:
    description:
      - Most API calls in flight at once in one ansible run, counted across all forks, their transfer threads and
        the inventory (each call holds one of this many lock files while its request is on the wire).
      - Keeps many forks with parallel transfers from flooding the controller and the account's rate limit. V(0)
        sets no cap.
    type: int
    default: 32
    env:
      - name: ANSIBLE_ALICLOUD_API_CONCURRENCY
"""
