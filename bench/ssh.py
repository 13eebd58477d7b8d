"""A throw-away sshd on 127.0.0.1 so the benchmark can put SSH (with pipelining) beside Cloud Assistant.

It runs from a temporary directory with its own host key, authorized key and config, and stops with
the context. Where it cannot start (no openssh-server, not root), the benchmark says so and skips the row.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
import typing as t
from pathlib import Path

SSHD = "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def loopback_sshd(work: Path) -> t.Iterator[dict[str, t.Any] | str]:
    """Yields ssh host vars for ansible, or a sentence saying why there is no sshd."""
    if not os.path.exists(SSHD) or not shutil.which("ssh-keygen"):
        yield "openssh-server is not installed (make bench installs it when run as root)"
        return
    if os.geteuid() != 0:
        yield "sshd needs root here"
        return
    home = work / "sshd"
    home.mkdir(mode=0o700)
    for key in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(home / key)], check=True)
    (home / "authorized_keys").write_text((home / "client_key.pub").read_text())
    (home / "authorized_keys").chmod(0o600)
    port = free_port()
    (home / "sshd_config").write_text(
        f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {home / 'host_key'}\nPidFile {home / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {home / 'authorized_keys'}\nPermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\nUsePAM no\nStrictModes no\nSubsystem sftp internal-sftp\n")
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation directory
    server = subprocess.Popen([SSHD, "-D", "-e", "-f", str(home / "sshd_config")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _attempt in range(50):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            if server.poll() is not None:
                yield f"sshd did not start: {server.stderr.read().decode(errors='replace').strip()}"
                return
            time.sleep(0.1)
        yield {
            "ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": port, "ansible_user": "root",
            "ansible_ssh_private_key_file": str(home / "client_key"), "ansible_ssh_pipelining": True,
            "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
        }
    finally:
        server.terminate()
        server.wait(timeout=10)
