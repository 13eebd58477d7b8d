# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Staging bytes on an instance as content-addressed chunks sent with SendFile.

RunCommand content is capped at 24 KB, so anything larger (a module payload, a file) goes up as
chunks of at most 24 KB raw (32 KB once Base64-encoded, SendFile's cap), named by their sha256.
A chunk already on the instance is not sent again: the controller remembers what each instance
holds (instance_cache), and a script that finds a chunk missing says so instead of running (see
transport).
"""

from __future__ import annotations

import base64
import hashlib
import typing as t
from concurrent.futures import ThreadPoolExecutor

from .client import CloudClient
from .invocation import new_client_token

CHUNK_BYTES = 24576           # 32768 bytes after Base64: exactly SendFile's limit
HEAD_PIECE_BYTES = 4096       # the varying head of a payload is cut this fine
SEND_PARALLELISM = 4


def _end_aligned(length: int, size: int) -> list[int]:
    """Cut points of ``length`` bytes into pieces of ``size``, counted from the end."""
    first = length % size or size
    return [0] + list(range(first, length + 1, size)) if length else [0]


def split_chunks(data: bytes, size: int = CHUNK_BYTES, head_piece: int = HEAD_PIECE_BYTES) -> list[tuple[str, bytes]]:
    """(sha256, bytes) pieces of ``data`` in order, aligned to the END of the data.

    Ansible's module payloads differ between runs only near the start (a timestamp and the
    arguments), so cutting from the end keeps every full chunk of the shared tail identical — and
    already on the instance. The head before them is cut finer, again from its end, so what changes
    is one or two small pieces that ride inline in the RunCommand.
    """
    if not data:
        return []
    bounds = _end_aligned(len(data), size)
    head = bounds[1] if bounds[1] < size else 0
    cuts = _end_aligned(head, head_piece)[:-1] + bounds[1:] if head else bounds
    return [(hashlib.sha256(data[start:end]).hexdigest(), data[start:end]) for start, end in zip(cuts, cuts[1:])]


def chunk_dir_for(user: str) -> str:
    """Where staged chunks live on the instance: per user, since they are private (mode 0600)."""
    return f"/var/tmp/.alicloud-ecs/{user or 'root'}"


def send_chunks(client: CloudClient, instance_id: str, chunks: t.Sequence[tuple[str, bytes]],
                chunk_dir: str, owner: str, parallelism: int = SEND_PARALLELISM) -> list[str]:
    """SendFile each chunk (several in flight); returns the InvokeIds.

    Delivery is asynchronous: the script that uses the chunks waits for them and verifies them,
    which costs no extra API call (no DescribeSendFileResults round trip).
    """
    def send(chunk: tuple[str, bytes]) -> str:
        name, data = chunk
        response = client.call(
            "SendFile", InstanceId=[instance_id], Name=name, TargetDir=chunk_dir,
            Content=base64.b64encode(data).decode("ascii"), ContentType="Base64",
            FileMode="0600", FileOwner=owner or "root", Overwrite=True,
            ClientToken=new_client_token())
        return response["InvokeId"]

    if len(chunks) <= 1:
        return [send(chunk) for chunk in chunks]
    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        return list(pool.map(send, chunks))
