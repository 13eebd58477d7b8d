# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The module wrapper every alicloud.ecs module uses: shared options, the client, and error reporting.

Modules keep a thin ``main()``: they declare their own options, validate them, and call the API
through ``module.client``; a CloudError or ConfigError raised anywhere inside ``module.failures()``
becomes one ``fail_json`` naming the action, the API code and the request id.
"""

from __future__ import annotations

import contextlib
import typing as t

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ..api.client import HAS_SDK, SDK_IMPORT_ERROR, CloudClient
from ..api.options import settings_from_options
from .common_args import api_argument_spec
from ..api.errors import CloudError, ConfigError


class CloudModule(AnsibleModule):
    """AnsibleModule plus the shared API options and a lazily built client."""

    def __init__(self, argument_spec: dict[str, t.Any], **kwargs: t.Any) -> None:
        spec = api_argument_spec()
        spec.update(argument_spec)
        super().__init__(argument_spec=spec, **kwargs)
        if not HAS_SDK:
            self.fail_json(msg=missing_required_lib("aliyun-python-sdk-core and aliyun-python-sdk-ecs"), exception=str(SDK_IMPORT_ERROR))
        self._client: CloudClient | None = None

    @property
    def client(self) -> CloudClient:
        """The API client for the module's region, built on first use (after argument checks)."""
        if self._client is None:
            with self.failures():
                self._client = CloudClient(settings_from_options(self.params.get))
        return self._client

    def add_path_info(self, kwargs: dict[str, t.Any]) -> dict[str, t.Any]:
        """Leave results as they are: a ``path`` these modules return is on the instances, and ansible's
        default would add the owner, mode and size of whatever file has that path on the controller."""
        return kwargs

    def fail_cloud(self, error: CloudError, **result: t.Any) -> t.NoReturn:
        """Fail with the API's own words (action, code, request id) and the error as data."""
        self.fail_json(msg=str(error), error=error.to_dict(), **result)

    @contextlib.contextmanager
    def failures(self, **result: t.Any) -> t.Iterator[None]:
        """Turn the collection's errors raised inside the block into a clean module failure."""
        try:
            yield
        except CloudError as error:
            self.fail_cloud(error, **result)
        except ConfigError as error:
            self.fail_json(msg=str(error), **result)
