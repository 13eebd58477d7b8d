"""Inventory benchmark: `ansible-inventory --list` over many emulated instances, beside its peer.

Our plugin cold (regions in parallel) and cached (a warm jsonfile cache); amazon.aws's aws_ec2 on a local
moto server with the same number of instances, regions, tag, keyed group and compose var, cold and
cached (bench/aws_peer.py); and two floor rows of the same run showing what ansible-core itself costs
for our answer without our plugin: an inventory of the same host names with no vars, and one giving
those hosts exactly the groups and hostvars our plugin produced. Each row also says what its answer
held (hosts, variables per host, bytes of --list), since the peers do not set the same variables.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.aws_peer import PEER_COLLECTIONS, inventory_configs, moto_server, peer_missing, seed
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
        done = subprocess.run([str(Path(sys.executable).parent / "ansible-inventory"), "-i", str(inventory), "--list"],
                              env=env, check=False, stdout=stdout, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        seconds = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(f"ansible-inventory -i {inventory} failed: {done.stderr.decode(errors='replace')[-2000:]}")
    return seconds


def write_floors(listing: Path, work: Path, size: int) -> dict[str, Path]:
    """Inventories that give ansible-core the answer our plugin produced, without our plugin.

    The names alone go in an INI file. The names with our hostvars come from an inventory script that
    prints our own --list output: ansible's cheapest way in for that data (a static YAML or JSON file
    measured slower than our plugin itself), and the ``__ansible_unsafe`` marks read back as the same
    untrusted values, so ansible-inventory answers exactly what ours did (groups included).
    """
    names = work / f"floor-{size}.ini"
    names.write_text("".join(f"{name}\n" for name in json.loads(listing.read_text())["_meta"]["hostvars"]))
    script = work / f"floor-{size}.sh"
    script.write_text(f"#!/bin/sh\nexec cat {shlex.quote(str(listing))}\n")
    script.chmod(0o755)
    return {"ansible-core floor: same host names, no vars": names, FLOOR: script}


FLOOR = "ansible-core floor: same hosts and hostvars"


def listing_shape(path: Path) -> dict[str, int]:
    """Hosts, host variables per host and size of one ``--list`` answer: what a row's seconds paid for."""
    listing = json.loads(path.read_text())
    hostvars = listing.get("_meta", {}).get("hostvars", {})
    hosts = set(hostvars).union(*(group.get("hosts", []) for name, group in listing.items() if name != "_meta"))
    return {"hosts": len(hosts), "vars_per_host": round(sum(len(v) for v in hostvars.values()) / len(hosts), 1)
            if hosts else 0, "list_bytes": path.stat().st_size}


def our_configs(work: Path, size: int) -> dict[str, str]:
    """Our plugin, cold and cached, shaped as the peer is: hosts by instance ID, one keyed group, one compose var."""
    base = (f"plugin: alicloud.ecs.instances\nregions: {json.dumps(REGIONS)}\nhostnames: [instance_id]\n"
            "keyed_groups:\n  - key: instance_tags.role\n    prefix: role\n"
            "compose:\n  ansible_python_interpreter: \"'/usr/bin/python3'\"\n")
    cached = (f"cache: true\ncache_plugin: ansible.builtin.jsonfile\n"
              f"cache_connection: {work / f'cache-{size}'}\ncache_timeout: 3600\n")
    return {"alicloud.ecs.instances, cold": base, "alicloud.ecs.instances, cached": base + cached}


def measure(work: Path, env_base: dict[str, str], sizes: list[int], repeats: int) -> list[dict]:
    """Every row of every size, ``repeats`` times interleaved (the median and the range are reported)."""
    rows = []
    for size in sizes:
        with EmulatorProcess(fleet=fleet(), state_dir=work / f"state-{size}") as emulator, \
                contextlib.ExitStack() as peer_stack:
            per_region = -(-size // len(REGIONS))
            emulator.control("POST", "instances", [
                {"name": f"{region}-{{n}}", "region": region, "count": per_region, "tags": {"role": "web"}}
                for region in REGIONS])
            ours = dict(env_base, **emulator.env())
            runs: dict[str, tuple[Path, dict[str, str]]] = {}
            for index, (label, text) in enumerate(our_configs(work, size).items()):
                path = work / f"bench-{size}-{index}.alicloud_ecs.yml"
                path.write_text(text)
                runs[label] = (path, ours)
            # Warm the cache once; the cached row then measures a pure cache hit. This answer is what the
            # floor inventories are made of.
            listing = work / f"listing-{size}.json"
            list_inventory(ours, runs["alicloud.ecs.instances, cached"][0], listing)
            runs.update((label, (path, ours)) for label, path in write_floors(listing, work, size).items())
            missing = peer_missing()
            if missing:
                print(f"no aws_ec2 row: {missing}")
            else:
                url = peer_stack.enter_context(moto_server())
                print(f"moto: {size} instances seeded in {seed(url, size):.1f} s")
                peer_env = dict(env_base, ANSIBLE_COLLECTIONS_PATH=str(PEER_COLLECTIONS))
                configs = inventory_configs(url, work, size)
                list_inventory(peer_env, configs["aws_ec2 (moto), cached"])  # warm its cache
                runs.update((label, (path, peer_env)) for label, path in configs.items())
            seconds: dict[str, list[float]] = {label: [] for label in runs}
            calls: dict[str, int] = {}
            shapes: dict[str, dict[str, int]] = {}
            for repeat in range(repeats):
                for label, (path, env) in runs.items():
                    if repeat and label in ONCE:
                        continue
                    emulator.reset_counters()
                    answer = work / "answer.json"
                    seconds[label].append(list_inventory(env, path, answer))
                    calls[label] = sum(emulator.counters().values())
                    shapes.setdefault(label, listing_shape(answer))
            for label, measured in seconds.items():
                rows.append({"instances": size, "mode": label, "seconds": round(statistics.median(measured), 2),
                             "range": [round(min(measured), 2), round(max(measured), 2)],
                             "api_calls": calls[label] if label in OURS else None, **shapes[label]})
    return rows


OURS = ("alicloud.ecs.instances, cold", "alicloud.ecs.instances, cached")
ONCE = ("aws_ec2 (moto), cold",)  # the slowest row (about a minute at 10,000 on moto) runs once, to keep make bench short


def run_inventory_bench(sizes: list[int], repeats: int = 2) -> None:
    """Measure and print the inventory table; the JSON goes to bench/results/."""
    with tempfile.TemporaryDirectory() as temp:
        config = Path(temp) / "ansible.cfg"
        config.write_text("[defaults]\n")
        collections = Path(__file__).resolve().parent.parent / ".build" / "collections"
        env = dict(os.environ, ANSIBLE_CONFIG=str(config), ANSIBLE_COLLECTIONS_PATH=str(collections))
        report(measure(Path(temp), env, sizes, repeats), repeats, Path(__file__).resolve().parent / "results")


def report(rows: list[dict], repeats: int, results: Path) -> None:
    print(f"\nansible-inventory --list, {len(REGIONS)} regions, one keyed group and one compose var, no injected "
          f"latency; median of {repeats} runs (range)")
    width = max(len(row["mode"]) for row in rows)
    print(f"{'instances':>9}  {'mode':{width}} {'seconds':>8} {'range':>13} {'API calls':>10} {'hosts':>6} "
          f"{'vars/host':>9} {'--list MB':>9}")
    for row in rows:
        low, high = row["range"]
        calls = "-" if row["api_calls"] is None else row["api_calls"]
        print(f"{row['instances']:>9}  {row['mode']:{width}} {row['seconds']:>8} {f'{low}-{high}':>13} {calls!s:>10} "
              f"{row['hosts']:>6} {row['vars_per_host']:>9} {row['list_bytes'] / 1e6:>9.1f}")
    for size in sorted({row["instances"] for row in rows}):
        by_mode = {row["mode"]: row["seconds"] for row in rows if row["instances"] == size}
        cached = by_mode["alicloud.ecs.instances, cached"]
        ratios = [f"/ ansible-core floor (same hosts and hostvars) {cached / by_mode[FLOOR]:.2f}"]
        if "aws_ec2 (moto), cached" in by_mode:
            ratios.append(f"/ aws_ec2 cached {cached / by_mode['aws_ec2 (moto), cached']:.2f}")
        print(f"{size:>9}  ours cached {'  '.join(ratios)}")
    out = results / f"inventory-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps({"benchmark": "inventory", "latency_ms": 0, "repeats": repeats, "rows": rows,
                               "load_at_start": os.getloadavg()}, indent=2) + "\n")
    print(f"written to {out.relative_to(results.parent.parent)}")
