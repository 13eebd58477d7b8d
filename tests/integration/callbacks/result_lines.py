# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only callback: appends one JSON line per task result to the file named by RESULT_LINES_FILE.

It appends (where ``record`` rewrites its file at the end of each run) so that a script running several
ansible-playbook commands one after the other, such as ansible-core's own connection test target, leaves
every run's results for the test to check.
"""

from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: result_lines
type: aggregate
short_description: Append task results as JSON lines for the integration tests
description:
  - Appends one line per task result (playbook, task name, host, outcome) to E(RESULT_LINES_FILE).
options: {}
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "result_lines"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self._playbook = ""

    def _write(self, line: dict) -> None:
        with open(os.environ["RESULT_LINES_FILE"], "a", encoding="utf-8") as handle:
            handle.write(json.dumps(line) + "\n")

    def v2_playbook_on_start(self, playbook) -> None:
        self._playbook = os.path.basename(playbook._file_name)
        self._write({"playbook": self._playbook, "event": "start"})

    def _add(self, outcome: str, result) -> None:
        host = getattr(result, "host", None) or result._host  # ansible-core < 2.19: _host only
        self._write({"playbook": self._playbook, "task": result.task_name, "host": host.get_name(),
                     "outcome": outcome, "msg": str(result._result.get("msg", ""))[:2000]})

    def v2_runner_on_ok(self, result) -> None:
        self._add("changed" if result._result.get("changed") else "ok", result)

    def v2_runner_on_failed(self, result, ignore_errors=False) -> None:
        self._add("failed", result)

    def v2_runner_on_skipped(self, result) -> None:
        self._add("skipped", result)

    def v2_runner_on_unreachable(self, result) -> None:
        self._add("unreachable", result)
