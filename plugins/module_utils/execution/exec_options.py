# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How commands are run on an instance: the options every executor, page reader and transfer takes."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..engine.invocation import PollSchedule
from .file_transfer import SEND_PARALLELISM
from .shell_dialect import ShellEnvelope
from .stdin_plan import StagingLimits


@dataclass
class ExecOptions:
    """How commands are run on the instance."""

    username: str | None = None
    timeout: int = 600
    wait_margin: float = 30.0
    name: str = "alicloud.ecs"
    tags: dict[str, str] = field(default_factory=dict)
    schedule: PollSchedule = field(default_factory=PollSchedule)
    parallelism: int = SEND_PARALLELISM  # SendFile calls and page reads in flight at once
    envelope: ShellEnvelope = field(default_factory=ShellEnvelope)  # the instance's script dialect
    staging: StagingLimits = field(default_factory=StagingLimits)  # how much the instance's chunk directory keeps
