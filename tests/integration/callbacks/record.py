# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only callback: writes every task result of a run to the JSON file named by RECORD_FILE.

Integration tests assert on what modules really returned, not on the text of the default output.
"""

from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: record
type: aggregate
short_description: Record task results as JSON for the integration tests
description:
  - Appends one entry per task result (task name, host, outcome, the result itself) to E(RECORD_FILE).
options: {}
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "record"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self._entries: list[dict] = []

    def _add(self, outcome: str, result) -> None:
        self._entries.append({
            "task": result.task_name,
            "host": (getattr(result, "host", None) or result._host).get_name(),  # ansible-core < 2.19: _host only
            "outcome": outcome,
            "result": json.loads(json.dumps(result._result, default=str)),
        })

    def v2_runner_on_ok(self, result) -> None:
        self._add("changed" if result._result.get("changed") else "ok", result)

    def v2_runner_on_failed(self, result, ignore_errors=False) -> None:
        self._add("failed", result)

    def v2_runner_on_skipped(self, result) -> None:
        self._add("skipped", result)

    def v2_runner_on_unreachable(self, result) -> None:
        self._add("unreachable", result)

    def v2_playbook_on_stats(self, stats) -> None:
        with open(os.environ["RECORD_FILE"], "w", encoding="utf-8") as handle:
            json.dump(self._entries, handle)
