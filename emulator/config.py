"""Behaviour knobs, including every ⚠ point of the contract we had to decide (defaults = recommended choice)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Options:
    """Server options; each maps to a ``serve`` CLI flag of the same name (dashes for underscores)."""

    isolation: str = "auto"              # auto | namespace | none
    delivery_delay: float = 0.02         # seconds before the agent picks up a task
    delivery_timeout: float = 2.0        # offline agent → Aborted/ClientNotResponse after this (real: ~1 min)
    output_limit: int = 24576            # bytes of Output kept (the tail); the rest counted in Dropped
    progress_interval: float = 1.0       # how often partial output of a running command is published (real: 3 s)
    min_timeout: int = 10                # ⚠ RunCommand Timeout below this is raised to it (SendFile documents 10)
    max_timeout: int = 86400             # ⚠ above → InvalidTimeout.ExceedLimit (max not documented)
    killed_exit_code: int = -1           # ⚠ ExitCode of Timeout/Terminated records (undocumented; Go reports -1)
    stopped_instance: str = "error"      # ⚠ error: RunCommand fails with InvalidInstance.NotMatch; record: Aborted
    stop_running: str = "terminate"      # ⚠ StopInvocation on Running: terminate (kill → Terminated) | continue
    agent_concurrency: int = 100         # ⚠ tasks one instance's agent runs at once; beyond → Aborted TaskConcurrencyLimit
    transition_delay: float = 0.5       # seconds an instance spends in Stopping/Starting (real: seconds to a minute)
    period_min: float = 0                # ⚠ >0 replaces the minimum Period intervals (rate 60 s, cron 10 s); tests use 1
    check_timestamp: bool = True         # reject |now − Timestamp| > 15 min
