"""Inventory benchmark: `ansible-inventory --list` over many emulated instances with API latency.

Cold (regions in parallel), cached (a warm jsonfile cache) and sequential regions (as aws_ec2 does
it), side by side in one run, with wall time and API calls for each.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from emulator.testing import EmulatorProcess

REGIONS = ["cn-hangzhou", "cn-shanghai", "cn-beijing"]


def fleet() -> dict:
    return {
        "access_keys": [{"id": "LTAI5tBenchKey", "secret": "bench-secret"}],
        "regions": [{"id": region, "name": region, "zones": [f"{region}-a"]} for region in REGIONS],
        "instances": [],
    }


def list_inventory(env: dict[str, str], config: Path) -> float:
    started = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "ansible-inventory"), "-i", str(config), "--list"],
                   env=env, check=True, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    return time.perf_counter() - started


def measure(work: Path, env_base: dict[str, str], sizes: list[int], latency_ms: int) -> list[dict]:
    rows = []
    for size in sizes:
        with EmulatorProcess(fleet=fleet(), state_dir=work / f"state-{size}") as emulator:
            per_region = -(-size // len(REGIONS))
            emulator.control("POST", "instances", [
                {"name": f"{region}-{{n}}", "region": region, "count": per_region} for region in REGIONS])
            env = dict(env_base, **emulator.env())
            cache_dir = work / f"cache-{size}"
            base = f"plugin: alicloud.ecs.instances\nregions: {json.dumps(REGIONS)}\nhostnames: [instance_name]\n"
            configs = {
                "cold, regions in parallel": base,
                "cached (warm jsonfile cache)": base + f"cache: true\ncache_plugin: ansible.builtin.jsonfile\n"
                                                       f"cache_connection: {cache_dir}\ncache_timeout: 3600\n",
                "cold, regions one after another": base + "region_parallelism: 1\n",
            }
            emulator.faults(latency_ms=latency_ms)
            # Warm the cache once; the cached row then measures a pure cache hit.
            warm = work / "warm.alicloud_ecs.yml"
            warm.write_text(configs["cached (warm jsonfile cache)"])
            list_inventory(env, warm)
            for label, text in configs.items():
                path = work / f"bench-{size}.alicloud_ecs.yml"
                path.write_text(text)
                emulator.reset_counters()
                seconds = list_inventory(env, path)
                rows.append({"instances": size, "mode": label, "seconds": round(seconds, 2),
                             "api_calls": sum(emulator.counters().values())})
            emulator.clear_faults()
    return rows


def run_inventory_bench(sizes: list[int], latency_ms: int = 50) -> None:
    """Measure and print the inventory table; the JSON goes to bench/results/."""
    with tempfile.TemporaryDirectory() as temp:
        config = Path(temp) / "ansible.cfg"
        config.write_text("[defaults]\n")
        collections = Path(__file__).resolve().parent.parent / ".build" / "collections"
        env = dict(os.environ, ANSIBLE_CONFIG=str(config), ANSIBLE_COLLECTIONS_PATH=str(collections))
        report(measure(Path(temp), env, sizes, latency_ms), latency_ms, Path(__file__).resolve().parent / "results")


def report(rows: list[dict], latency_ms: int, results: Path) -> None:
    print(f"\nansible-inventory --list, {len(REGIONS)} regions, {latency_ms} ms injected API latency")
    print(f"{'instances':>9}  {'mode':34} {'seconds':>8} {'API calls':>10}")
    for row in rows:
        print(f"{row['instances']:>9}  {row['mode']:34} {row['seconds']:>8} {row['api_calls']:>10}")
    out = results / f"inventory-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps({"benchmark": "inventory", "latency_ms": latency_ms, "rows": rows}, indent=2) + "\n")
    print(f"written to {out.relative_to(results.parent.parent)}")
