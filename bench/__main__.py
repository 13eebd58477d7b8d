"""`python -m bench`: per-task wall time and API calls, cloud_assistant vs local, in one run.

Each connection runs a 1-task and a (1+N)-task playbook; the difference divided by N is the cost
of one task with ansible's start-up cancelled out. API calls come from the emulator's counters.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench.fleet import run_fleet_bench, sizes_arg  # noqa: E402
from bench.inventory import run_inventory_bench  # noqa: E402
from bench.ssh import loopback_sshd  # noqa: E402
from bench.transfer import SEND_PARALLELISM, run_transfer_bench  # noqa: E402
from emulator.testing import EmulatorProcess  # noqa: E402

FLEET = {
    "access_keys": [{"id": "LTAI5tBenchKey", "secret": "bench-secret"}],
    "regions": [{"id": "cn-hangzhou", "name": "China (Hangzhou)", "zones": ["cn-hangzhou-h"]}],
    "instances": [{"name": "bench-1", "region": "cn-hangzhou", "zone": "cn-hangzhou-h", "tags": {"role": "bench"}}],
}


def write_playbook(path: Path, tasks: int) -> None:
    lines = ["- name: Bench", "  hosts: bench", "  gather_facts: false", "  tasks:"]
    for index in range(tasks):
        lines += [f"    - name: Command {index}", "      ansible.builtin.command: echo bench",
                  "      changed_when: false"]
    path.write_text("\n".join(lines) + "\n")


def write_inventory(path: Path, connection: str, instance_id: str, ssh_vars: dict | None = None) -> None:
    host = {"ansible_connection": connection, "ansible_python_interpreter": "/usr/bin/python3"}
    if connection == "alicloud.ecs.cloud_assistant":
        host.update({"ansible_alicloud_instance_id": instance_id, "ansible_alicloud_region": "cn-hangzhou"})
    if connection == "ssh":
        host.update(ssh_vars or {})
    path.write_text(json.dumps({"all": {"children": {"bench": {"hosts": {"bench-1": host}}}}}))


def run_playbook(env: dict[str, str], inventory: Path, playbook: Path) -> float:
    started = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), str(playbook)],
                   env=env, check=True, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    return time.perf_counter() - started


def prepare(work: Path, connection: str, instance_id: str, tasks: int,
            ssh_vars: dict | None = None) -> tuple[Path, Path, Path]:
    inventory = work / f"{connection}.json"
    write_inventory(inventory, connection, instance_id, ssh_vars)
    short, long_ = work / "one.yml", work / "many.yml"
    write_playbook(short, 1)
    write_playbook(long_, tasks + 1)
    return inventory, short, long_


def sample(emulator: EmulatorProcess, env: dict[str, str], playbooks: tuple[Path, Path, Path],
           tasks: int) -> tuple[float, float]:
    """(seconds, API calls) of one task: a (1+N)-task run minus a 1-task run, divided by N."""
    inventory, short, long_ = playbooks
    emulator.reset_counters()
    one = run_playbook(env, inventory, short)
    one_calls = sum(emulator.counters().values())
    emulator.reset_counters()
    many = run_playbook(env, inventory, long_)
    many_calls = sum(emulator.counters().values())
    return (many - one) / tasks, (many_calls - one_calls) / tasks


def measure_all(emulator: EmulatorProcess, env: dict[str, str], work: Path, instance_id: str,
                tasks: int, repeats: int, ssh_vars: dict | None) -> dict[str, dict[str, float]]:
    """Every connection, repeated and interleaved so machine noise hits them alike; medians reported."""
    connections = ("alicloud.ecs.cloud_assistant", "ssh", "local") if ssh_vars else ("alicloud.ecs.cloud_assistant", "local")
    playbooks = {name: prepare(work, name, instance_id, tasks, ssh_vars) for name in connections}
    rows: dict[str, dict[str, float]] = {}
    for name in connections:
        emulator.reset_counters()
        started = time.perf_counter()
        run_playbook(env, playbooks[name][0], playbooks[name][1])
        rows[name] = {"first_use_seconds": round(time.perf_counter() - started, 3),
                      "first_use_calls": sum(emulator.counters().values())}
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in connections}
    for _repeat in range(repeats):
        for name in connections:
            samples[name].append(sample(emulator, env, playbooks[name], tasks))
    for name in connections:
        seconds = sorted(item[0] for item in samples[name])
        calls = sorted(item[1] for item in samples[name])
        rows[name].update({"seconds_per_task": round(statistics.median(seconds), 3),
                           "seconds_per_task_range": [round(seconds[0], 3), round(seconds[-1], 3)],
                           "calls_per_task": round(statistics.median(calls), 2)})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--transfer-parallelism", type=int, default=SEND_PARALLELISM)
    parser.add_argument("--inventory-sizes", default="1000,10000",
                        help="instance counts for the inventory benchmark, comma-separated")
    parser.add_argument("--fleet-sizes", type=sizes_arg, default=[10, 100, 1000],
                        help="instance counts for the fleet fan-out benchmark, comma-separated")
    parser.add_argument("--fleet-connection-sizes", type=sizes_arg, default=[10, 100, 1000],
                        help="the counts also run host by host over the connection (forks=50)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp, EmulatorProcess(fleet=FLEET, state_dir=Path(temp) / "state") as emulator:
        work = Path(temp)
        config = work / "ansible.cfg"
        config.write_text("[defaults]\n")
        env = dict(os.environ, **emulator.env(), ANSIBLE_CONFIG=str(config), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_ALICLOUD_TRANSFER_CACHE=str(work / "cache"),
                   ANSIBLE_COLLECTIONS_PATH=str(REPO_ROOT / ".build" / "collections"))
        instance_id = emulator.instances()[0]["id"]
        with loopback_sshd(work) as sshd:
            if isinstance(sshd, str):
                print(f"no ssh row: {sshd}")
            rows = measure_all(emulator, env, work, instance_id, args.tasks, args.repeats,
                               None if isinstance(sshd, str) else sshd)
        profile = emulator.health()
    result = {"benchmark": "command_tasks", "tasks": args.tasks, "rows": rows, "emulator": profile,
              "python": sys.version.split()[0], "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    print(f"\n{args.tasks} x ansible.builtin.command on one host, median of {args.repeats} interleaved runs "
          "(wall time per task, start-up cancelled)")
    print(f"{'connection':32} {'s/task':>8} {'range':>14} {'API calls/task':>15} {'first-use calls':>16}")
    for connection, row in rows.items():
        calls = row["calls_per_task"] if connection == "alicloud.ecs.cloud_assistant" else "-"
        first = row["first_use_calls"] if connection == "alicloud.ecs.cloud_assistant" else "-"
        low, high = row["seconds_per_task_range"]
        print(f"{connection:32} {row['seconds_per_task']:>8} {f'{low}-{high}':>14} {calls!s:>15} {first!s:>16}")
    ours = rows["alicloud.ecs.cloud_assistant"]["seconds_per_task"]
    for other in ("ssh", "local"):
        if other in rows:
            print(f"ratio cloud_assistant / {other}: {ours / (rows[other]['seconds_per_task'] or 1e-9):.2f}")
    print(f"emulator profile: {json.dumps(profile)}")
    out = REPO_ROOT / "bench" / "results" / f"command_tasks-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out.relative_to(REPO_ROOT)}")
    run_transfer_bench(args.transfer_parallelism)
    run_inventory_bench([int(size) for size in args.inventory_sizes.split(",") if size])
    run_fleet_bench(args.fleet_sizes, args.fleet_connection_sizes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
