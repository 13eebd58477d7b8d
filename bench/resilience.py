"""`python -m bench.resilience`: many forks moving large files, and the cost of a throttled account.

* Fan-in: ``forks`` workers copy a ``size`` MB file of random bytes to as many namespace-isolated instances, ``runs``
  times in a row, over the cloud_assistant connection (each fork keeps up to ``transfer_parallelism`` SendFile calls
  in flight; ``api_concurrency`` caps them across the run). Reported per run: failed hosts, wall time, and the peak
  memory of ansible-playbook's whole process tree (sampled every 0.2 s from /proc: the sum of RSS, which counts the
  pages forked workers share once per worker, and the sum of PSS, which splits them fairly).
* Throttling: the same small play (command, a copy, a copy whose content changes every run, on ``hosts`` instances) without faults and with 40 %
  of all calls throttled and 5 % answered 500/503; reported: wall times and the slowdown.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import typing as t
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from emulator.testing import EmulatorProcess  # noqa: E402

KEY = {"id": "LTAI5tResilienceBench", "secret": "resilience-bench-secret"}
REGION = "cn-hangzhou"
BIN = Path(sys.executable).parent


def fleet(count: int) -> dict[str, t.Any]:
    return {"access_keys": [KEY], "regions": [{"id": REGION, "name": "China (Hangzhou)", "zones": ["cn-hangzhou-h"]}],
            "instances": [{"name": "node", "region": REGION, "zone": "cn-hangzhou-h", "count": count}]}


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _memory_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in kB (0, 0 once it is gone)."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0, 0
    values = {line.split(":")[0]: int(line.split()[1]) for line in text.splitlines()[1:] if line.split()[1:2]}
    return values.get("Rss", 0), values.get("Pss", 0)


class TreeMemory:
    """Samples the memory of a process and all its descendants until stopped; keeps the peaks."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_rss = self.peak_pss = 0
        self.peak_processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            pids = _tree(self.pid)
            sums = [_memory_kb(pid) for pid in pids]
            self.peak_rss = max(self.peak_rss, sum(rss for rss, _pss in sums))
            self.peak_pss = max(self.peak_pss, sum(pss for _rss, pss in sums))
            self.peak_processes = max(self.peak_processes, len(pids))
            self._stop.wait(0.2)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def write_inventory(path: Path, emulator: EmulatorProcess, count: int) -> None:
    instances = sorted(emulator.instances(), key=lambda item: int(item["name"].rsplit("-", 1)[1]))[:count]
    path.write_text(json.dumps({"all": {"vars": {"ansible_connection": "alicloud.ecs.cloud_assistant",
                                                 "ansible_python_interpreter": "/usr/bin/python3"},
                                        "hosts": {item["name"]: {"ansible_alicloud_instance_id": item["id"],
                                                                 "ansible_alicloud_region": REGION}
                                                  for item in instances}}}))


def play(emulator: EmulatorProcess, work: Path, tasks: list[dict], forks: int, hosts: int,
         extra_env: dict[str, str] | None = None) -> dict[str, t.Any]:
    """One ansible-playbook run; wall time, failed/unreachable hosts from the recap, peak tree memory."""
    inventory, playbook = work / "inventory.json", work / "play.json"
    write_inventory(inventory, emulator, hosts)
    playbook.write_text(json.dumps([{"name": "bench", "hosts": "all", "gather_facts": False, "tasks": tasks}]))
    (work / "ansible.cfg").write_text("[defaults]\n")
    env = {**os.environ, **emulator.env(), "ANSIBLE_CONFIG": str(work / "ansible.cfg"),
           "ANSIBLE_COLLECTIONS_PATH": str(REPO_ROOT / ".build" / "collections"),
           "ANSIBLE_ALICLOUD_TRANSFER_CACHE": str(work / "transfer-cache"), "ANSIBLE_HOST_KEY_CHECKING": "false",
           "ANSIBLE_NOCOLOR": "1", **(extra_env or {})}
    started = time.monotonic()
    proc = subprocess.Popen([str(BIN / "ansible-playbook"), "-i", str(inventory), str(playbook), "-f", str(forks)],
                            env=env, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    memory = TreeMemory(proc.pid)
    output = proc.communicate()[0]
    memory.stop()
    recap = output.rsplit("PLAY RECAP", maxsplit=1)[-1]
    hosts_seen = [line for line in recap.splitlines() if "ok=" in line]
    bad = [line for line in hosts_seen if "failed=0" not in line or "unreachable=0" not in line]
    return {"seconds": round(time.monotonic() - started, 1), "rc": proc.returncode, "bad_hosts": len(bad),
            "peak_rss_mb": round(memory.peak_rss / 1024), "peak_pss_mb": round(memory.peak_pss / 1024),
            "peak_processes": memory.peak_processes,
            "errors": [line[:600] for line in output.splitlines() if line.startswith(("fatal:", "[ERROR]"))][:10]}


def fan_in(forks: int, size_mb: int, runs: int, concurrency: int | None) -> list[dict[str, t.Any]]:
    with tempfile.TemporaryDirectory() as temp, \
            EmulatorProcess(fleet=fleet(forks), state_dir=Path(temp) / "state") as emulator:
        work = Path(temp)
        payload = work / "payload.bin"
        payload.write_bytes(os.urandom(size_mb << 20))
        env = {"ANSIBLE_ALICLOUD_API_CONCURRENCY": str(concurrency)} if concurrency is not None else {}
        results = []
        for run in range(runs):
            task = {"name": "copy", "ansible.builtin.copy": {"src": str(payload), "dest": f"/root/payload-{run}.bin"}}
            results.append(play(emulator, work, [task], forks, forks, env))
            print(f"fan-in run {run + 1}: {results[-1]}", flush=True)
        return results


def throttling(hosts: int) -> dict[str, t.Any]:
    tasks = [{"name": "command", "ansible.builtin.command": "echo bench"},
             {"name": "copy", "ansible.builtin.copy": {"content": "{{ inventory_hostname }}\n", "dest": "/root/c"}},
             {"name": "changing copy", "ansible.builtin.copy": {"content": "{{ 999999 | random }}\n", "dest": "/root/t"}}]
    with tempfile.TemporaryDirectory() as temp, \
            EmulatorProcess(fleet=fleet(hosts), state_dir=Path(temp) / "state") as emulator:
        work = Path(temp)
        play(emulator, work, tasks, hosts, hosts)  # warm-up: instance inits and module payloads in place
        calm = play(emulator, work, tasks, hosts, hosts)
        emulator.faults(EmulatorProcess.throttle("*", times=None, every=5),
                        EmulatorProcess.throttle("*", times=None, every=4, code="Throttling.User"),
                        EmulatorProcess.error("*", times=None, every=24),
                        EmulatorProcess.error("*", times=None, every=23, code="ServiceUnavailable"))
        stormy = play(emulator, work, tasks, hosts, hosts)
        fired = sum(rule["fired"] for rule in emulator.fault_plan()["rules"])
        emulator.clear_faults()
    return {"hosts": hosts, "calm_seconds": calm["seconds"], "throttled_seconds": stormy["seconds"],
            "slowdown": round(stormy["seconds"] / max(calm["seconds"], 0.1), 2), "faults_fired": fired,
            "bad_hosts": (calm["bad_hosts"], stormy["bad_hosts"])}


def run_resilience_bench(forks: int = 50, size_mb: int = 5, runs: int = 3, hosts: int = 10,
                         concurrency: int | None = None) -> dict[str, t.Any]:
    load_at_start = os.getloadavg()
    result = {"fan_in": fan_in(forks, size_mb, runs, concurrency), "throttling": throttling(hosts),
              "load_at_start": load_at_start, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    print("\nfan-in: forks=%d hosts=%d %d MB copies" % (forks, forks, size_mb))
    print(f"{'run':>4} {'bad hosts':>9} {'seconds':>8} {'peak RSS MB':>12} {'peak PSS MB':>12} {'processes':>10}")
    for index, row in enumerate(result["fan_in"], 1):
        print(f"{index:>4} {row['bad_hosts']:>9} {row['seconds']:>8} {row['peak_rss_mb']:>12} {row['peak_pss_mb']:>12}"
              f" {row['peak_processes']:>10}")
    storm = result["throttling"]
    print(f"\nthrottling (40 % throttled, 5 % 5xx) on {storm['hosts']} hosts: {storm['calm_seconds']} s calm, "
          f"{storm['throttled_seconds']} s throttled ({storm['slowdown']}x), {storm['faults_fired']} faults, "
          f"bad hosts {storm['bad_hosts']}")
    out = REPO_ROOT / "bench" / "results" / f"resilience-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=1))
    print(f"results: {out}")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--forks", type=int, default=50)
    parser.add_argument("--size-mb", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--hosts", type=int, default=10, help="hosts of the throttling play")
    parser.add_argument("--api-concurrency", type=int, default=None, help="override the connection's default cap")
    args = parser.parse_args()
    result = run_resilience_bench(args.forks, args.size_mb, args.runs, args.hosts, args.api_concurrency)
    return 0 if all(row["bad_hosts"] == 0 and row["rc"] == 0 for row in result["fan_in"]) else 1


if __name__ == "__main__":
    sys.exit(main())
