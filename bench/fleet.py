"""Fleet fan-out benchmark: one command on 10 / 100 / 1,000 instances, alicloud.ecs.run vs the connection.

Both sides run the same shell command (``echo bench``): once through ``alicloud.ecs.run`` (run_once, one
RunCommand per 100 instances, polled together), once as an ``ansible.builtin.raw`` task over the
alicloud.ecs.cloud_assistant connection with forks=50 (host by host). Wall time is the whole
ansible-playbook run; API calls come from the emulator's counters. The emulator runs with
``isolation: none`` (1,000 isolated instances would each need their own init), no injected latency
unless asked for.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from emulator.testing import EmulatorProcess  # noqa: E402

FORKS = 50
COMMAND = "echo bench"


def fleet(size: int) -> dict:
    return {
        "access_keys": [{"id": "LTAI5tBenchKey", "secret": "bench-secret"}],
        "regions": [{"id": "cn-hangzhou", "name": "China (Hangzhou)", "zones": ["cn-hangzhou-h"]}],
        "instances": [{"name": "node", "region": "cn-hangzhou", "zone": "cn-hangzhou-h", "count": size}],
    }


def write_inputs(work: Path, emulator: EmulatorProcess) -> dict[str, Path]:
    """The inventory the alicloud.ecs.instances plugin would give, and one playbook per side."""
    hosts = {item["name"]: {"ansible_connection": "alicloud.ecs.cloud_assistant",
                            "ansible_alicloud_instance_id": item["id"], "ansible_alicloud_region": item["region"]}
             for item in emulator.instances()}
    paths = {"inventory": work / "fleet.json", "alicloud.ecs.run": work / "run.yml",
             "connection, forks=50": work / "connection.yml"}
    paths["inventory"].write_text(json.dumps({"all": {"children": {"fleet": {"hosts": hosts}}}}))
    play = {"name": "Fleet", "hosts": "fleet", "gather_facts": False}
    paths["alicloud.ecs.run"].write_text(json.dumps([{**play, "tasks": [
        {"name": "Fan out", "alicloud.ecs.run": {"content": COMMAND}, "run_once": True}]}]))
    paths["connection, forks=50"].write_text(json.dumps([{**play, "tasks": [
        {"name": "Host by host", "ansible.builtin.raw": COMMAND, "changed_when": False}]}]))
    return paths


def timed_run(env: dict[str, str], inventory: Path, playbook: Path) -> float:
    started = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), str(playbook),
                    "--forks", str(FORKS)], env=env, check=True, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    return time.perf_counter() - started


def measure(work: Path, env_base: dict[str, str], sizes: list[int], connection_sizes: list[int],
            latency_ms: int) -> tuple[list[dict], dict]:
    rows: list[dict] = []
    profile: dict = {}
    for size in sizes:
        with EmulatorProcess(fleet=fleet(size), state_dir=work / f"state-{size}", isolation="none") as emulator:
            env = dict(env_base, **emulator.env())
            paths = write_inputs(work, emulator)
            emulator.faults(latency_ms=latency_ms)
            for mode in ("alicloud.ecs.run", "connection, forks=50"):
                if mode != "alicloud.ecs.run" and size not in connection_sizes:
                    continue
                emulator.reset_counters()
                seconds = timed_run(env, paths["inventory"], paths[mode])
                rows.append({"instances": size, "mode": mode, "seconds": round(seconds, 2),
                             "api_calls": sum(emulator.counters().values()), "counters": emulator.counters()})
            emulator.clear_faults()
            profile = emulator.health()
    return rows, profile


def report(rows: list[dict], profile: dict, latency_ms: int, results: Path) -> None:
    print(f"\nFleet fan-out: `{COMMAND}` on N instances, whole ansible-playbook run, "
          f"{latency_ms} ms injected API latency, emulator isolation none")
    print(f"{'instances':>9}  {'mode':24} {'seconds':>8} {'API calls':>10} {'calls/instance':>15}")
    for row in rows:
        print(f"{row['instances']:>9}  {row['mode']:24} {row['seconds']:>8} {row['api_calls']:>10} "
              f"{row['api_calls'] / row['instances']:>15.2f}")
    for size in sorted({row["instances"] for row in rows}):
        pair = {row["mode"]: row for row in rows if row["instances"] == size}
        if len(pair) == 2:
            run, conn = pair["alicloud.ecs.run"], pair["connection, forks=50"]
            print(f"{size:>9}  alicloud.ecs.run is {conn['seconds'] / max(run['seconds'], 1e-9):.1f}x faster "
                  f"with {conn['api_calls'] / max(run['api_calls'], 1):.0f}x fewer API calls")
    results.mkdir(parents=True, exist_ok=True)
    out = results / "fleet.json"
    out.write_text(json.dumps({"benchmark": "fleet", "command": COMMAND, "forks": FORKS, "latency_ms": latency_ms,
                               "rows": rows, "emulator": profile, "python": sys.version.split()[0],
                               "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, indent=2) + "\n")
    print(f"written to {out.relative_to(REPO_ROOT)}")


def run_fleet_bench(sizes: list[int], connection_sizes: list[int], latency_ms: int = 0) -> None:
    """Measure and print the fleet table; the JSON goes to bench/results/fleet.json."""
    with tempfile.TemporaryDirectory() as temp:
        work = Path(temp)
        config = work / "ansible.cfg"
        config.write_text("[defaults]\n")
        env = dict(os.environ, ANSIBLE_CONFIG=str(config), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_COLLECTIONS_PATH=str(REPO_ROOT / ".build" / "collections"),
                   ANSIBLE_ALICLOUD_TRANSFER_CACHE=str(work / "cache"))
        rows, profile = measure(work, env, sizes, connection_sizes, latency_ms)
    report(rows, profile, latency_ms, REPO_ROOT / "bench" / "results")


def sizes_arg(text: str) -> list[int]:
    return [int(size) for size in text.split(",") if size]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=sizes_arg, default=[10, 100, 1000])
    parser.add_argument("--connection-sizes", type=sizes_arg, default=[10, 100, 1000])
    parser.add_argument("--latency-ms", type=int, default=0)
    args = parser.parse_args()
    run_fleet_bench(args.sizes, args.connection_sizes, args.latency_ms)
    return 0


if __name__ == "__main__":
    sys.exit(main())
