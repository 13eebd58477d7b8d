"""`python -m bench`: per-task wall time and API calls of five modules, cloud_assistant vs ssh vs local, in one run.

Every task is timed and its API calls counted by a callback (bench/callbacks/task_clock.py), so
ansible's start-up never enters the figures, and one playbook per run holds rounds of one task per
module. Cloud Assistant has three rows: hosts from the collection's inventory plugin (the usual setup, and the
plugin loads the connection's code before ansible forks a worker per task), from a static inventory
(each worker then imports the SDK and compiles the connection's module_utils itself), and that static host as
``remote_user: deploy`` with ``become: true`` (password-less sudo), whose staging directory is deploy's own and
whose chunks go up as RunCommands run as deploy instead of SendFile. The tasks are what playbooks mostly consist of:

* ping, and command (``echo bench``): the smallest module round trip;
* copy of a small file whose content changes with every task, so each one takes the path that moves
  data (stat, file upload, copy module); a no-op copy would be only the stat and a file module;
* template of a small file that renders differently every task: copy's path, rendered locally first;
* setup with its default gather_subset (all): what ``gather_facts: true`` runs at the start of every
  play, and the largest answer of the five (tens of KB of facts).

First use is each module's first task on the fresh instance, in that order, so it includes the upload
of the module's payload unless an earlier module already staged it (template runs copy's module).
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
import typing as t
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench.fleet import FLEET_SIZES, run_fleet_bench, sizes_arg  # noqa: E402
from bench.inventory import run_inventory_bench  # noqa: E402
from bench.resilience import run_resilience_bench  # noqa: E402
from bench.session import LATENCY_MS, run_session_bench  # noqa: E402
from bench.ssh import loopback_sshd  # noqa: E402
from bench.transfer import SEND_PARALLELISM, run_transfer_bench  # noqa: E402
from emulator.testing import EmulatorProcess  # noqa: E402

FLEET = {
    "access_keys": [{"id": "LTAI5tBenchKey", "secret": "bench-secret"}],
    "regions": [{"id": "cn-hangzhou", "name": "China (Hangzhou)", "zones": ["cn-hangzhou-h"]}],
    "instances": [{"name": "bench-1", "region": "cn-hangzhou", "zone": "cn-hangzhou-h", "tags": {"role": "bench"}}],
}
# One task per module. Every task gets its round as ``bench_round``, so copy and template change their file each time.
TASKS: dict[str, dict[str, t.Any]] = {
    "ping": {"ansible.builtin.ping": {}},
    "command": {"ansible.builtin.command": "echo bench", "changed_when": False},
    "copy": {"ansible.builtin.copy": {"content": "bench round {{ bench_round }}\n", "dest": "{{ bench_dir }}/copy.txt",
                                      "mode": "0644"}},
    "template": {"ansible.builtin.template": {"src": "{{ bench_template }}", "dest": "{{ bench_dir }}/template.conf",
                                              "mode": "0644"}},
    "setup": {"ansible.builtin.setup": {}},
}
TEMPLATE = """# bench configuration for {{ inventory_hostname }}
round = {{ bench_round }}
{% for index in range(5) %}
worker_{{ index }} = {{ bench_dir }}/worker-{{ index }}.sock
{% endfor %}
"""


def write_playbook(path: Path, modules: t.Sequence[str], rounds: int, template: Path) -> None:
    """Rounds of one task per module, in the order given; JSON is YAML, so no quoting to get wrong."""
    tasks = [{"name": f"{module} {round_}", **TASKS[module], "vars": {"bench_round": round_}}
             for round_ in range(rounds) for module in modules]
    play = {"name": "Bench", "hosts": "bench", "gather_facts": False, "vars": {"bench_template": str(template)}, "tasks": tasks}
    path.write_text(json.dumps([play], indent=1))


CLOUD_ASSISTANT = "alicloud.ecs.cloud_assistant"  # hosts from the alicloud.ecs.instances inventory plugin
STATIC = "cloud_assistant, static inv."  # the same connection, hosts from a static inventory
DEPLOY = "cloud_assistant, deploy+become"  # the static host as a non-root remote user that becomes root
OURS = (CLOUD_ASSISTANT, STATIC, DEPLOY)
# The deploy row's user: a home of its own and password-less sudo, created as root through the emulator.
DEPLOY_SETUP = ("id deploy >/dev/null 2>&1 || useradd -m -s /bin/sh deploy; "
                "echo 'deploy ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/bench-deploy; chmod 0440 /etc/sudoers.d/bench-deploy")
INVENTORY_PLUGIN = """plugin: alicloud.ecs.instances
regions: [cn-hangzhou]
hostnames: [instance_name]
groups:
  bench: true
compose:
  ansible_python_interpreter: "'/usr/bin/python3'"
  bench_dir: "'/tmp'"
"""


def write_inventory(work: Path, row: str, instance_id: str, ssh_vars: dict | None = None) -> Path:
    """The inventory of one row: the product's own inventory plugin for Cloud Assistant (it also loads the
    connection's code before ansible forks its workers), static JSON for the rest."""
    if row == CLOUD_ASSISTANT:
        path = work / "bench.alicloud_ecs.yml"
        path.write_text(INVENTORY_PLUGIN)
        return path
    connection = "alicloud.ecs.cloud_assistant" if row in (STATIC, DEPLOY) else row
    host = {"ansible_connection": connection, "ansible_python_interpreter": "/usr/bin/python3"}
    if row in (STATIC, DEPLOY):
        host.update({"ansible_alicloud_instance_id": instance_id, "ansible_alicloud_region": "cn-hangzhou",
                     "bench_dir": "/tmp"})
    if row == DEPLOY:
        host.update({"ansible_user": "deploy", "ansible_become": True})
    else:  # ssh and local both write on this machine: one directory each, inside the run's temporary directory
        files = work / f"files-{connection}"
        files.mkdir(exist_ok=True)
        host["bench_dir"] = str(files)
    if connection == "ssh":
        host.update(ssh_vars or {})
    name = {STATIC: "static", DEPLOY: "deploy"}.get(row, connection)
    path = work / f"{name}.json"
    path.write_text(json.dumps({"all": {"children": {"bench": {"hosts": {"bench-1": host}}}}}))
    return path


def run_playbook(env: dict[str, str], inventory: Path, playbook: Path, emulator: EmulatorProcess) -> list[dict]:
    """Run the playbook; returns one record per task (bench/callbacks/task_clock.py)."""
    log = playbook.with_suffix(".jsonl")
    log.unlink(missing_ok=True)
    clock = {"ANSIBLE_CALLBACK_PLUGINS": str(REPO_ROOT / "bench" / "callbacks"), "ANSIBLE_CALLBACKS_ENABLED": "task_clock",
             "BENCH_EMULATOR_ENDPOINT": emulator.endpoint, "ALICLOUD_ECS_EMULATOR_TOKEN": emulator.token,
             "BENCH_TASK_LOG": str(log),
             "BENCH_EMULATOR_PID": str(emulator.proc.pid if emulator.proc else "")}
    subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), str(playbook)],
                   env=dict(env, **clock), check=True, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    records = [json.loads(line) for line in log.read_text().splitlines()]
    for record in records:
        module, round_ = record["name"].rsplit(" ", 1)
        record.update(module=module, round=int(round_))
    return records


def summarize(first: list[dict], runs: list[list[dict]], module: str) -> dict[str, t.Any]:
    """One module on one connection: the first use, then steady state as the median of the runs' means
    (a playbook pays the mean, tail included) with the runs' spread and the median single task."""
    first_use = next(record for record in first if record["module"] == module)
    steady = [[record for record in run if record["module"] == module and record["round"] > 0] for run in runs]
    seconds = sorted(statistics.mean(record["seconds"] for record in run) for run in steady)
    calls = [statistics.mean(record["calls"] for record in run) for run in steady]
    every = [record for run in steady for record in run]
    actions = sorted({action for record in every for action in record["actions"]})
    return {"first_use_seconds": round(first_use["seconds"], 3), "first_use_calls": first_use["calls"],
            "first_use_calls_by_action": first_use["actions"],
            "seconds_per_task": round(statistics.median(seconds), 3),
            "seconds_per_task_range": [round(seconds[0], 3), round(seconds[-1], 3)],
            "median_task_seconds": round(statistics.median(record["seconds"] for record in every), 3),
            "calls_per_task": round(statistics.median(calls), 2),
            "controller_cpu_ms_per_task": round(1000 * statistics.mean(record["controller_cpu"] for record in every)),
            "emulator_cpu_ms_per_task": round(1000 * statistics.mean(record["emulator_cpu"] for record in every)),
            "calls_per_task_by_action": {
                action: round(statistics.mean(record["actions"].get(action, 0) for record in every), 2) for action in actions},
            "changed_tasks": f"{sum(bool(record['changed']) for record in every)}/{len(every)}"}


def measure_all(emulator: EmulatorProcess, env: dict[str, str], work: Path, instance_id: str,
                tasks: int, repeats: int, ssh_vars: dict | None,
                modules: t.Sequence[str] = tuple(TASKS),
                rows: t.Sequence[str] | None = None) -> dict[str, dict[str, dict[str, t.Any]]]:
    """Rows by module, then connection.

    Each connection first runs one round (one task per module) on the fresh instance: the first use of
    each module. Then every connection runs 1 + ``tasks`` rounds, ``repeats`` times, interleaved so
    machine noise hits them alike; the first round of each run is left out, as it pays for whatever
    ansible does once per process.
    """
    connections = (*OURS, "ssh", "local") if ssh_vars else (*OURS, "local")
    connections = tuple(name for name in connections if rows is None or name in rows)  # rows: only these
    if DEPLOY in connections:
        emulator.exec(instance_id, DEPLOY_SETUP)
    template = work / "bench.j2"
    template.write_text(TEMPLATE)
    first_use, playbook = work / "first.yml", work / "tasks.yml"
    write_playbook(first_use, modules, 1, template)
    write_playbook(playbook, modules, 1 + tasks, template)
    inventories = {name: write_inventory(work, name, instance_id, ssh_vars) for name in connections}
    first = {name: run_playbook(env, inventories[name], first_use, emulator) for name in connections}
    runs: dict[str, list[list[dict]]] = {name: [] for name in connections}
    for _repeat in range(repeats):
        for name in connections:
            runs[name].append(run_playbook(env, inventories[name], playbook, emulator))
    return {module: {name: summarize(first[name], runs[name], module) for name in connections} for module in modules}


def modules_arg(text: str) -> list[str]:
    modules = [name for name in text.split(",") if name]
    unknown = sorted(set(modules) - set(TASKS))
    if unknown or not modules:
        raise argparse.ArgumentTypeError(f"choose from {','.join(TASKS)} (got {text!r})")
    return modules


def print_table(rows: dict[str, dict[str, dict[str, t.Any]]], tasks: int, repeats: int) -> None:
    print(f"\n{tasks} tasks per module in each of {repeats} interleaved runs per connection, one host. s/task: median "
          "of the runs' means (range: lowest and highest), median: the typical single task; start-up excluded")
    print("ctrl ms / emu ms: CPU per task of the controller (ansible and its workers) and of the emulator with its "
          "instances; polls: DescribeInvocationResults per task")
    print(f"{'module':9} {'connection':29} {'s/task':>7} {'range':>12} {'median':>7} {'API calls/task':>15} "
          f"{'polls':>6} {'ctrl ms':>8} {'emu ms':>7} {'first use: s':>13} {'calls':>6}")
    for module, by_connection in rows.items():
        for connection, row in by_connection.items():
            ours = connection in OURS
            low, high = row["seconds_per_task_range"]
            polls = row["calls_per_task_by_action"].get("DescribeInvocationResults", 0)
            print(f"{module:9} {connection:29} {row['seconds_per_task']:>7} {f'{low}-{high}':>12} "
                  f"{row['median_task_seconds']:>7} {row['calls_per_task'] if ours else '-'!s:>15} "
                  f"{polls if ours else '-'!s:>6} {row['controller_cpu_ms_per_task']:>8} "
                  f"{row['emulator_cpu_ms_per_task'] if ours else '-'!s:>7} "
                  f"{row['first_use_seconds']:>13} {row['first_use_calls'] if ours else '-'!s:>6}")
        for row_name, label in ((CLOUD_ASSISTANT, "cloud_assistant"), (STATIC, "static inv."), (DEPLOY, "deploy+become")):
            if row_name not in by_connection:
                continue
            ours = by_connection[row_name]["seconds_per_task"]
            ratios = [f"/ {other} {ours / (by_connection[other]['seconds_per_task'] or 1e-9):.2f}"
                      for other in ("ssh", "local") if other in by_connection]
            print(f"{'':9} ratio {label:15} {'  '.join(ratios)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=4, help="timed tasks per module in each run")
    parser.add_argument("--repeats", type=int, default=3, help="runs per connection, interleaved")
    parser.add_argument("--modules", type=modules_arg, default=list(TASKS),
                        help=f"modules to time, comma-separated (default: {','.join(TASKS)})")
    parser.add_argument("--transfer-parallelism", type=int, default=SEND_PARALLELISM)
    parser.add_argument("--transfer-repeats", type=int, default=3, help="runs of each transfer row, interleaved")
    parser.add_argument("--inventory-sizes", default="10000",
                        help="instance counts for the inventory benchmark, comma-separated")
    parser.add_argument("--inventory-repeats", type=int, default=2, help="runs of each inventory row, interleaved")
    parser.add_argument("--fleet-sizes", type=sizes_arg, default=list(FLEET_SIZES),
                        help="instance counts for the fleet fan-out benchmark, comma-separated")
    parser.add_argument("--fleet-connection-sizes", type=sizes_arg, default=[10, 100, 1000],
                        help="the counts also run host by host over the connection (forks=50)")
    parser.add_argument("--session-latency-ms", type=int, default=LATENCY_MS,
                        help="injected latency of the session benchmark's latency rows (bench/session.py; 0: none)")
    parser.add_argument("--resilience-forks", type=int, default=50,
                        help="forks (= hosts) of the 5 MB fan-in rows of bench/resilience.py; 0 skips them")
    args = parser.parse_args()
    load_at_start = os.getloadavg()  # the machine's load when the run began: other work distorts every figure
    print(f"load average at start: {' '.join(f'{value:.2f}' for value in load_at_start)} ({os.cpu_count()} CPUs)")
    started = time.perf_counter()
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
                               None if isinstance(sshd, str) else sshd, args.modules)
        profile = emulator.health()
    result = {"benchmark": "command_tasks", "tasks": args.tasks, "repeats": args.repeats, "load_at_start": load_at_start,
              "modules": {module: TASKS[module] for module in args.modules}, "template": TEMPLATE, "rows": rows, "emulator": profile,
              "python": sys.version.split()[0], "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    print_table(rows, args.tasks, args.repeats)
    print(f"emulator profile: {json.dumps(profile)}")
    out = REPO_ROOT / "bench" / "results" / f"command_tasks-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out.relative_to(REPO_ROOT)}")
    run_transfer_bench(args.transfer_parallelism, args.transfer_repeats)
    run_session_bench(args.tasks, args.repeats, args.session_latency_ms, args.transfer_repeats)
    run_inventory_bench([int(size) for size in args.inventory_sizes.split(",") if size], args.inventory_repeats)
    run_fleet_bench(args.fleet_sizes, args.fleet_connection_sizes)
    if args.resilience_forks:
        run_resilience_bench(forks=args.resilience_forks)
    print(f"\nmake bench took {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
