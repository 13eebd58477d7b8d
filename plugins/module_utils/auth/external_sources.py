# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sources that hand over credentials made elsewhere: a command (External profile) or a URI (CredentialsURI).

Both are run through the library (``credentials_library``), which parses their answers; nothing here ever
writes a result back into the aliyun CLI's configuration.
"""

from __future__ import annotations

import typing as t
from urllib.parse import urlsplit

from .credentials import Credential
from .credentials_library import from_library


class ExternalSource:
    """An External profile: runs the configured command, which prints the credentials as JSON."""

    def __init__(self, command: str, description: str) -> None:
        self.command = command
        self.description = description
        self.identity = f"external:{command}"

    def fetch(self) -> Credential:
        def make() -> t.Any:
            # No update callback: unlike the aliyun CLI, we never write the result back into config.json.
            from alibabacloud_credentials.provider.external import ExternalCredentialsProvider
            return ExternalCredentialsProvider(process_command=self.command)
        return from_library(self.description, "the external command", make)


class UriSource:
    """A CredentialsURI profile or ALIBABA_CLOUD_CREDENTIALS_URI: a local service answering with credentials."""

    def __init__(self, uri: str, description: str) -> None:
        self.uri = uri
        self.description = description
        self.identity = f"uri:{uri}"

    def fetch(self) -> Credential:
        def make() -> t.Any:
            from alibabacloud_credentials.provider.uri import URLCredentialsProvider
            return URLCredentialsProvider(uri=self.uri)
        parts = urlsplit(self.uri)
        return from_library(self.description, f"{parts.scheme}://{parts.netloc}", make)
