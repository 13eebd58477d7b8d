# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run one shell command on one instance with exact stdin, stdout, stderr and rc.

This ties the pieces together: stdin is inlined or staged as chunks (file_transfer), the command
travels in the envelope (transport), runs through the invocation engine, and output larger than
one API page is read back page by page. Nothing is truncated silently and nothing runs twice.
"""

from __future__ import annotations

import hashlib
import time
import typing as t
from dataclasses import dataclass, field

from .client import CloudClient
from .file_transfer import chunk_dir_for, send_chunks, split_chunks
from .instance_cache import InstanceCache
from .invocation import Completion, InstanceResult, PollSchedule, run_command, wait_for_results
from .transport import (
    INLINE_BUDGET, Frame, StdinPart, TransportError, build_page_script, build_run_script,
    decode_frame, missing_ranges, pack_inline, parse_trailer,
)

MAX_STAGING_ATTEMPTS = 3
AIM_MARGIN = 1.15   # aim the first poll a little after the expected finish
HIT_SHRINK = 0.95   # after a first-poll hit, expect a little less next time
MISS_WEIGHT = 0.5   # after a miss, move halfway towards what was seen


def next_estimate(expected: float | None, completion: Completion) -> float:
    """The run time to aim the next first poll at, from how this wait went.

    A first-look hit means the run ended before the aim, so expect a little less; a miss means it
    ended between the last two looks, so move halfway towards that. One slow run thus costs a few
    tasks of later aims, not a hundred.
    """
    if completion.polls == 1:
        return (expected if expected is not None else completion.latest) * HIT_SHRINK
    seen = (completion.earliest + completion.latest) / 2
    return seen if expected is None else expected + MISS_WEIGHT * (seen - expected)


class RemoteExecError(Exception):
    """The instance could not run the command (agent down, bad user, timeout...), with the InvokeId."""

    def __init__(self, message: str, invoke_id: str | None = None, error_code: str = "") -> None:
        self.invoke_id = invoke_id
        self.error_code = error_code
        super().__init__(message)


@dataclass
class ExecOptions:
    """How commands are run on the instance."""

    username: str | None = None
    timeout: int = 600
    wait_margin: float = 30.0
    name: str = "alicloud.ecs"
    tags: dict[str, str] = field(default_factory=dict)
    schedule: PollSchedule = field(default_factory=PollSchedule)


class InstanceExecutor:
    """Runs commands on one instance; one object per connection, reused across its commands."""

    def __init__(self, client: CloudClient, instance_id: str, options: ExecOptions,
                 cache: InstanceCache | None = None) -> None:
        self.client = client
        self.instance_id = instance_id
        self.options = options
        self.cache = cache
        self._staged = False

    def run(self, command: bytes, stdin: bytes | None = None) -> Frame:
        """Run ``command`` with ``stdin`` and return its exact rc, stdout and stderr."""
        self._staged = False
        script_kwargs = self._prepare_stdin(stdin or b"")
        kind = "with-stdin" if stdin else "plain"
        for _attempt in range(MAX_STAGING_ATTEMPTS):
            # A run that waited for freshly sent chunks says nothing about the command's own time.
            learn = kind if not self._staged else None
            result, invoke_id = self._invoke(build_run_script(command, **script_kwargs), learn)
            trailer = parse_trailer(result.output)
            if trailer.missing:
                self._restage(stdin or b"", trailer.missing)
                continue
            frame_text = self._read_pages(trailer) + trailer.frame_tail
            try:
                return decode_frame(frame_text, trailer.sha256)
            except TransportError as error:
                raise RemoteExecError(f"{error} (invocation {invoke_id})", invoke_id) from None
        raise RemoteExecError(
            f"staged input never arrived on {self.instance_id} after {MAX_STAGING_ATTEMPTS} attempts")

    # -- stdin staging -----------------------------------------------------------------------

    def _prepare_stdin(self, stdin: bytes) -> dict[str, t.Any]:
        """Split stdin into parts: chunks the instance holds are referenced, the rest rides inline
        while the script's budget lasts, and whatever is left is staged with SendFile."""
        if not stdin:
            return {}
        whole = pack_inline(stdin)
        if len(whole) <= INLINE_BUDGET:
            return {"parts": [StdinPart(inline=whole)]}
        known = self.cache.known_chunks() if self.cache else set()
        budget = INLINE_BUDGET
        parts: list[StdinPart] = []
        to_send = []
        for name, data in split_chunks(stdin):
            if name in known:
                parts.append(StdinPart(chunk=name))
                continue
            packed = pack_inline(data)
            if len(packed) <= budget:
                budget -= len(packed)
                parts.append(StdinPart(inline=packed))
            else:
                parts.append(StdinPart(chunk=name))
                to_send.append((name, data))
        self._send(to_send)
        return {"parts": parts, "chunk_dir": self._chunk_dir(),
                "stdin_sha256": hashlib.sha256(stdin).hexdigest()}

    def _restage(self, stdin: bytes, missing: t.Sequence[str]) -> None:
        if self.cache:
            self.cache.update_chunks(remove=missing)
        wanted = set(missing)
        self._send([chunk for chunk in split_chunks(stdin) if chunk[0] in wanted or "unverified" in wanted])

    def _send(self, chunks: t.Sequence[tuple[str, bytes]]) -> None:
        if not chunks:
            return
        send_chunks(self.client, self.instance_id, chunks, self._chunk_dir(),
                    self.options.username or "root")
        self._staged = True
        if self.cache:
            self.cache.update_chunks(add=[chunk[0] for chunk in chunks])

    def _chunk_dir(self) -> str:
        return chunk_dir_for(self.options.username or "root")

    # -- invocation and paging ---------------------------------------------------------------

    def _invoke(self, script: str, kind: str | None = "page") -> tuple[InstanceResult, str]:
        """Run one script and wait for it; ``kind`` names the run-time estimate to use and refine."""
        options = self.options
        invoke_id = run_command(
            self.client, [self.instance_id], script, name=options.name, timeout=options.timeout,
            username=options.username, tags=options.tags)
        deadline = time.monotonic() + options.timeout + options.wait_margin
        expected = self.cache.expected_seconds(kind) if self.cache and kind else None
        schedule = options.schedule if expected is None else options.schedule.aimed_at(expected * AIM_MARGIN)
        completion = wait_for_results(self.client, invoke_id, [self.instance_id], deadline=deadline,
                                      schedule=schedule)
        if self.cache and kind:
            self.cache.set_expected_seconds(kind, next_estimate(expected, completion))
        results = completion.results
        result = results[self.instance_id]
        if result.status not in ("Success", "Failed"):
            detail = f"{result.error_code}: {result.error_info}" if result.error_code else result.status
            raise RemoteExecError(
                f"Cloud Assistant could not run the command on {self.instance_id} "
                f"(invocation {invoke_id}, status {result.status}): {detail}",
                invoke_id, result.error_code)
        return result, invoke_id

    def _read_pages(self, trailer: t.Any) -> bytes:
        ranges = missing_ranges(trailer)
        if not ranges:
            return b""
        if not trailer.spool:
            raise RemoteExecError("output was cut by the API but the instance kept no spooled copy")
        pages = []
        for index, (offset, length) in enumerate(ranges):
            script = build_page_script(trailer.spool, offset, length, remove=index == len(ranges) - 1)
            result, invoke_id = self._invoke(script)
            if result.dropped or len(result.output) != length:
                raise RemoteExecError(
                    f"page read of {trailer.spool} returned {len(result.output)} of {length} bytes "
                    f"(invocation {invoke_id})", invoke_id)
            pages.append(result.output)
        return b"".join(pages)
