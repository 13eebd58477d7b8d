"""Where a file transfer of ``transport: session`` should leave the session for the RunCommand/SendFile path.

Times both paths, up (put) and down (fetch), for random data (incompressible: the worst case for both) from
1 KB to 64 MB on the emulator: the session channel the connection uses (plugin_utils/session/channel.py) and the
engine the RunCommand path uses (execution/remote_exec.py, SendFile chunks up, paged output down). Each size is
measured ``repeats`` times, interleaved, and the median is kept. The crossover of each direction is the smallest
size from which the RunCommand path is faster at every larger size; the connection's PUT_LIMIT and FETCH_LIMIT
(plugin_utils/session/route.py) are set from it and docs/connection.md states it.

Run alone: ``python -m bench.session_crossover [repeats]``. Writes bench/results/session-crossover-*.json (named by its time).
"""

from __future__ import annotations

import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / ".build" / "collections"))

from ansible_collections.alicloud.ecs.plugins.module_utils.api.client import CloudClient, resolve_settings  # noqa: E402
from ansible_collections.alicloud.ecs.plugins.module_utils.execution.instance_cache import InstanceCache  # noqa: E402
from ansible_collections.alicloud.ecs.plugins.module_utils.execution.remote_exec import (  # noqa: E402
    ExecOptions, InstanceExecutor,
)
from ansible_collections.alicloud.ecs.plugins.plugin_utils.session.channel import (  # noqa: E402
    CommandTimeout, SessionChannel,
)
from emulator.testing import EmulatorProcess  # noqa: E402

FLEET = {
    "access_keys": [{"id": "LTAI5tBenchKey", "secret": "bench-secret"}],
    "regions": [{"id": "cn-hangzhou", "name": "China (Hangzhou)", "zones": ["cn-hangzhou-h"]}],
    "instances": [{"name": "bench-1", "region": "cn-hangzhou", "zone": "cn-hangzhou-h"}],
}
# 1 KB, 4 KB, ... 4 MB, then 16 and 64 MB to see whether a crossover comes beyond.
SIZES = tuple(1024 << shift for shift in range(0, 17, 2))
STALL = 120.0  # seconds: far above the slowest session transfer measured (64 MB down)


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def measure(channel: SessionChannel, executor: InstanceExecutor, size: int) -> dict[str, float]:
    """Seconds for one put and one fetch of fresh random data over each path, checked byte-exact. A session
    transfer that has not ended after STALL seconds is stopped and counted as a stall (None), not timed."""
    data = os.urandom(size)
    row: dict[str, float | None] = {}
    path = f"/tmp/crossover-{size}.bin"
    got: dict[str, bytes] = {}
    try:
        row["session_put"] = timed(lambda: channel.put(data, path, timeout=STALL))
        row["session_fetch"] = timed(lambda: got.update(session=channel.fetch(path, timeout=STALL)))
    except CommandTimeout:
        row.setdefault("session_put", None)
        row["session_fetch"] = None
    if row["session_fetch"] is not None and got["session"] != data:
        raise RuntimeError(f"session fetch of {size} bytes differs")
    data = os.urandom(size)
    row["run_command_put"] = timed(lambda: executor.run(b"cat > " + path.encode(), data))
    sink = io.BytesIO()
    row["run_command_fetch"] = timed(lambda: executor.run(b"cat -- " + path.encode(), None, sink))
    if sink.getvalue() != data:
        raise RuntimeError(f"RunCommand fetch of {size} bytes differs")
    return row


def median(values) -> float:
    """The median of the timed values (a stall has none)."""
    timed_values = [value for value in values if value is not None]
    return round(statistics.median(timed_values), 4) if timed_values else float("inf")


def crossover(rows: dict[int, dict[str, float]], direction: str) -> int | None:
    """The smallest size from which RunCommand is faster at this and every larger size (None: never)."""
    found = None
    for size in sorted(rows, reverse=True):
        if rows[size][f"run_command_{direction}"] < rows[size][f"session_{direction}"]:
            found = size
        else:
            break
    return found


def run(repeats: int = 3) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as temp, \
            EmulatorProcess(fleet=FLEET, state_dir=Path(temp) / "state") as emulator:
        client = CloudClient(resolve_settings(env=emulator.env()))
        instance = emulator.instances()[0]
        executor = InstanceExecutor(client, instance["id"], ExecOptions(),
                                    InstanceCache(str(Path(temp) / "cache"), emulator.endpoint, instance["id"]))
        executor.run(b"true")  # start the instance outside the measurement
        # The holder outlives the RunCommand rows of the largest sizes (its own idle end is 60 s by default), so
        # every session row is a transfer over a session already open, as within a play.
        channel = SessionChannel(lambda: client, instance["id"], instance["region"], None, idle_seconds=900)
        channel.exec("true")  # and the session
        try:
            runs: dict[int, list[dict[str, float]]] = {size: [] for size in SIZES}
            for _repeat in range(repeats):
                for size in SIZES:
                    runs[size].append(measure(channel, executor, size))
            starts = channel.stats()["counters"]
        finally:
            channel.end_holder()
        profile = emulator.health()
    rows = {size: {key: median(run[key] for run in measured) for key in measured[0]} for size, measured in runs.items()}
    stalls = {str(size): sum(run[key] is None for run in measured for key in run) for size, measured in runs.items()}
    result = {"benchmark": "session-crossover", "repeats": repeats, "emulator": profile,
              "rows": {str(size): row for size, row in rows.items()}, "holder": starts, "stalls": stalls,
              "runs": {str(size): measured for size, measured in runs.items()},
              "crossover": {direction: crossover(rows, direction) for direction in ("put", "fetch")},
              "load_at_start": os.getloadavg(), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    print(f"\nSeconds per transfer, median of {repeats} (random data)")
    print(f"{'size':>8} {'session put':>12} {'RunCmd put':>11} {'session fetch':>14} {'RunCmd fetch':>13}")
    for size, row in rows.items():
        print(f"{size >> 10:>6}KB {row['session_put']:>12.3f} {row['run_command_put']:>11.3f} "
              f"{row['session_fetch']:>14.3f} {row['run_command_fetch']:>13.3f}")
    print(f"crossover (RunCommand faster from): {result['crossover']}; session stalls per size: {stalls}")
    out = REPO_ROOT / "bench" / "results" / f"session-crossover-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out.relative_to(REPO_ROOT)}")
    return result


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
