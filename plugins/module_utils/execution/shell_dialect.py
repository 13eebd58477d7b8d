# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The instance's script dialect as the executor sees it: which scripts, command type and staging directory."""

from __future__ import annotations

import typing as t

from .become_script import BecomeAnswer
from .shell_scripts import INLINE_BUDGET, build_page_script, build_run_script
from .staging_dir import chunk_dir_for
from .stdin_plan import StdinPlan


class ShellEnvelope:
    """The script dialect of the instance: POSIX sh with coreutils, run as RunShellScript.

    The executor's staging, retries and paging do not depend on the dialect; only the scripts do.
    A subclass (powershell_transport) writes the same framed answer from PowerShell, so one decoder
    serves both. The methods look the POSIX builders up when called, so tests can replace them.
    """

    command_type = "RunShellScript"
    inline_budget = INLINE_BUDGET  # packed stdin bytes one script may carry inline
    keeps_bases = True  # rebuilds stdin from a kept earlier payload (StdinPlan.from_base)
    # Page reads name their files by absolute path, so they start in a directory every user has: without a
    # WorkingDir the agent starts a user in its home and refuses the run when that home is missing.
    page_working_dir: str | None = "/"

    def run_script(self, command: bytes, plan: StdinPlan | None, become: BecomeAnswer | None = None) -> str:
        return build_run_script(command, plan, become)

    def page_script(self, spool: str, index: int, removes: t.Sequence[int]) -> str:
        return build_page_script(spool, index, removes)

    def chunk_dir(self, user: str) -> str:
        return chunk_dir_for(user)

    def stages_by_run(self, user: str) -> bool:
        """Whether chunks go up as RunCommands run as ``user`` instead of SendFile: for every user but root,
        whose own directory SendFile (which writes as root, then sets owner and mode by path) must not touch."""
        return (user or "root") != "root"
