"""Transfer throughput: put and fetch of 1 MB and 20 MB through the engine the connection uses.

Run from ``python -m bench`` (same run as the task benchmark) or alone with ``python -m bench.transfer``.
Two kinds of data: random bytes (incompressible, the worst case: every byte costs API payload) and
source code (compresses about 5:1, as configuration, logs and scripts do).
"""

from __future__ import annotations

import io
import json
import os
import random
import statistics
import sys
import tempfile
import time
import typing as t
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / ".build" / "collections"))

from ansible_collections.alicloud.ecs.plugins.module_utils.api.client import CloudClient, resolve_settings  # noqa: E402
from ansible_collections.alicloud.ecs.plugins.module_utils.execution.file_transfer import SEND_PARALLELISM  # noqa: E402
from ansible_collections.alicloud.ecs.plugins.module_utils.execution.instance_cache import InstanceCache  # noqa: E402
from ansible_collections.alicloud.ecs.plugins.module_utils.execution.exec_options import ExecOptions  # noqa: E402
from ansible_collections.alicloud.ecs.plugins.module_utils.execution.remote_exec import InstanceExecutor  # noqa: E402
from emulator.testing import EmulatorProcess  # noqa: E402

FLEET = {
    "access_keys": [{"id": "LTAI5tBenchKey", "secret": "bench-secret"}],
    "regions": [{"id": "cn-hangzhou", "name": "China (Hangzhou)", "zones": ["cn-hangzhou-h"]}],
    "instances": [{"name": "bench-1", "region": "cn-hangzhou", "zone": "cn-hangzhou-h"}],
}
SIZES = (1 << 20, 20 << 20)
KINDS = ("random", "text")


def source_text() -> bytes:
    """Python's own standard library sources: real text (about 5:1 under gzip)."""
    root = Path(os.__file__).parent
    return b"".join(path.read_bytes() for path in sorted(root.glob("**/*.py"))[:4000])


def make_data(kind: str, size: int, corpus: bytes) -> bytes:
    """Fresh data each time (random bytes, or text from a random offset), so no chunk is already on
    the instance."""
    if kind == "random":
        return os.urandom(size)
    start = random.randrange(max(1, len(corpus) - size))
    return corpus[start:start + size]


def measure(emulator: EmulatorProcess, executor: InstanceExecutor, data: bytes, name: str) -> dict[str, float]:
    """One put and one fetch of fresh data: MB/s and API calls for each, verified byte-exact.

    Each row has a file of its own (``name``): the connection aims its result polls at the time the same
    command took before, so the first run of a row shows a command seen for the first time and the later
    ones a command seen before, as when one playbook fetches the same kind of file again.
    """
    path = f"/root/bench-{name.replace(' ', '-')}.bin".encode()
    size = len(data)
    row: dict[str, float] = {}
    emulator.reset_counters()
    started, cpu = time.perf_counter(), time.process_time()
    frame = executor.run(b"cat > " + path, data)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert frame.rc == 0, frame.stderr
    row.update(put_mb_s=round(size / seconds / 1e6, 2), put_seconds=round(seconds, 2),
               put_calls=sum(emulator.counters().values()), put_cpu_ms_per_mb=round(cpu * 1000 / (size / 1e6)))
    emulator.reset_counters()
    sink = io.BytesIO()
    started, cpu = time.perf_counter(), time.process_time()
    frame = executor.run(b"cat -- " + path, None, sink)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert frame.rc == 0 and sink.getvalue() == data, "fetched data differs"
    row.update(fetch_mb_s=round(size / seconds / 1e6, 2), fetch_seconds=round(seconds, 2),
               fetch_calls=sum(emulator.counters().values()), fetch_cpu_ms_per_mb=round(cpu * 1000 / (size / 1e6)))
    return row


def summarise(runs: list[dict[str, float]]) -> dict[str, t.Any]:
    """The median of every figure over the repeats, with the lowest and highest rate beside it."""
    row: dict[str, t.Any] = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    for rate in ("put_mb_s", "fetch_mb_s"):
        row[f"{rate}_range"] = [min(run[rate] for run in runs), max(run[rate] for run in runs)]
    row["runs"] = runs
    return row


def run_transfer_bench(parallelism: int = SEND_PARALLELISM, repeats: int = 3) -> dict[str, object]:
    """Start an emulator, measure every kind and size ``repeats`` times (interleaved), print the table and
    write JSON to bench/results."""
    load_at_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as temp, EmulatorProcess(fleet=FLEET, state_dir=Path(temp) / "state") as emulator:
        client = CloudClient(resolve_settings(env=emulator.env()))
        instance_id = emulator.instances()[0]["id"]
        cache = InstanceCache(str(Path(temp) / "cache"), emulator.endpoint, instance_id)
        executor = InstanceExecutor(client, instance_id, ExecOptions(parallelism=parallelism), cache)
        executor.run(b"true")  # start the instance outside the measurement
        corpus = source_text()
        runs: dict[str, list[dict[str, float]]] = {f"{kind} {size >> 20} MB": [] for kind in KINDS for size in SIZES}
        for _repeat in range(repeats):
            for kind in KINDS:
                for size in SIZES:
                    name = f"{kind} {size >> 20} MB"
                    runs[name].append(measure(emulator, executor, make_data(kind, size, corpus), name))
        rows = {name: summarise(measured) for name, measured in runs.items()}
        profile = emulator.health()
    result = {"benchmark": "transfer", "parallelism": parallelism, "repeats": repeats, "rows": rows,
              "emulator": profile, "load_at_start": load_at_start,
              "python": sys.version.split()[0], "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    print(f"\nTransfer through the engine (SendFile up, paged RunCommand output down), {parallelism} calls in flight, "
          f"median of {repeats} runs (range)")
    print("CPU ms/MB: this controller process's CPU (all its threads) per MB moved")
    print(f"{'data':14} {'put MB/s':>17} {'put calls':>10} {'CPU ms/MB':>10} {'fetch MB/s':>17} {'fetch calls':>12} "
          f"{'CPU ms/MB':>10}")
    for name, row in rows.items():
        put = f"{row['put_mb_s']:.2f} ({row['put_mb_s_range'][0]:.2f}-{row['put_mb_s_range'][1]:.2f})"
        fetch = f"{row['fetch_mb_s']:.2f} ({row['fetch_mb_s_range'][0]:.2f}-{row['fetch_mb_s_range'][1]:.2f})"
        print(f"{name:14} {put:>17} {row['put_calls']:>10.0f} {row['put_cpu_ms_per_mb']:>10.0f} "
              f"{fetch:>17} {row['fetch_calls']:>12.0f} {row['fetch_cpu_ms_per_mb']:>10.0f}")
    out = REPO_ROOT / "bench" / "results" / f"transfer-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out.relative_to(REPO_ROOT)}")
    return result


if __name__ == "__main__":
    run_transfer_bench(int(sys.argv[1]) if len(sys.argv) > 1 else SEND_PARALLELISM,
                       int(sys.argv[2]) if len(sys.argv) > 2 else 3)
