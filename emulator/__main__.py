"""CLI: ``python -m emulator serve …`` (a server until SIGTERM) and ``python -m emulator run … -- CMD`` (one-shot)."""
from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import fields
from importlib import resources
from pathlib import Path
from types import FrameType

from . import fleet as fleet_mod
from .app import Emulator
from .config import Options
from .server import EmulatorServer


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
    if args.port_file:
        Path(args.port_file).write_text(str(server.server_address[1]))
    return server


def serve(args: argparse.Namespace) -> int:
    """Serve until SIGTERM/SIGINT, then kill every instance init."""
    state_dir = args.state_dir or tempfile.mkdtemp(prefix="alicloud-ecs-emulator-")
    server = build(args, state_dir)

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"alicloud.ecs emulator listening on {server.endpoint}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        server.emulator.shutdown()
    return 0


def run(args: argparse.Namespace) -> int:
    """Start a server on a free port, run CMD with the SDK environment pointing at it, return CMD's exit code."""
    if not args.cmd:
        print("run: missing command after --", file=sys.stderr)
        return 2
    state_dir = args.state_dir or tempfile.mkdtemp(prefix="alicloud-ecs-emulator-")
    server = build(args, state_dir)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    emu = server.emulator
    key_id, secret = next(iter(emu.fleet.access_keys.items()))
    env = {**os.environ, "ALIBABA_CLOUD_ACCESS_KEY_ID": key_id, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": secret,
           "ALIBABA_CLOUD_REGION_ID": emu.fleet.regions[0]["id"], "ALIBABA_CLOUD_ECS_ENDPOINT": server.endpoint}
    if key_id in emu.fleet.sts_tokens:
        env["ALIBABA_CLOUD_SECURITY_TOKEN"] = emu.fleet.sts_tokens[key_id][0]
    try:
        return subprocess.call(args.cmd, env=env)
    finally:
        server.shutdown()
        server.server_close()
        emu.shutdown()


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="python -m emulator", description="alicloud.ecs API emulator")
    sub = parser.add_subparsers(dest="command", required=True)
    add_common(sub.add_parser("serve", help="run the emulator until SIGTERM/SIGINT"))
    run_parser = sub.add_parser("run", help="run CMD against a fresh emulator and exit with its code")
    add_common(run_parser)
    run_parser.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD ARGS...")
    args = parser.parse_args(argv)
    if args.command == "run":
        args.cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
        return run(args)
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
