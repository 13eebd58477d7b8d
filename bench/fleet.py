"""Fleet fan-out benchmark: one command on 10 / 100 / 1,000 / 10,000 instances, alicloud.ecs.run vs the connection.

Both sides run the same shell command (``echo bench``): through ``alicloud.ecs.run`` as a plain per-host
task (no run_once: every host's task reports its own result, the first one of the batch sends one
RunCommand per 100 instances for all) at forks 5 and 50 (up to 1,000 instances unless asked), with
run_once (one task for all hosts; also with read_output: false, exit codes only; and with engine: oos, where one
OOS execution of ACS-ECS-BulkyRunCommand per 1,000 instances does the fan-out in the cloud), and as an
``ansible.builtin.raw`` task over the alicloud.ecs.cloud_assistant connection with forks=50 (host by host). Wall time is the whole
ansible-playbook run; API calls come from the emulator's counters; controller CPU is the user + system time of
ansible-playbook and its workers. The emulator runs with
``isolation: none`` (thousands of isolated instances would each need their own init), no injected latency
unless asked for.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import typing as t
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from emulator.testing import EmulatorProcess  # noqa: E402

RUN_FORKS = (5, 50)
# ansible itself costs tens of milliseconds per host and task on a loaded 2-core machine (a debug task on 1,000
# hosts takes about a minute, and per host it grows with the number of hosts: 9,351 of 10,000 host tasks took
# 40 minutes), so by default the per-host rows stop at 1,000 instances and 10,000 runs with run_once only;
# --per-host-sizes asks for more.
PER_HOST_SIZES = (10, 100, 1000)
CONNECTION_FORKS = 50
CONNECTION = f"connection, forks={CONNECTION_FORKS}"
RUN_ONCE = f"alicloud.ecs.run, run_once, forks={CONNECTION_FORKS}"
RUN_ONCE_NO_OUTPUT = f"alicloud.ecs.run, run_once, read_output=false, forks={CONNECTION_FORKS}"
RUN_ONCE_OOS = f"alicloud.ecs.run, run_once, engine=oos, forks={CONNECTION_FORKS}"
# The emulator runs each execution's items in a thread pool as wide as its concurrency (100% here): 10,000 instances
# are 10 executions of 1,000 threads each, so 10,000 is asked for with --oos-sizes.
OOS_SIZES = (1000,)
COMMAND = "echo bench"


FLEET_SIZES = (10, 100, 1000, 10000)


def run_mode(forks: int) -> str:
    return f"alicloud.ecs.run, forks={forks}"


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
    paths = {"inventory": work / "fleet.json", "run": work / "run.yml", "run_once": work / "run_once.yml",
             "no_output": work / "no_output.yml", "connection": work / "connection.yml", "oos": work / "oos.yml"}
    paths["inventory"].write_text(json.dumps({"all": {"children": {"fleet": {"hosts": hosts}}}}))
    play = {"name": "Fleet", "hosts": "fleet", "gather_facts": False}
    paths["run"].write_text(json.dumps([{**play, "tasks": [
        {"name": "Fan out", "alicloud.ecs.run": {"content": COMMAND}}]}]))
    paths["run_once"].write_text(json.dumps([{**play, "tasks": [
        {"name": "Fan out once", "alicloud.ecs.run": {"content": COMMAND}, "run_once": True}]}]))
    paths["no_output"].write_text(json.dumps([{**play, "tasks": [
        {"name": "Fan out once, exit codes only", "alicloud.ecs.run": {"content": COMMAND, "read_output": False},
         "run_once": True}]}]))
    paths["oos"].write_text(json.dumps([{**play, "tasks": [
        {"name": "Fan out once in OOS", "alicloud.ecs.run": {"content": COMMAND, "engine": "oos"},
         "run_once": True}]}]))
    paths["connection"].write_text(json.dumps([{**play, "tasks": [
        {"name": "Host by host", "ansible.builtin.raw": COMMAND, "changed_when": False}]}]))
    return paths


def timed_run(env: dict[str, str], inventory: Path, playbook: Path, forks: int) -> tuple[float, float]:
    """(wall seconds, controller CPU seconds) of one ansible-playbook run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), str(playbook),
                    "--forks", str(forks)], env=env, check=True, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return time.perf_counter() - started, cpu


def measure(work: Path, env_base: dict[str, str], sizes: list[int], connection_sizes: list[int],
            latency_ms: int, per_host_sizes: t.Sequence[int] = PER_HOST_SIZES,
            oos_sizes: t.Sequence[int] = OOS_SIZES, modes: t.Sequence[str] = ()) -> tuple[list[dict], dict]:
    """``modes``: run only the rows whose mode contains one of these texts (all rows when empty)."""
    rows: list[dict] = []
    profile: dict = {}
    for size in sizes:
        with EmulatorProcess(fleet=fleet(size), state_dir=work / f"state-{size}", isolation="none") as emulator:
            env = dict(env_base, **emulator.env())
            paths = write_inputs(work, emulator)
            emulator.faults(latency_ms=latency_ms)
            runs = [(run_mode(forks), paths["run"], forks) for forks in RUN_FORKS if size in per_host_sizes]
            runs.append((RUN_ONCE, paths["run_once"], CONNECTION_FORKS))
            runs.append((RUN_ONCE_NO_OUTPUT, paths["no_output"], CONNECTION_FORKS))
            if size in oos_sizes:
                runs.append((RUN_ONCE_OOS, paths["oos"], CONNECTION_FORKS))
            if size in connection_sizes:
                runs.append((CONNECTION, paths["connection"], CONNECTION_FORKS))
            for mode, playbook, forks in runs:
                if modes and not any(text in mode for text in modes):
                    continue
                emulator.reset_counters()
                seconds, cpu = timed_run(env, paths["inventory"], playbook, forks)
                rows.append({"instances": size, "mode": mode, "seconds": round(seconds, 2),
                             "controller_cpu_seconds": round(cpu, 2),
                             "api_calls": sum(emulator.counters().values()), "counters": emulator.counters()})
            emulator.clear_faults()
            profile = emulator.health()
    return rows, profile


def report(rows: list[dict], profile: dict, latency_ms: int, results: Path,
           load_at_start: tuple[float, ...] = ()) -> None:
    print(f"\nFleet fan-out: `{COMMAND}` on N instances, whole ansible-playbook run, "
          f"{latency_ms} ms injected API latency, emulator isolation none")
    print(f"{'instances':>9}  {'mode':56} {'seconds':>8} {'CPU s':>7} {'API calls':>10} {'calls/instance':>15}")
    for row in rows:
        print(f"{row['instances']:>9}  {row['mode']:56} {row['seconds']:>8} {row['controller_cpu_seconds']:>7} "
              f"{row['api_calls']:>10} {row['api_calls'] / row['instances']:>15.2f}")
    for size in sorted({row["instances"] for row in rows}):
        pair = {row["mode"]: row for row in rows if row["instances"] == size}
        if CONNECTION in pair and run_mode(CONNECTION_FORKS) in pair:
            run, conn = pair[run_mode(CONNECTION_FORKS)], pair[CONNECTION]
            print(f"{size:>9}  alicloud.ecs.run (forks={CONNECTION_FORKS}) takes "
                  f"{run['seconds'] / max(conn['seconds'], 1e-9):.2f}x the connection's time "
                  f"with {conn['api_calls'] / max(run['api_calls'], 1):.0f}x fewer API calls")
    results.mkdir(parents=True, exist_ok=True)
    out = results / "fleet.json"
    out.write_text(json.dumps({"benchmark": "fleet", "command": COMMAND, "run_forks": list(RUN_FORKS),
                               "connection_forks": CONNECTION_FORKS, "latency_ms": latency_ms,
                               "load_at_start": load_at_start,
                               "rows": rows, "emulator": profile, "python": sys.version.split()[0],
                               "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, indent=2) + "\n")
    print(f"written to {out.relative_to(REPO_ROOT)}")


def run_fleet_bench(sizes: list[int], connection_sizes: list[int], latency_ms: int = 0,
                    per_host_sizes: t.Sequence[int] = PER_HOST_SIZES, oos_sizes: t.Sequence[int] = OOS_SIZES,
                    modes: t.Sequence[str] = ()) -> None:
    """Measure and print the fleet table; the JSON goes to bench/results/fleet.json."""
    load_at_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as temp:
        work = Path(temp)
        config = work / "ansible.cfg"
        config.write_text("[defaults]\n")
        env = dict(os.environ, ANSIBLE_CONFIG=str(config), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_COLLECTIONS_PATH=str(REPO_ROOT / ".build" / "collections"),
                   ANSIBLE_ALICLOUD_TRANSFER_CACHE=str(work / "cache"))
        rows, profile = measure(work, env, sizes, connection_sizes, latency_ms, per_host_sizes, oos_sizes, modes)
    report(rows, profile, latency_ms, REPO_ROOT / "bench" / "results", load_at_start)


def sizes_arg(text: str) -> list[int]:
    return [int(size) for size in text.split(",") if size]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=sizes_arg, default=list(FLEET_SIZES))
    parser.add_argument("--connection-sizes", type=sizes_arg, default=[10, 100, 1000])
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--per-host-sizes", type=sizes_arg, default=list(PER_HOST_SIZES),
                        help="the counts also run as a per-host task (no run_once) at forks 5 and 50")
    parser.add_argument("--oos-sizes", type=sizes_arg, default=list(OOS_SIZES),
                        help="the counts also run with engine: oos (run_once)")
    parser.add_argument("--modes", type=lambda text: [item for item in text.split(",") if item], default=[],
                        help="only the rows whose mode contains one of these texts, e.g. 'engine=oos'")
    args = parser.parse_args()
    run_fleet_bench(args.sizes, args.connection_sizes, args.latency_ms, args.per_host_sizes, args.oos_sizes,
                    args.modes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
