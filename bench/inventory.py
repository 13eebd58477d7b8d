"""Inventory benchmark: `ansible-inventory --list` over many emulated instances with API latency.

Cold (regions in parallel), cached (a warm jsonfile cache) and sequential regions (as aws_ec2 does
it), side by side in one run, with wall time and API calls for each. Two floor rows of the same run
show what ansible-core itself costs for the same answer, without our plugin: an inventory of the same
host names with no vars, and one giving those hosts exactly the hostvars our plugin produced.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
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


def list_inventory(env: dict[str, str], inventory: Path, output: Path | None = None) -> float:
    """Wall time of one `ansible-inventory --list`; its JSON goes to ``output`` when given."""
    with open(output, "wb") if output else contextlib.nullcontext(subprocess.DEVNULL) as stdout:
        started = time.perf_counter()
        subprocess.run([str(Path(sys.executable).parent / "ansible-inventory"), "-i", str(inventory), "--list"],
                       env=env, check=True, stdout=stdout, stdin=subprocess.DEVNULL)
        return time.perf_counter() - started


def write_floors(listing: Path, work: Path, size: int) -> dict[str, Path]:
    """Inventories that give ansible-core the answer our plugin produced, without our plugin.

    The names alone go in an INI file. The names with our hostvars come from an inventory script that
    prints our own --list output: ansible's cheapest way in for that data (a static YAML or JSON file
    measured slower than our plugin itself), and the ``__ansible_unsafe`` marks read back as the same
    untrusted values, so ansible-inventory answers exactly what ours did. The benchmark config makes
    no groups, so every host is ungrouped in ours and in both floors.
    """
    names = work / f"floor-{size}.ini"
    names.write_text("".join(f"{name}\n" for name in json.loads(listing.read_text())["_meta"]["hostvars"]))
    script = work / f"floor-{size}.sh"
    script.write_text(f"#!/bin/sh\nexec cat {shlex.quote(str(listing))}\n")
    script.chmod(0o755)
    return {"ansible-core floor: same host names, no vars": names,
            "ansible-core floor: same hosts and hostvars": script}


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
            inventories = {}
            for index, (label, text) in enumerate(configs.items()):
                inventories[label] = work / f"bench-{size}-{index}.alicloud_ecs.yml"
                inventories[label].write_text(text)
            emulator.faults(latency_ms=latency_ms)
            # Warm the cache once; the cached row then measures a pure cache hit. This run's answer
            # is what the floor inventories are made of.
            listing = work / f"listing-{size}.json"
            list_inventory(env, inventories["cached (warm jsonfile cache)"], listing)
            inventories.update(write_floors(listing, work, size))
            for label, path in inventories.items():
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
    width = max(len(row["mode"]) for row in rows)
    print(f"{'instances':>9}  {'mode':{width}} {'seconds':>8} {'API calls':>10}")
    for row in rows:
        print(f"{row['instances']:>9}  {row['mode']:{width}} {row['seconds']:>8} {row['api_calls']:>10}")
    out = results / f"inventory-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps({"benchmark": "inventory", "latency_ms": latency_ms, "rows": rows}, indent=2) + "\n")
    print(f"written to {out.relative_to(results.parent.parent)}")
