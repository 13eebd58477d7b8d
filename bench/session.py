"""The session transport beside run_command and ssh: per-task rows and transfer rows, in one run.

Run from ``python -m bench`` (after the task and transfer benchmarks) or alone with ``python -m bench.session``.

Per-task rows: ping, command (``echo bench``) and copy (a small file whose content changes every task) on one
emulated instance over ``alicloud.ecs.cloud_assistant`` with ``transport: run_command`` and with
``transport: session``, and over ssh to a loopback sshd (with pipelining), each timed by the task benchmark's
callback (bench/callbacks/task_clock.py: a task's span, API calls per task by action from the emulator's
counters). As in the task benchmark, each playbook run's first round is left out (it starts the session, or
pays what ansible does once per process), and the runs of the rows are interleaved.

The same rows also run under injected latency (default 50 ms), interleaved with the rows without it: a model
of a controller far from the region, in which every API call, every websocket frame the emulator sends to the
client and the agent's delivery of every RunCommand wait that long first. It is the emulator's ``--latency-ms``
setting, switched between runs through the control API's ``latency_ms`` (the same knob), so one emulator and one
instance serve both and the machine's drift hits both alike. Session frames leave that long after they were
produced and keep their order without waiting for each other (a network's latency, not a slower line).
ssh gets the same model from a relay (bench/delay_relay.py) between ssh and the loopback sshd that holds
everything the sshd sends that long before passing it on, so one request-and-answer pays one wait on either path.

Round trips on a task's critical path are measured, not counted from the code: the extra seconds the median task
took under latency divided by the latency (``waits/task``): how many times a task had to wait for the network.
On a loaded machine the difference of two medians is noisy; the more repeats, the better.

Transfer rows: a put (copy of a fresh random file: incompressible) and a fetch of 1 MB and 20 MB over each
transport, without injected latency, as MB/s and API calls per transfer.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import typing as t
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.ssh import loopback_sshd  # noqa: E402
from emulator.testing import EmulatorProcess  # noqa: E402

FLEET = {
    "access_keys": [{"id": "LTAI5tBenchKey", "secret": "bench-secret"}],
    "regions": [{"id": "cn-hangzhou", "name": "China (Hangzhou)", "zones": ["cn-hangzhou-h"]}],
    "instances": [{"name": "bench-1", "region": "cn-hangzhou", "zone": "cn-hangzhou-h", "tags": {"role": "bench"}}],
}
MODULES = ("ping", "command", "copy")
RUN_COMMAND = "transport: run_command"
SESSION = "transport: session"
SSH = "ssh"
ROWS = (RUN_COMMAND, SESSION, SSH)
LATENCY_MS = 50
TRANSFER_SIZES = (1 << 20, 20 << 20)


def bench_main() -> t.Any:
    """The task benchmark's playbook writer, runner and summary (bench/__main__.py), shared, not copied."""
    import bench.__main__ as main  # pylint: disable=import-outside-toplevel
    return main


def write_inventory(work: Path, row: str, instance_id: str, ssh_vars: dict | None, suffix: str = "") -> Path:
    """One static host per row; both transports are the same connection with one variable apart."""
    if row == SSH:
        files = work / "files-ssh"
        files.mkdir(exist_ok=True)
        # A ControlPersist master per inventory: the relayed rows must not find the direct rows' master.
        host = {**(ssh_vars or {}), "bench_dir": str(files), "ansible_python_interpreter": "/usr/bin/python3",
                "ansible_control_path_dir": str(work / f"ssh-control{suffix}")}
    else:
        host = {"ansible_connection": "alicloud.ecs.cloud_assistant", "ansible_alicloud_instance_id": instance_id,
                "ansible_alicloud_region": "cn-hangzhou", "ansible_python_interpreter": "/usr/bin/python3",
                "ansible_alicloud_transport": "session" if row == SESSION else "run_command", "bench_dir": "/tmp"}
    path = work / f"{row.replace(': ', '-')}{suffix}.json"
    path.write_text(json.dumps({"all": {"children": {"bench": {"hosts": {"bench-1": host}}}}}))
    return path


def set_latency(emulator: EmulatorProcess, latency_ms: int) -> None:
    """The emulator's latency model, changed between runs (API calls, session frames and delivery alike)."""
    emulator.add_faults(latency_ms=latency_ms)
    assert emulator.fault_plan()["latency_ms"] == latency_ms


def measure_tasks(emulator: EmulatorProcess, env: dict[str, str], work: Path,
                  inventories: dict[tuple[str, int], Path], tasks: int, repeats: int,
                  latencies: t.Sequence[int]) -> dict[int, dict[str, dict[str, dict[str, t.Any]]]]:
    """Rows by latency, module, then row.

    Without latency, each row first runs one round on the instance (first use: on the fresh instance for the
    first row); under latency, "first use" is the first round of the first timed run (a play's first task of
    each module: for the session, the one that opens it). The timed runs go row by row and latency by latency
    inside every repeat, so the machine's drift hits all of them alike.
    """
    main = bench_main()
    template = work / "unused.j2"
    template.write_text("")
    first_use, playbook = work / "session-first.yml", work / "session-tasks.yml"
    main.write_playbook(first_use, MODULES, 1, template)
    main.write_playbook(playbook, MODULES, 1 + tasks, template)
    rows = [row for row in ROWS if (row, 0) in inventories]
    first = {row: main.run_playbook(env, inventories[row, 0], first_use, emulator) for row in rows}
    runs: dict[tuple[str, int], list[list[dict]]] = {key: [] for key in inventories}
    for _repeat in range(repeats):
        for latency in latencies:
            set_latency(emulator, latency)
            for row in rows:
                runs[row, latency].append(main.run_playbook(env, inventories[row, latency], playbook, emulator))
    set_latency(emulator, 0)
    return {latency: {module: {row: main.summarize(first[row] if not latency else runs[row, latency][0],
                                                   runs[row, latency], module) for row in rows}
                      for module in MODULES} for latency in latencies}


def transfer_playbook(path: Path, files: dict[str, list[Path]], fetched: Path, rounds: int) -> None:
    """Per size and round: copy a fresh file up, then fetch it back (the chunk cache cannot have seen it)."""
    tasks: list[dict[str, t.Any]] = [{"name": "open 0", "ansible.builtin.ping": {}}]
    for round_ in range(rounds):
        for label, sources in files.items():
            remote = f"{{{{ bench_dir }}}}/transfer-{label}.bin"
            tasks.append({"name": f"put {label} {round_}", "ansible.builtin.copy": {
                "src": str(sources[round_]), "dest": remote, "mode": "0644"}})
            tasks.append({"name": f"fetch {label} {round_}", "ansible.builtin.fetch": {
                "src": remote, "dest": str(fetched / f"{label}-{round_}.bin"), "flat": True}})
    path.write_text(json.dumps([{"name": "Transfer", "hosts": "bench", "gather_facts": False, "tasks": tasks}]))


def measure_transfers(emulator: EmulatorProcess, env: dict[str, str], work: Path, inventories: dict[str, Path],
                      repeats: int) -> dict[str, dict[str, dict[str, t.Any]]]:
    """Put and fetch rows by size, then row: MB/s (median over all timed transfers) and API calls per transfer.

    Every run's first round is timed too (each transfer moves fresh data, so no round is a warm-up), but a
    run starts with one ping so that the session is open before the first put, as in a play's later tasks.
    """
    main = bench_main()
    rounds = 2
    records: dict[str, list[dict]] = {row: [] for row in inventories}
    for repeat in range(repeats):
        for index, (row, inventory) in enumerate(inventories.items()):
            files = {f"{size >> 20}MB": [work / f"data-{index}-{repeat}-{size >> 20}-{round_}.bin"
                                         for round_ in range(rounds)] for size in TRANSFER_SIZES}
            for size in TRANSFER_SIZES:
                for path in files[f"{size >> 20}MB"]:
                    path.write_bytes(os.urandom(size))
            fetched = work / f"fetched-{index}-{repeat}"
            fetched.mkdir()
            playbook = work / "transfer.yml"
            transfer_playbook(playbook, files, fetched, rounds)
            records[row] += main.run_playbook(env, inventory, playbook, emulator)
            for path in [*(path for sources in files.values() for path in sources), *fetched.iterdir()]:
                path.unlink()
    rows: dict[str, dict[str, dict[str, t.Any]]] = {}
    for size in TRANSFER_SIZES:
        for kind in ("put", "fetch"):
            name = f"{kind} {size >> 20} MB"
            rows[name] = {}
            for row, every in records.items():
                done = [record for record in every if record["module"] == f"{kind} {size >> 20}MB"]
                rates = sorted(size / record["seconds"] / 1e6 for record in done)
                rows[name][row] = {"mb_s": round(statistics.median(rates), 2),
                                   "seconds": round(statistics.median(record["seconds"] for record in done), 2),
                                   "mb_s_range": [round(rates[0], 2), round(rates[-1], 2)],
                                   "calls": statistics.median(record["calls"] for record in done),
                                   "calls_by_action": done[-1]["actions"], "transfers": len(done)}
    return rows


def waits_per_task(base: dict[str, t.Any], slow: dict[str, t.Any], latency_ms: int) -> float:
    """Round trips on the critical path, measured: the seconds latency added to the median task over the latency."""
    return round((slow["median_task_seconds"] - base["median_task_seconds"]) * 1000 / latency_ms, 1)


def print_tasks(title: str, rows: dict[str, dict[str, dict[str, t.Any]]],
                base: dict[str, dict[str, dict[str, t.Any]]] | None, latency_ms: int) -> None:
    print(f"\n{title}")
    print(f"{'module':8} {'row':24} {'s/task':>7} {'range':>12} {'API calls/task':>15} {'waits/task':>11} "
          f"{'first use: s':>13} {'calls':>6}  calls/task by action")
    for module, by_row in rows.items():
        for row, data in by_row.items():
            low, high = data["seconds_per_task_range"]
            waits = waits_per_task(base[module][row], data, latency_ms) if base and row in base[module] else "-"
            ours = row != SSH
            print(f"{module:8} {row:24} {data['seconds_per_task']:>7} {f'{low}-{high}':>12} "
                  f"{data['calls_per_task'] if ours else '-'!s:>15} {waits!s:>11} {data['first_use_seconds']:>13} "
                  f"{data['first_use_calls'] if ours else '-'!s:>6}  "
                  f"{json.dumps(data['calls_per_task_by_action']) if ours else ''}")
        if RUN_COMMAND in by_row and SESSION in by_row:
            session = by_row[SESSION]["seconds_per_task"]
            ratio = session / (by_row[RUN_COMMAND]["seconds_per_task"] or 1e-9)
            versus_ssh = ""
            if SSH in by_row:
                versus_ssh = f", session / ssh {session / (by_row[SSH]['seconds_per_task'] or 1e-9):.2f}"
            print(f"{'':8} ratio session / run_command {ratio:.2f}{versus_ssh}")


def print_transfers(rows: dict[str, dict[str, dict[str, t.Any]]]) -> None:
    print("\nTransfers over each transport (copy of a fresh random file up, fetch of it back), median MB/s (range), "
          "API calls per transfer")
    print(f"{'data':12} {'row':24} {'s':>6} {'MB/s':>18} {'calls':>6}  calls by action (one transfer)")
    for name, by_row in rows.items():
        for row, data in by_row.items():
            rate = f"{data['mb_s']:.2f} ({data['mb_s_range'][0]:.2f}-{data['mb_s_range'][1]:.2f})"
            ours = row != SSH
            print(f"{name:12} {row:24} {data['seconds']:>6} {rate:>18} {data['calls'] if ours else '-'!s:>6}  "
                  f"{json.dumps(data['calls_by_action']) if ours else ''}")


def run_session_bench(tasks: int = 4, repeats: int = 3, latency_ms: int = LATENCY_MS, transfer_repeats: int = 2,
                      rows: t.Sequence[str] = ROWS) -> dict[str, t.Any]:
    """Task rows without and with ``latency_ms`` (interleaved), then transfers without; prints the tables and
    writes the JSON to bench/results."""
    from bench.delay_relay import delayed_ssh  # pylint: disable=import-outside-toplevel
    load_at_start = os.getloadavg()
    latencies = (0, latency_ms) if latency_ms else (0,)
    with tempfile.TemporaryDirectory() as temp, \
            EmulatorProcess(fleet=FLEET, state_dir=Path(temp) / "state") as emulator, \
            loopback_sshd(Path(temp)) as sshd:
        work = Path(temp)
        config = work / "ansible.cfg"
        config.write_text("[defaults]\n")
        env = dict(os.environ, **emulator.env(), ANSIBLE_CONFIG=str(config), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_ALICLOUD_TRANSFER_CACHE=str(work / "cache"),
                   ANSIBLE_COLLECTIONS_PATH=str(REPO_ROOT / ".build" / "collections"))
        instance_id = emulator.instances()[0]["id"]
        if isinstance(sshd, str):
            print(f"no ssh row: {sshd}")
        chosen = [row for row in rows if row != SSH or not isinstance(sshd, str)]
        inventories: dict[tuple[str, int], Path] = {}
        for latency in latencies:
            with delayed_ssh(None if isinstance(sshd, str) else sshd, latency) as ssh_vars:
                inventories.update({(row, latency): write_inventory(work, row, instance_id, ssh_vars, f"-{latency}")
                                    for row in chosen})
            # the relay is started by ssh itself (ProxyCommand): the variables outlive the context
        measured = measure_tasks(emulator, env, work, inventories, tasks, repeats, latencies)
        transfers = (measure_transfers(emulator, env, work, {row: inventories[row, 0] for row in chosen},
                                       transfer_repeats) if transfer_repeats else None)
        profile = emulator.health()
    result = {"benchmark": "session", "tasks": tasks, "repeats": repeats, "latency_ms": latency_ms,
              "load_at_start": load_at_start, "rows": measured[0], "transfers": transfers,
              "latency_rows": measured.get(latency_ms) if latency_ms else None, "emulator": profile,
              "python": sys.version.split()[0], "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    print_tasks(f"Session transport beside run_command and ssh, {tasks} tasks per module in each of {repeats} "
                "interleaved runs, one host, no injected latency", measured[0], None, latency_ms)
    if latency_ms:
        print_tasks(f"The same under {latency_ms} ms injected latency (every API call, session frame to the client and "
                    f"agent delivery; ssh: the sshd's answers through a relay), interleaved with the rows above. "
                    f"waits/task: the extra seconds / {latency_ms} ms; first use: a play's first task",
                    measured[latency_ms], measured[0], latency_ms)
    if transfers:
        print_transfers(transfers)
    out = REPO_ROOT / "bench" / "results" / f"session-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out.relative_to(REPO_ROOT)}")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=4, help="timed tasks per module in each run")
    parser.add_argument("--repeats", type=int, default=3, help="runs per row, interleaved")
    parser.add_argument("--latency-ms", type=int, default=LATENCY_MS,
                        help="injected latency of the latency rows (0: none)")
    parser.add_argument("--transfer-repeats", type=int, default=2, help="runs of the transfer rows (0: none)")
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated, of: {', '.join(ROWS)}")
    args = parser.parse_args()
    rows = [row.strip() for row in args.rows.split(",") if row.strip()]
    unknown = sorted(set(rows) - set(ROWS))
    if unknown or not rows:
        parser.error(f"--rows: choose from {', '.join(ROWS)} (got {args.rows!r})")
    run_session_bench(args.tasks, args.repeats, args.latency_ms, args.transfer_repeats, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
