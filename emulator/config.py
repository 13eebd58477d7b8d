"""Behaviour knobs, including every ⚠ point of docs/api-contract.md we had to decide (defaults = recommended choice)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Options:
    """Server options; each maps to a ``serve`` CLI flag of the same name (dashes for underscores)."""

    isolation: str = "auto"              # auto | namespace | none
    delivery_delay: float = 0.02         # seconds before the agent picks up a task
    delivery_timeout: float = 2.0        # offline agent → Aborted/ClientNotResponse after this (real: ~1 min)
    output_limit: int = 24576            # the agent's logQuota: bytes of Output (streamed head + tail); rest → Dropped
    progress_interval: float = 1.0       # the agent's running-output ticker (its minimum 1 s; server config 3 s)
    min_timeout: int = 10                # ⚠ RunCommand Timeout below this is raised to it (SendFile documents 10)
    max_timeout: int = 86400             # ⚠ above → InvalidTimeout.ExceedLimit (max not documented)
    killed_exit_code: str = "agent"      # ⚠ agent: Timeout 1, Terminated 0, signalled -1 (its source); N: all three N
    stopped_instance: str = "error"      # ⚠ error: RunCommand fails with InvalidInstance.NotMatch; record: Aborted
    stop_running: str = "terminate"      # ⚠ StopInvocation on Running: terminate (kill → Terminated) | continue
    agent_concurrency: int = 10          # commands one instance's agent runs at once (taskpool.go); the rest queue
    agent_queue: int = 0                 # ⚠ 0: waiting commands are never aborted (agent); N: the N+1st → Aborted
    transition_delay: float = 0.5       # seconds an instance spends in Stopping/Starting (real: seconds to a minute)
    period_min: float = 0                # ⚠ >0 replaces the minimum Period intervals (rate 60 s, cron 10 s); tests use 1
    check_timestamp: bool = True         # reject |now − Timestamp| > 15 min
    session_manager: str = "on"          # on | off: the account's Session Manager switch (real accounts: off)
    session_idle_seconds: float = 180    # a session without a client message for this long ends (the agent: 180)
    session_max_seconds: float = 10800   # a session ends after this long in all (the agent: 3 h)
    session_pty_delay: float = 1.0       # the agent's pause before it starts the terminal; earlier input is dropped
    session_start_delay: float = 1.0     # the agent's pause before the first read of a new terminal (1 s)
    session_rate_bps: int = 204800       # the agent's default output rate, 200 kbit/s (200 × 1024 bit/s)
    latency_ms: int = 0                  # latency model: ms added to each API call, session frame and delivery
