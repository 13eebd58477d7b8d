"""The benchmark's latency model for ssh: a ProxyCommand relay that holds the server's bytes back.

``python bench/delay_relay.py MS HOST PORT`` connects to HOST:PORT and copies stdin to it at once, and its
answers to stdout each MS milliseconds after they arrived (in order, without holding up the chunks behind:
a delay, not a slower line). That is the emulator's ``--latency-ms`` model, where whatever the server sends
waits first, so one request-and-answer pays one wait on either path.

``delayed_ssh`` gives ansible ssh variables that go through the relay (for as long as the context lasts; the
relay lives as long as the ssh connection, which ansible keeps with ControlPersist).
"""

from __future__ import annotations

import contextlib
import os
import queue
import shlex
import socket
import sys
import threading
import time
import typing as t
from pathlib import Path


def pump_now(source: t.BinaryIO, sink: socket.socket) -> None:
    """stdin to the server, unchanged; the server sees end of input when stdin ends."""
    while True:
        data = os.read(source.fileno(), 65536)
        if not data:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)
            return
        sink.sendall(data)


def pump_delayed(source: socket.socket, sink: t.BinaryIO, delay: float) -> None:
    """The server's answers to stdout, each chunk ``delay`` seconds after it arrived."""
    held: queue.Queue[tuple[float, bytes]] = queue.Queue()

    def release() -> None:
        while True:
            due, data = held.get()
            time.sleep(max(0.0, due - time.monotonic()))
            if not data:
                os._exit(0)  # the server closed: so does the relay (ssh then sees the end)
            os.write(sink.fileno(), data)

    threading.Thread(target=release, daemon=True).start()
    while True:
        data = source.recv(65536)
        held.put((time.monotonic() + delay, data))
        if not data:
            return


def relay(delay_ms: int, host: str, port: int) -> None:
    server = socket.create_connection((host, port), timeout=30)
    server.settimeout(None)
    threading.Thread(target=pump_now, args=(sys.stdin.buffer, server), daemon=True).start()
    pump_delayed(server, sys.stdout.buffer, delay_ms / 1000)
    threading.Event().wait()  # release() ends the process once the last chunk is out


@contextlib.contextmanager
def delayed_ssh(ssh_vars: dict[str, t.Any] | None, latency_ms: int) -> t.Iterator[dict[str, t.Any] | None]:
    """``ssh_vars`` (from bench.ssh.loopback_sshd) routed through the relay when ``latency_ms`` is set."""
    if not ssh_vars or not latency_ms:
        yield ssh_vars
        return
    proxy = shlex.join([sys.executable, str(Path(__file__).resolve()), str(latency_ms), str(ssh_vars["ansible_host"]),
                        str(ssh_vars["ansible_port"])])
    common = f"{ssh_vars.get('ansible_ssh_common_args', '')} -o {shlex.quote('ProxyCommand=' + proxy)}"
    yield dict(ssh_vars, ansible_ssh_common_args=common.strip())


if __name__ == "__main__":
    relay(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]))
