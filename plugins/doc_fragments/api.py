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
"""
