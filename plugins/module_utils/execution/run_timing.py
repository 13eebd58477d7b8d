# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""When to look for a command's result: how long one kind of command takes on one instance, learnt run by run.

The executor keeps a RunTiming per kind of command (timing_kind) in the instance cache and aims its first
DescribeInvocationResults at what the last runs took, so a quick module is seen finished at the first look.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ..engine.invocation import Completion
from .stdin_delta import module_name

LEARNING_RATE = 0.3     # weight of the newest run in the running mean and spread
SPREAD_FACTOR = 2.0     # aim this many spreads past the mean run time
LAG_SHRINK = 0.95       # after a first-look hit, expect a little less delivery lag next time
FIRST_LAG = 0.1         # delivery lag assumed before anything is known
OUTLIER_SPREADS = 3.0   # a run beyond mean + this many spreads (+ slack) counts only up to there
OUTLIER_SLACK = 0.05


@dataclass
class RunTiming:
    """How long one kind of command takes on one instance, to aim the first result poll.

    ``run`` and ``spread`` come from the script's own clock on the instance, exact on every run;
    ``lag`` (delivery and reporting around the script) is only bounded by the controller's looks,
    so it drifts down after a hit and moves halfway towards what a miss showed.
    """

    run: float
    spread: float
    lag: float
    slow: float | None = None  # typical run time of the heavy tail, once one was seen

    @property
    def aim(self) -> float:
        return self.run + SPREAD_FACTOR * self.spread + self.lag

    @property
    def slow_aim(self) -> float | None:
        return None if self.slow is None else self.slow + self.lag

    def learn(self, run_seconds: float, completion: Completion | None) -> RunTiming:
        """The timing after one more run; ``completion`` None when the looks say nothing of the lag."""
        # Module runs have a heavy tail (a run now and then takes a second more, on any host): a
        # clamped observation keeps one outlier from pushing every later aim out, while a real
        # change still comes through within a few runs.
        limit = self.run + OUTLIER_SPREADS * self.spread + OUTLIER_SLACK
        observed = min(run_seconds, limit)
        deviation = abs(observed - self.run)
        slow = self.slow
        if run_seconds > limit:  # remember where the tail lies, to look there right after a miss
            slow = run_seconds if slow is None else slow + LEARNING_RATE * (run_seconds - slow)
        if completion is None:
            lag = self.lag
        elif completion.polls == 1:
            lag = min(self.lag * LAG_SHRINK, max(0.0, completion.latest - run_seconds))
        else:
            seen = (completion.earliest + completion.latest) / 2 - run_seconds
            lag = self.lag + 0.5 * (seen - self.lag)
        return RunTiming(run=self.run + LEARNING_RATE * (observed - self.run),
                         spread=self.spread + LEARNING_RATE * (deviation - self.spread),
                         lag=max(0.0, lag), slow=slow)

    @classmethod
    def first(cls, run_seconds: float, completion: Completion | None) -> RunTiming:
        return cls(run=run_seconds, spread=run_seconds * 0.1, lag=FIRST_LAG).learn(run_seconds, completion)


def timing_kind(command: bytes, stdin: bytes | None) -> str:
    """What makes run times comparable: the module (by name, or by the end of its payload, which
    holds the module's code), else the command."""
    name = module_name(stdin)
    if name:
        return f"module:{name}"
    basis = stdin[-4096:] if stdin else command
    return ("module:" if stdin else "command:") + hashlib.sha256(basis).hexdigest()[:16]
