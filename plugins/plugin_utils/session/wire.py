# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Messages between an ansible worker and the session holder over the holder's Unix socket.

Each message is a JSON header (what to do, or what happened) and a binary body (stdin going out; stdout then
stderr coming back), each preceded by its length, so binary data never passes through JSON. Every read has a
deadline: a holder that stops answering ends the wait with WireTimeout, one that is gone with WireClosed.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import struct
import time
import typing as t

LENGTHS = struct.Struct(">II")
MAX_HEADER = 1024 * 1024
MAX_BODY = 1024 * 1024 * 1024
# A Unix socket's path must fit in sun_path (108 bytes on Linux); a longer one is reached through the
# descriptor of its directory (/proc/self/fd/N/name), which the kernel resolves as the same path.
MAX_SOCKET_PATH = 100


class WireClosed(Exception):
    """The other end is gone (closed, reset, never there)."""


class WireTimeout(Exception):
    """The other end did not answer within the deadline."""


def send(sock: socket.socket, header: t.Mapping[str, t.Any], body: bytes = b"") -> None:
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    try:
        sock.sendall(LENGTHS.pack(len(encoded), len(body)) + encoded + body)
    except socket.timeout:
        raise WireTimeout("the session holder did not take the request in time") from None
    except OSError as error:
        raise WireClosed(f"the session holder is gone ({error.strerror or error})") from None


def receive(sock: socket.socket, deadline: float | None) -> tuple[dict[str, t.Any], bytes]:
    """One message; ``deadline`` (time.monotonic) None waits as long as the socket's own timeout allows."""
    header_length, body_length = LENGTHS.unpack(_exactly(sock, LENGTHS.size, deadline))
    if header_length > MAX_HEADER or body_length > MAX_BODY:
        raise WireClosed("the session holder sent a message this end does not accept")
    header = json.loads(_exactly(sock, header_length, deadline).decode("utf-8"))
    return header, _exactly(sock, body_length, deadline)


def _exactly(sock: socket.socket, count: int, deadline: float | None) -> bytes:
    parts = []
    left = count
    while left:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WireTimeout("the session holder did not answer in time")
            sock.settimeout(remaining)
        try:
            chunk = sock.recv(min(left, 1024 * 1024))
        except socket.timeout:
            continue
        except OSError as error:
            raise WireClosed(f"the session holder is gone ({error.strerror or error})") from None
        if not chunk:
            raise WireClosed("the session holder closed the connection")
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def socket_address(path: str) -> tuple[str, int | None]:
    """(address to bind or connect, directory descriptor to close afterwards or None) for ``path``."""
    if len(path.encode()) <= MAX_SOCKET_PATH:
        return path, None
    directory = os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    return f"/proc/self/fd/{directory}/{os.path.basename(path)}", directory


def connect(path: str, timeout: float) -> socket.socket:
    """A connection to the holder listening at ``path``; WireClosed when none listens there, or when what is
    there is not a socket of this user's."""
    try:
        info = os.lstat(path)
    except OSError as error:
        raise WireClosed(f"no session holder at {path} ({error.strerror})") from None
    if not stat.S_ISSOCK(info.st_mode) or info.st_uid != os.getuid():
        raise WireClosed(f"{path} is not a socket of this user's; it is not used")
    address, directory = socket_address(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(address)
    except OSError as error:
        sock.close()
        raise WireClosed(f"no session holder at {path} ({error.strerror or error})") from None
    finally:
        if directory is not None:
            os.close(directory)
    return sock


def listen(path: str) -> socket.socket:
    """A socket listening at ``path`` (made 0600; a stale one left by a dead holder is replaced)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    address, directory = socket_address(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_mask = os.umask(0o177)
    try:
        sock.bind(address)
    finally:
        os.umask(old_mask)
        if directory is not None:
            os.close(directory)
    os.chmod(path, 0o600)
    sock.listen(64)
    return sock


def peer_uid(sock: socket.socket) -> int | None:
    """The uid of the process at the other end of a Unix socket (Linux), None where it cannot be told."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None
    data = sock.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    return struct.unpack("3i", data)[1]
