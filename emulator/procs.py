"""Process helpers for timeouts and StopInvocation: TerminationMode ``ProcessTree`` kills everything a script
started, ``Process`` only the script's own shell (docs/api-contract.md#runcommand)."""
from __future__ import annotations

import os
import signal
from pathlib import Path


def start_time(pid: int) -> str | None:
    """Kernel start time of a pid (field 22 of /proc/pid/stat): tells a live init from a recycled pid."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def children_map() -> dict[int, list[int]]:
    """ppid → [pid] for the whole host (no /proc/*/children on every kernel)."""
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def kill_tree(pid: int) -> None:
    """SIGKILL a process and all its descendants (and its process group), ignoring ones already gone."""
    tree = children_map()
    todo, victims = [pid], []
    while todo:
        current = todo.pop()
        victims.append(current)
        todo.extend(tree.get(current, []))
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    for victim in victims:
        try:
            os.kill(victim, signal.SIGKILL)
        except OSError:
            pass


def cmdline(pid: int) -> list[str]:
    """argv of a live process ([] once it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return []


def kill_process(pid: int, script: str) -> None:
    """SIGKILL the process running ``script`` below ``pid`` and the wrappers between (nsenter, setpriv), but not
    what it started: those children live on, as with the real agent's TerminationMode=Process.

    The agent kills its direct child, ``sh -c <script>``. Where sh is bash (Alibaba Cloud Linux) that child has
    become the script's interpreter by exec; dash forks it instead, so the chain of processes naming the script
    is followed down to its end: the interpreter dies, never a process the script started."""
    tree = children_map()
    victims, current = [pid], pid
    while True:
        runner = next((child for child in tree.get(current, []) if script in cmdline(child)[1:]), None)
        if runner is None:
            break
        victims.append(runner)
        current = runner
    for victim in victims:
        try:
            os.kill(victim, signal.SIGKILL)
        except OSError:
            pass
