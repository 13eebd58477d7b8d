"""Instances as machines in miniature: a namespace + overlay root per instance, or (fallback) the bare host.

Namespace mode: on first use an instance gets a long-lived init created by ``unshare`` (mount, UTS and PID
namespaces) that mounts an overlay of the host root (upper dir in the state dir), its own /proc, /dev and
hostname, chroots and runs ``instance_init`` as PID 1. Every command then enters it with ``nsenter``, and the
init itself saves scripts and writes SendFile files, so ``/etc/x`` written on one instance exists on no other
instance and not on the host. Host mode runs everything
directly on the host (NOT isolated) — used only when namespaces are unavailable.
"""
from __future__ import annotations

import itertools
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from . import instance_init
from .procs import kill_tree, start_time
from .runs import wrap

LOG = logging.getLogger("emulator.isolation")
BASE_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
            "HOME": "/root"}
SCRIPT_DIR = "/usr/local/share/aliyun-assist/work/script"
SCRIPT_WRITERS = 4  # host mode's script-writing helpers (Sandbox.prepare)
USER_SCRIPT_DIR = "/tmp"  # where the agent saves a script run with a Username (host/processor.go Prepare)

# Init: mount the instance's root, name it (hostname, and a hosts entry so sudo & co. resolve it, as cloud images
# have), print the host pid, become a reaper as PID 1 of the instance.
INIT = r"""
set -e
read -r hostpid _ < /proc/self/stat
m=$1
mount -t overlay overlay -o "lowerdir=/,upperdir=$2,workdir=$3" "$m"
mount -t proc proc "$m/proc"
mount --rbind /dev "$m/dev"
mount -t sysfs sysfs "$m/sys" 2>/dev/null || true
[ -d "$m$5" ] && mount -t tmpfs -o size=1m,mode=0700 tmpfs "$m$5"
hostname "$4"
grep -qs "[[:space:]]$4\([[:space:]]\|\$\)" "$m/etc/hosts" || printf '127.0.1.1\t%s\n' "$4" >> "$m/etc/hosts"
echo "$hostpid"
exec chroot "$m" /usr/bin/python3 -c "$6"
"""
# The init's program: reaps orphans and does the agent's file work inside the instance.
INIT_PROGRAM = (Path(__file__).resolve().parent / "instance_init.py").read_text(encoding="utf-8")


class Sandbox:
    """Host mode (no isolation): commands run on the host, default working dir is a per-instance directory."""

    mode = "none"

    def __init__(self, state_dir: Path) -> None:
        self.root = state_dir / "instances"
        self.root.mkdir(parents=True, exist_ok=True)
        self.as_root = os.geteuid() == 0
        # Host mode's scripts are written by helper processes that never fork: written here, a script would be
        # open while other threads fork commands, the children would hold it until their exec, and the
        # script's own exec would fail with "Text file busy" now and then. Several, so that hundreds of
        # commands starting together do not queue behind one.
        self._writers: list[subprocess.Popen[bytes] | None] = [None] * SCRIPT_WRITERS
        self._writer_locks = [threading.Lock() for _writer in range(SCRIPT_WRITERS)]
        self._next_writer = itertools.count()

    def home(self, instance: dict[str, Any]) -> str:
        """The instance's private directory on the host (host mode's stand-in for /root)."""
        path = self.root / instance["id"] / "home"
        path.mkdir(parents=True, exist_ok=True)
        return str(path)

    def default_workdir(self, instance: dict[str, Any]) -> str:
        """WorkingDir of root's runs when the request gives none (real agent: root's home, /root)."""
        return self.home(instance)

    def script_path(self, instance: dict[str, Any], invoke_id: str, user: str = "root") -> str:
        """Where the agent saves the script (a per-instance dir on the host in host mode; /tmp for a Username)."""
        if user != "root":
            return f"{USER_SCRIPT_DIR}/{invoke_id}.sh"
        return str(self.root / instance["id"] / "script" / f"{invoke_id}.sh")

    def prefix(self, instance: dict[str, Any], workdir: str = "/") -> list[str]:
        """Argv prefix that places a process 'inside' the instance (nothing on the host)."""
        return []

    def _cwd(self, workdir: str) -> str | None:
        """Host mode chdirs via Popen; namespace mode via nsenter."""
        return workdir

    def prepare(self, instance: dict[str, Any], user: str, workdir: str, script: str,
                content: bytes) -> tuple[str, dict[str, Any]]:
        """Check user/dir and save the script: ('OK', where the run goes) or (an error code of docs/api-contract.md#per-instance-error-codes, {})."""
        if not workdir and user == "root":
            workdir = self.default_workdir(instance)
        request = {"op": "save_script", "user": user, "workdir": workdir, "path": script, "size": len(content)}
        index = next(self._next_writer) % SCRIPT_WRITERS
        with self._writer_locks[index]:
            try:
                writer = self._script_writer(index)
                writer.stdin.write(json.dumps(request).encode() + b"\n" + content)  # type: ignore[union-attr]
                writer.stdin.flush()  # type: ignore[union-attr]
                answer = writer.stdout.readline()  # type: ignore[union-attr]
            except OSError:  # the helper died: the next script there starts a new one
                self._writers[index] = None
                return "ExecutionException", {}
        return parse_prepared(answer.decode(errors="replace").strip() or "ExecutionException")

    def _script_writer(self, index: int) -> subprocess.Popen[bytes]:
        """Helper ``index`` writing host mode's scripts (instance_init's request loop), started on first use."""
        writer = self._writers[index]
        if writer is None or writer.poll() is not None:
            writer = subprocess.Popen([sys.executable, "-c", INIT_PROGRAM, "once"], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=BASE_ENV,
                                      start_new_session=True)
            self._writers[index] = writer
        return writer

    def spawn(self, instance: dict[str, Any], user: str, place: dict[str, Any], script: str,
              run_dir: Path) -> subprocess.Popen[bytes]:
        """Start the saved script as the agent does, ``sh -c <script>`` (so its shebang picks the interpreter), as
        ``user`` in its own session, detached from the emulator: one combined stdout+stderr stream and the exit
        code go to files in ``run_dir`` (runs.py).

        The agent keeps its own environment and sets only HOME to the user's home (agent/util/process/
        process_unix.go ``prepareProcess``); it switches uid, gid and groups itself, so no USER, LOGNAME or SHELL
        is added: ``setpriv`` does the same (``runuser`` would add them)."""
        workdir = place["workdir"]
        argv = [*self.prefix(instance, workdir), "sh", "-c", script]
        if self.as_root and user != "root":
            argv = [*self.prefix(instance, workdir), "setpriv", f"--reuid={place['uid']}",
                    f"--regid={place['gid']}", "--init-groups", "--", "sh", "-c", script]
        return subprocess.Popen(wrap(run_dir, argv), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, cwd=self._cwd(workdir),
                                env={**BASE_ENV, "HOME": place["home"]}, start_new_session=True)

    def write_file(self, instance: dict[str, Any], target_dir: str, name: str, content: bytes, mode: str,
                   owner: str, group: str, overwrite: bool) -> str:
        """SendFile inside the instance; returns 'OK' or an error code of docs/api-contract.md#sendfile."""
        return instance_init.write_file(target_dir, name, content, mode, owner, group, overwrite, self.as_root)

    def exec(self, instance: dict[str, Any], command: str, timeout: float = 60) -> dict[str, Any]:
        """Run a shell command inside the instance for tests (control API), stdout/stderr kept apart."""
        argv = [*self.prefix(instance, "/"), "/bin/sh", "-c", command]
        done = subprocess.run(argv, capture_output=True, env=BASE_ENV, timeout=timeout, check=False,
                              cwd=self._cwd(self.home(instance) if self.mode == "none" else "/"))
        return {"stdout": done.stdout.decode(errors="replace"), "stderr": done.stderr.decode(errors="replace"),
                "exit_code": done.returncode}

    def describe(self, instance_id: str) -> dict[str, Any]:
        """Isolation facts for GET /_emulator/instances."""
        return {"mode": self.mode, "root": str(self.root / instance_id / "home"), "initialised": True}

    def stop_instance(self, instance_id: str) -> None:
        """Nothing to stop in host mode."""

    def adopt(self, instance_id: str, pid: int | None, started: str | None) -> bool:
        """Host mode has no init to find again after a restart."""
        return False

    def shutdown(self) -> None:
        """Host mode: end the script writers (the next script starts a new one)."""
        for index, lock in enumerate(self._writer_locks):
            with lock:
                writer, self._writers[index] = self._writers[index], None
                if writer is not None:
                    writer.kill()
                    writer.wait()


class NamespaceSandbox(Sandbox):
    """Namespace mode: per-instance overlay root, hostname and PID namespace behind a lazily created init."""

    mode = "namespace"

    def __init__(self, state_dir: Path, on_init: Any = None) -> None:
        super().__init__(state_dir)
        self.state_dir = state_dir.resolve()
        self._inits: dict[str, subprocess.Popen[bytes]] = {}
        self._pids: dict[str, int] = {}
        self._starts: dict[str, str | None] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._file_locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._on_init = on_init  # callback(instance_id, pid|None, start) to persist init pids

    def script_path(self, instance: dict[str, Any], invoke_id: str, user: str = "root") -> str:
        """Same place the real Linux agent uses: its script directory, or /tmp when a Username is given."""
        return f"{USER_SCRIPT_DIR if user != 'root' else SCRIPT_DIR}/{invoke_id}.sh"

    def _cwd(self, workdir: str) -> str | None:
        """nsenter --wdns sets the directory inside the instance; Popen must not chdir on the host."""
        return None

    def prefix(self, instance: dict[str, Any], workdir: str = "/") -> list[str]:
        """Enter the instance's mount/UTS/PID namespaces and root, starting in ``workdir``."""
        pid = self.ensure(instance)
        return ["nsenter", f"--target={pid}", "--mount", "--uts", "--pid", "--root", f"--wdns={workdir}"]

    def ensure(self, instance: dict[str, Any]) -> int:
        """Return the init pid of the instance, creating the init on first use (never at seed time)."""
        iid = instance["id"]
        with self._guard:
            lock = self._locks.setdefault(iid, threading.Lock())
        with lock:
            pid = self._pids.get(iid)
            if pid and self._is_instance_init(iid, pid):
                return pid
            return self._start(instance)

    def _is_instance_init(self, instance_id: str, pid: int) -> bool:
        """Whether ``pid`` is still this instance's init, chrooted into the instance.

        Entering anything else would run on the host: a pid reused after the init died, or an init
        that has not chrooted yet (its root is still the host's /). Both are checked, every time.
        """
        if start_time(pid) != self._starts.get(instance_id):
            return False
        try:
            root = os.stat(f"/proc/{pid}/root")
        except OSError:
            return False
        host = os.stat("/")
        return (root.st_dev, root.st_ino) != (host.st_dev, host.st_ino)

    def _start(self, instance: dict[str, Any]) -> int:
        """Create the init; it prints its host pid once the overlay root is mounted."""
        base = self.root / instance["id"]
        for sub in ("upper", "work", "merged"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        argv = ["unshare", "--mount", "--uts", "--pid", "--fork", "--propagation", "private", "--",
                "/bin/sh", "-c", INIT, "init", str(base / "merged"), str(base / "upper"), str(base / "work"),
                instance["hostname"], str(self.state_dir), INIT_PROGRAM]
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
        assert proc.stdout is not None
        line = proc.stdout.readline().decode().strip()
        # The pid is printed before the chroot; only the reaper's "ready", printed from inside the
        # instance's root, says that nsenter --root will land in the instance and not on the host.
        ready = proc.stdout.readline().decode().strip() if line.isdigit() else ""
        if not line.isdigit() or ready != "ready":
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            proc.kill()
            raise RuntimeError(f"cannot start instance {instance['id']}: {err.strip() or 'init failed'}")
        pid = int(line)
        self._inits[instance["id"]], self._pids[instance["id"]] = proc, pid
        self._starts[instance["id"]] = start_time(pid)
        if not self._is_instance_init(instance["id"], pid):
            self.stop_instance(instance["id"])
            raise RuntimeError(f"cannot start instance {instance['id']}: its init is not inside the instance root")
        if self._on_init:
            self._on_init(instance["id"], pid, start_time(pid))
        LOG.info("instance %s: init pid %d", instance["id"], pid)
        return pid

    def prepare(self, instance: dict[str, Any], user: str, workdir: str, script: str,
                content: bytes) -> tuple[str, dict[str, Any]]:
        """Check user/dir and save the script, inside the instance (its init does it)."""
        request = {"op": "save_script", "user": user, "workdir": workdir, "path": script}
        return parse_prepared(self._ask_init(instance, request, content, failure="ExecutionException"))

    def write_file(self, instance: dict[str, Any], target_dir: str, name: str, content: bytes, mode: str,
                   owner: str, group: str, overwrite: bool) -> str:
        """SendFile inside the instance (its init does it); returns 'OK' or an error code of docs/api-contract.md#sendfile."""
        request = {"op": "write_file", "directory": target_dir, "name": name, "mode": mode, "owner": owner,
                   "group": group, "overwrite": overwrite, "set_owner": True}
        return self._ask_init(instance, request, content, failure="FileCreateFail")

    def _ask_init(self, instance: dict[str, Any], request: dict[str, Any], content: bytes, failure: str) -> str:
        """One request to the instance's init, over its stdin and stdout (one at a time per instance)."""
        self.ensure(instance)
        with self._guard:
            lock = self._file_locks.setdefault(instance["id"], threading.Lock())
        with lock:
            proc = self._inits.get(instance["id"])
            if proc is None and instance["id"] in self._pids:
                return self._ask_adopted(instance, request, content, failure)
            if proc is None or proc.stdin is None or proc.stdout is None:
                return failure
            try:
                proc.stdin.write(json.dumps(dict(request, size=len(content))).encode() + b"\n" + content)
                proc.stdin.flush()
                return proc.stdout.readline().decode(errors="replace").strip() or failure
            except OSError:  # the init died (instance stopped meanwhile)
                return failure

    def _ask_adopted(self, instance: dict[str, Any], request: dict[str, Any], content: bytes, failure: str) -> str:
        """One request to a one-shot copy of the init program inside an adopted instance (no pipes to its init)."""
        argv = [*self.prefix(instance, "/"), "/usr/bin/python3", "-c", INIT_PROGRAM, "once"]
        try:
            done = subprocess.run(argv, input=json.dumps(dict(request, size=len(content))).encode() + b"\n" + content,
                                  capture_output=True, env=BASE_ENV, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return failure
        return done.stdout.decode(errors="replace").strip() or failure

    def describe(self, instance_id: str) -> dict[str, Any]:
        """Isolation facts: upper dir (the instance's changes) and whether the init is alive."""
        pid = self._pids.get(instance_id)
        return {"mode": self.mode, "root": str(self.root / instance_id / "upper"),
                "initialised": bool(pid and os.path.exists(f"/proc/{pid}")), "init_pid": pid}

    def stop_instance(self, instance_id: str) -> None:
        """Instance stopped: kill its init (everything in its PID namespace dies); the upper dir persists."""
        proc = self._inits.pop(instance_id, None)
        pid = self._pids.pop(instance_id, None)
        started = self._starts.pop(instance_id, None)
        if pid and start_time(pid) == started:
            kill_tree(pid)
        if proc:  # let unshare reap the init first (killing it now would leave a zombie behind)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._on_init:
            self._on_init(instance_id, None, None)

    def adopt(self, instance_id: str, pid: int | None, started: str | None) -> bool:
        """Take over the init an earlier emulator process left running (verified by its start time, not just the
        pid): the instance kept running, and so did its commands. Its pipes died with that process, so its file
        work is done by a one-shot copy of the init program entered into the instance (``_ask_adopted``)."""
        if not (pid and started and start_time(pid) == started):
            return False
        self._pids[instance_id], self._starts[instance_id] = pid, started
        if not self._is_instance_init(instance_id, pid):
            self._pids.pop(instance_id)
            self._starts.pop(instance_id)
            LOG.warning("killing stale init %d of %s", pid, instance_id)
            kill_tree(pid)  # its unshare parent exits on its own once the init is gone
            return False
        LOG.info("instance %s: adopted init pid %d", instance_id, pid)
        return True

    def shutdown(self) -> None:
        """Emulator exit / reset: kill every init."""
        for iid in list(self._pids):
            self.stop_instance(iid)


def parse_prepared(answer: str) -> tuple[str, dict[str, Any]]:
    """``OK {json}`` from save_script → ('OK', the run's place); an error code → (code, {})."""
    verdict, _sep, place = answer.partition(" ")
    if verdict != "OK":
        return verdict, {}
    try:
        return "OK", json.loads(place)
    except ValueError:
        return "ExecutionException", {}


def choose(mode: str, state_dir: Path, on_init: Any = None) -> Sandbox:
    """Pick the isolation mode: auto = namespace when root and unshare/nsenter exist, else host with a warning."""
    if mode not in ("auto", "namespace", "none"):
        raise ValueError(f"isolation must be auto|namespace|none, not {mode}")
    capable = os.geteuid() == 0 and all(shutil.which(t) for t in ("unshare", "nsenter", "chroot"))
    if mode == "namespace" or (mode == "auto" and capable):
        if not capable:
            raise RuntimeError("isolation=namespace needs root and unshare/nsenter/chroot")
        return NamespaceSandbox(state_dir, on_init)
    LOG.warning("ISOLATION DISABLED: commands and files of every instance run directly on this host "
                "(isolation=none). Run as root for per-instance namespaces.")
    return Sandbox(state_dir)
