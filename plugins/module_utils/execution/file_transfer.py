# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Staging bytes on an instance as content-addressed, gzip-compressed chunks sent with SendFile (or, for a
non-root remote user, written by a RunCommand run as that user: see stage_chunks).

RunCommand content is capped at 24 KB, so anything larger (a module payload, a file) goes up with
SendFile, whose content is capped at 32 KB once Base64-encoded: 24576 bytes per call. Every chunk
file is one gzip member named by the sha256 of the bytes it holds, so ``gzip -dc`` over the chunks
in order restores the data, and a chunk already on the instance is not sent again (the controller
remembers what each instance holds: instance_cache).

The data is cut into grains counted from its end; consecutive grains that compress well travel
together in one chunk, so text moves several times faster per call than random bytes, which go as
stored (level 0) gzip members. Cuts depend only on the data, so the same data always makes the same
chunks.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import threading
import typing as t
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..api.client import PROGRESS_VERBOSITY, CloudClient
from ..engine.invocations_api import MIN_TIMEOUT, new_client_token, run_command
from .staging_dir import claim_script

SENDFILE_BYTES = 24576        # 32768 bytes after Base64: exactly SendFile's limit
# Eight grains (STORED_GRAINS) make 24512 bytes, the most a stored (level 0) gzip member may hold and still fit
# SendFile, so random data fills every call; grains this small let text pack to within a grain of
# the limit (Base64 text such as a module payload: 11 grains a call instead of 1 with whole-call grains).
GRAIN_BYTES = 3064
STORED_GRAINS = 8
HEAD_PIECE_BYTES = 4096       # the varying head of a payload is cut this fine
MAX_GRAINS_PER_CHUNK = 512    # bounds the controller's work per chunk (1.5 MB of very compressible data)
PACK_STRETCH = 1.25           # how far level-1 sizes of packed grains may exceed SendFile's limit
SEND_PARALLELISM = 16
# A chunk staged by RunCommand rides Base64 inside a script whose own Base64 must stay within RunCommand's 24 KB
# (KeepCommand=false): 12288 bytes make 16384 characters, and the script 17 KB; four stored grains fit.
RUN_STAGE_BYTES = 12288
PROGRESS_BYTES = 4 << 20      # a transfer reports its progress (at -v) each time this much more has moved


@dataclass(frozen=True)
class Chunk:
    """One staged file: ``name`` is the sha256 of ``raw`` plus ``.gz``; ``blob`` is what SendFile carries."""

    name: str
    raw: bytes
    blob: bytes


def _end_aligned(length: int, size: int) -> list[int]:
    """Cut points of ``length`` bytes into pieces of ``size``, counted from the end."""
    first = length % size or size
    return [0] + list(range(first, length + 1, size)) if length else [0]


def split_pieces(data: bytes, size: int = GRAIN_BYTES, head_piece: int = HEAD_PIECE_BYTES) -> list[bytes]:
    """Pieces of ``data`` in order, aligned to the END of the data.

    Ansible's module payloads differ between runs only near the start (a timestamp and the
    arguments), so cutting from the end keeps every full piece of the shared tail identical — and
    already on the instance. The head before them is cut finer, again from its end, so what changes
    is one or two small pieces that ride inline in the RunCommand.
    """
    if not data:
        return []
    bounds = _end_aligned(len(data), size)
    head = bounds[1] if bounds[1] < size else 0
    cuts = _end_aligned(head, head_piece)[:-1] + bounds[1:] if head else bounds
    return [data[start:end] for start, end in zip(cuts, cuts[1:])]


def gzip_member(raw: bytes, level: int = 6) -> bytes:
    """A deterministic gzip member of ``raw`` (no timestamp), so equal data gives equal bytes."""
    return gzip.compress(raw, compresslevel=level, mtime=0)


def make_chunk(raw: bytes, deflated: bytes | None = None) -> Chunk:
    """Compressed when that is smaller, else stored (gzip level 0 adds only 23 bytes): either way
    it fits SendFile. ``deflated`` is ``gzip_member(raw)`` when already made; None for bytes that
    do not compress (saves compressing them only to throw the result away)."""
    blob = deflated if deflated is not None and len(deflated) < len(raw) else gzip_member(raw, 0)
    return Chunk(f"{hashlib.sha256(raw).hexdigest()}.gz", raw, blob)


def split_chunks(data: bytes, limit: int = SENDFILE_BYTES) -> list[Chunk]:
    """The chunks of ``data`` in order (see cut_chunks)."""
    return list(cut_chunks(data, limit))[::-1]


def cut_chunks(data: bytes, limit: int = SENDFILE_BYTES) -> t.Iterator[Chunk]:
    """The chunks of ``data``, LAST FIRST, as they are cut: end-aligned grains, packed backwards
    while they compress. A generator, so sending can start while the rest is still being cut.

    Packing runs from the end, like the cut, so the chunks of a shared tail stay identical. A quick
    level-1 size per grain proposes a pack (level 6 on the joined grains does about a quarter
    better, hence PACK_STRETCH); a pack that does not fit is shrunk by the overshoot and tried again.
    ``limit`` is the most bytes one chunk file may hold (SendFile's, or RUN_STAGE_BYTES).
    """
    pieces = split_pieces(data)
    estimates = [len(zlib.compress(piece, 1)) for piece in pieces]
    end = len(pieces)
    while end > 0:
        start, budget = end - 1, estimates[end - 1]
        while start > 0 and end - start < MAX_GRAINS_PER_CHUNK and len(pieces[start - 1]) == GRAIN_BYTES:
            if budget + estimates[start - 1] > limit * PACK_STRETCH:
                break
            start -= 1
            budget += estimates[start]
        if budget >= sum(len(piece) for piece in pieces[start:end]):
            # Nothing to gain from compressing: as many grains as one stored member holds.
            start = max(start, end - stored_grains(limit))
            yield make_chunk(b"".join(pieces[start:end]))
        else:
            while True:
                joined = b"".join(pieces[start:end])
                deflated = gzip_member(joined)
                if len(deflated) <= limit or end - start == 1:
                    yield make_chunk(joined, deflated)
                    break
                count = end - start  # shrink in proportion to the overshoot, and by one grain at least
                start = end - max(1, min(count - 1, count * limit // len(deflated)))
        end = start


def stored_grains(limit: int) -> int:
    """How many grains one stored (level 0) gzip member of at most ``limit`` bytes holds (23 bytes of framing)."""
    return max(1, (limit - 23) // GRAIN_BYTES)


class TransferProgress:
    """Bytes moved by one transfer, reported through the client's log hook every PROGRESS_BYTES (so a small
    transfer says nothing); safe to add to from several threads."""

    def __init__(self, client: CloudClient, what: str, total: int | None = None) -> None:
        self.client = client
        self.what = what
        self.total = total
        self.done = 0
        self._next = PROGRESS_BYTES
        self._lock = threading.Lock()

    def add(self, count: int) -> None:
        with self._lock:
            self.done += count
            if self.done < self._next:
                return
            self._next = (self.done // PROGRESS_BYTES + 1) * PROGRESS_BYTES
            done = self.done
        of = f" of {self.total / 1e6:.1f} MB" if self.total else ""
        self.client.say(PROGRESS_VERBOSITY, f"{done / 1e6:.1f} MB{of} {self.what} so far")


def send_chunks(client: CloudClient, instance_id: str, chunks: t.Iterable[Chunk], chunk_dir: str, owner: str,
                parallelism: int = SEND_PARALLELISM) -> list[str]:
    """SendFile each chunk, ``parallelism`` calls in flight; returns the InvokeIds.

    Delivery is asynchronous: the script that uses the chunks waits for them and verifies them,
    which costs no extra API call (no DescribeSendFileResults round trip). Each call carries its
    own ClientToken, so a retry after a lost response never writes twice.
    """
    progress = TransferProgress(client, f"sent to {instance_id}")

    def send(chunk: Chunk) -> str:
        response = client.call(
            "SendFile", InstanceId=[instance_id], Name=chunk.name, TargetDir=chunk_dir,
            Content=base64.b64encode(chunk.blob).decode("ascii"), ContentType="Base64",
            FileMode="0600", FileOwner=owner or "root", Overwrite=True,
            ClientToken=new_client_token())
        progress.add(len(chunk.blob))
        return response["InvokeId"]

    return _each(send, chunks, parallelism)


def _each(send: t.Callable[[Chunk], str], chunks: t.Iterable[Chunk], parallelism: int) -> list[str]:
    if parallelism <= 1:
        return [send(chunk) for chunk in chunks]
    with ThreadPoolExecutor(max_workers=parallelism) as pool:
        return list(pool.map(send, chunks))


def stage_script(chunk_dir: str, chunk: Chunk) -> str:
    """A script, run as the remote user, that writes one chunk into that user's own staging directory.

    SendFile writes as root and then sets owner and mode by path, so a user who can write the target directory
    could swap a symlink in between and have root's agent chown any file: a non-root user's chunks are never
    sent with SendFile. The chunk is written aside and renamed into place, so the envelope, which waits for
    chunks to land, never reads half of one.
    """
    return "".join((
        "#!/bin/sh\n"
        "umask 077\n",
        claim_script(chunk_dir, "exit 97"),
        f"printf '%s' '{base64.b64encode(chunk.blob).decode('ascii')}' | base64 -d > \"$_c/{chunk.name}.$$.part\""
        f" && mv -f \"$_c/{chunk.name}.$$.part\" \"$_c/{chunk.name}\"\n"))


def stage_chunks(client: CloudClient, instance_id: str, chunks: t.Iterable[Chunk], chunk_dir: str,
                 username: str, name: str = "alicloud.ecs staging", tags: t.Mapping[str, str] | None = None,
                 parallelism: int = SEND_PARALLELISM) -> list[str]:
    """Start one RunCommand per chunk as ``username`` (see stage_script), ``parallelism`` in flight; returns the
    InvokeIds without waiting for them: the envelope waits for the chunks and reports any that never land."""
    progress = TransferProgress(client, f"staged on {instance_id}")

    def send(chunk: Chunk) -> str:
        invoke_id = run_command(client, [instance_id], stage_script(chunk_dir, chunk), name=name,
                                timeout=MIN_TIMEOUT, username=username, tags=tags,
                                termination_mode="ProcessTree").invoke_id
        progress.add(len(chunk.blob))
        return invoke_id

    return _each(send, chunks, parallelism)
