"""How the executor aims its first result poll: what one kind of command is learnt to take (run_timing)."""

from __future__ import annotations

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.engine.invocation import Completion
from ansible_collections.alicloud.ecs.plugins.module_utils.execution import run_timing
from test_remote_exec import module_payload


def test_timing_learns_run_exactly_and_lag_from_the_looks() -> None:
    timing = run_timing.RunTiming(run=0.4, spread=0.02, lag=0.1)
    hit = Completion(results={}, polls=1, earliest=0.0, latest=0.54)
    after_hit = timing.learn(0.4, hit)
    assert after_hit.run == pytest.approx(0.4) and after_hit.lag == pytest.approx(0.095)
    miss = Completion(results={}, polls=3, earliest=0.9, latest=1.1)
    after_miss = timing.learn(0.45, miss)
    assert after_miss.run == pytest.approx(0.415)
    assert after_miss.spread == pytest.approx(0.02 + 0.3 * (0.05 - 0.02))
    assert after_miss.lag == pytest.approx(0.1 + 0.5 * (0.55 - 0.1))


def test_one_slow_run_does_not_push_every_later_aim_out() -> None:
    timing = run_timing.RunTiming(run=0.185, spread=0.005, lag=0.05)
    slow = Completion(results={}, polls=6, earliest=1.1, latest=1.3)
    after = timing.learn(1.19, slow)
    assert after.run < 0.21 and after.spread < 0.03
    assert after.aim < 0.5
    assert after.slow == pytest.approx(1.19), "the tail is remembered for the look after a miss"
    assert after.slow_aim > after.aim


def test_kinds_tell_modules_and_commands_apart() -> None:
    assert run_timing.timing_kind(b"python3", module_payload(1, b"zip")) == "module:ansible.modules.fake", \
        "by name, so the learned timing outlives the playbook run"
    assert run_timing.timing_kind(b"python3", b"x" * 5000 + b"setup") != \
        run_timing.timing_kind(b"python3", b"x" * 5000 + b"command")
    assert run_timing.timing_kind(b"python3", b"args1" + b"x" * 5000) == \
        run_timing.timing_kind(b"python3", b"args22" + b"x" * 5000)
    assert run_timing.timing_kind(b"true", None).startswith("command:")
