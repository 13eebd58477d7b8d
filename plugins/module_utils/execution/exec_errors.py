# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The error of a command the instance could not run, shared by the executor, its page reads and their callers."""

from __future__ import annotations


class RemoteExecError(Exception):
    """The instance could not run the command (agent down, bad user, timeout...), with the InvokeId."""

    def __init__(self, message: str, invoke_id: str | None = None, error_code: str = "") -> None:
        self.invoke_id = invoke_id
        self.error_code = error_code
        super().__init__(message)
