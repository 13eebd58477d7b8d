"""CLI: ``python -m emulator serve …`` (a server until SIGTERM), ``python -m emulator run … -- CMD`` (one-shot) and
``python -m emulator twin -i INVENTORY -o FLEET`` (a fleet file of what an inventory file lists, emulator/twin.py)."""
from __future__ import annotations

import argparse
import ctypes
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import fields
from importlib import resources
from pathlib import Path
from types import FrameType

from . import control, fleet as fleet_mod, twin
from .app import Emulator
from .config import Options
from .procs import children_map
from .server import EmulatorServer

LOG = logging.getLogger("emulator")
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
CHILD_GRACE_SECONDS = 10.0  # how long the command has to end after the signal was passed on, before SIGKILL
SWEEP_SECONDS = 5.0  # how long the last sweep keeps killing what the command left behind
PR_SET_CHILD_SUBREAPER = 36


def default_fleet() -> str:
    """The shipped demo fleet (package data)."""
    return str(resources.files("emulator") / "fleets" / "demo.yml")


def add_common(parser: argparse.ArgumentParser) -> None:
    """Flags shared by serve and run; one flag per Options field."""
    parser.add_argument("--fleet", default=default_fleet(), help="fleet YAML (default: the demo fleet)")
    parser.add_argument("--state-dir", default=None, help="state directory (run: default a fresh temp dir)")
    parser.add_argument("--host", default="127.0.0.1", choices=["127.0.0.1"], help="bind address (loopback only)")
    parser.add_argument("--port", type=int, default=0, help="0 = any free port")
    parser.add_argument("--port-file", default=None, help="write the bound port here once listening")
    parser.add_argument("--token-file", default=None,
                        help=f"write the control API's token here (0600; default <state-dir>/{control.TOKEN_FILE})")
    parser.add_argument("--log-level", default="WARNING")
    for f in fields(Options):
        flag = "--" + f.name.replace("_", "-")
        if f.type == "bool":
            parser.add_argument(flag, type=lambda v: v.lower() in ("1", "true", "yes"), default=f.default)
        else:
            kind = {"int": int, "float": float}.get(str(f.type), str)
            parser.add_argument(flag, type=kind, default=f.default)


def build(args: argparse.Namespace, state_dir: str) -> EmulatorServer:
    """Create and start the emulator and its HTTP server (not yet serving)."""
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    options = Options(**{f.name: getattr(args, f.name) for f in fields(Options)})
    emulator = Emulator(fleet_mod.load(args.fleet), Path(state_dir), options)
    emulator.start()
    server = EmulatorServer(emulator, args.host, args.port)
    # The token first: whoever waits for the port file finds the token already there.
    control.write_token(Path(args.token_file or Path(state_dir) / control.TOKEN_FILE), server.control_token)
    if args.port_file:
        Path(args.port_file).write_text(str(server.server_address[1]))
    return server


def serve(args: argparse.Namespace) -> int:
    """Serve until SIGTERM/SIGINT/SIGHUP, then kill every instance init."""
    state_dir = args.state_dir or tempfile.mkdtemp(prefix="alicloud-ecs-emulator-")
    server = build(args, state_dir)

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    for signum in STOP_SIGNALS:
        signal.signal(signum, stop)
    print(f"alicloud.ecs emulator listening on {server.endpoint}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        server.emulator.shutdown()
    return 0


class Stop:
    """Signal handler of ``run``: remembers the first stop signal; the wait loop passes it on to the command.
    Nothing happens inside the handler itself, so a signal at any moment (before the command exists, during
    the teardown) never skips the teardown.

    Ctrl-C at the terminal is the exception once the command runs: the terminal sends SIGINT to its whole
    foreground process group, the command included, so the command decides (``run -- bash`` keeps its shell,
    ``run -- ansible-playbook`` stops, and ``run`` then tears down as after any end of its command)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.command_runs = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None and not (self.command_runs and typed_at_terminal(signum)):
            self.signum = signum


def typed_at_terminal(signum: int) -> bool:
    """A SIGINT while ``run`` is in the foreground of its terminal: the command, in the same group, got it too."""
    if signum != signal.SIGINT:
        return False
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, ValueError):
        return False


class Stopped(Exception):
    """``run`` ended because of a signal, after tearing everything down; the entry point dies of the same signal,
    so a shell or a supervisor sees what stopped it (143 for SIGTERM, 130 for SIGINT)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def become_subreaper() -> None:
    """Processes the command leaves behind when it dies are re-parented to us, not to init, so the last sweep
    finds them (Linux; elsewhere the sweep sees only what is still below the command)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        LOG.debug("no child subreaper: orphans of the command go to init")


def run_command(argv: list[str], env: dict[str, str], stop: Stop) -> int:
    """Run the command until it exits; a stop signal is passed on to it, then SIGKILL after the grace time.
    Returns its exit status as a shell shows it (128 + N when signal N ended it)."""
    child = subprocess.Popen(argv, env=env)
    stop.command_runs = True
    passed_at: float | None = None
    while True:
        try:
            code = child.wait(timeout=0.1)
            return 128 - code if code < 0 else code
        except subprocess.TimeoutExpired:
            pass
        if stop.signum is not None and passed_at is None:
            child.send_signal(stop.signum)
            passed_at = time.monotonic()
        elif passed_at is not None and time.monotonic() - passed_at > CHILD_GRACE_SECONDS:
            child.kill()


def descendants() -> list[int]:
    """Every live process below this one (the command's leftovers, instance inits and their processes)."""
    tree, found, todo = children_map(), [], [os.getpid()]
    while todo:
        for pid in tree.get(todo.pop(), []):
            found.append(pid)
            todo.append(pid)
    return found


def sweep() -> None:
    """SIGKILL whatever is still below this process and reap it, until nothing is (or SWEEP_SECONDS pass)."""
    deadline = time.monotonic() + SWEEP_SECONDS
    while True:
        left = descendants()
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        while True:  # reap: the command is gone, every child left is an orphan or an instance's helper
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break
        if not left or time.monotonic() > deadline:
            if left:
                LOG.warning("processes left after the emulator stopped: %s", left)
            return
        time.sleep(0.05)


def run(args: argparse.Namespace) -> int:
    """Start a server on a free port, run CMD with the SDK environment (and the control API's token) pointing at
    it, return CMD's exit code. SIGTERM, SIGINT or SIGHUP stops CMD, the server and every instance process, then
    raises Stopped."""
    if not args.cmd:
        print("run: missing command after --", file=sys.stderr)
        return 2
    stop = Stop()
    previous = {signum: signal.signal(signum, stop) for signum in STOP_SIGNALS}
    become_subreaper()
    server: EmulatorServer | None = None
    try:
        state_dir = args.state_dir or tempfile.mkdtemp(prefix="alicloud-ecs-emulator-")
        server = build(args, state_dir)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        emu = server.emulator
        key_id, secret = next(iter(emu.fleet.access_keys.items()))
        env = {**os.environ, "ALIBABA_CLOUD_ACCESS_KEY_ID": key_id, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": secret,
               "ALIBABA_CLOUD_REGION_ID": emu.fleet.regions[0]["id"], "ALIBABA_CLOUD_ECS_ENDPOINT": server.endpoint,
               control.ENV_TOKEN: server.control_token}
        if key_id in emu.fleet.sts_tokens:
            env["ALIBABA_CLOUD_SECURITY_TOKEN"] = emu.fleet.sts_tokens[key_id][0]
        code = 128 + stop.signum if stop.signum is not None else run_command(args.cmd, env, stop)
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
            server.emulator.shutdown()
        sweep()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if stop.signum is not None:
        raise Stopped(stop.signum)
    return code


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="python -m emulator", description="alicloud.ecs API emulator")
    sub = parser.add_subparsers(dest="command", required=True)
    add_common(sub.add_parser("serve", help="run the emulator until SIGTERM/SIGINT"))
    run_parser = sub.add_parser("run", help="run CMD against a fresh emulator and exit with its code")
    add_common(run_parser)
    run_parser.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD ARGS...")
    twin.add_arguments(sub.add_parser("twin", help="write a fleet file of the instances an inventory file lists"))
    args = parser.parse_args(argv)
    if args.command == "twin":
        return twin.main(args)
    if args.command == "run":
        args.cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
        return run(args)
    return serve(args)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Stopped as stopped:
        signal.signal(stopped.signum, signal.SIG_DFL)
        os.kill(os.getpid(), stopped.signum)
        sys.exit(128 + stopped.signum)
