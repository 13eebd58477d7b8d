# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run one shell command on one instance with exact stdin, stdout, stderr and rc.

This ties the pieces together: stdin is inlined or staged as chunks (file_transfer), the command
travels in the envelope of the instance's dialect (shell_dialect), runs through the invocation engine,
and output larger than one API page is read back page by page (page_reads). Nothing is truncated
silently and nothing runs twice.
"""

from __future__ import annotations

import base64
import hashlib
import shlex
import time
import typing as t
from dataclasses import asdict

from ..api.client import CloudClient
from ..engine.invocation import Completion, InstanceResult, wait_for_results
from ..engine.invocations_api import run_command
from .become_script import BecomeAnswer
from .exec_errors import RemoteExecError
from .exec_options import ExecOptions
from .file_transfer import RUN_STAGE_BYTES, SENDFILE_BYTES, Chunk, cut_chunks, send_chunks, split_chunks, stage_chunks
from .frame import Frame, TransportError, parse_trailer
from .instance_cache import InstanceCache
from .page_reads import read_frame
from .run_timing import RunTiming, timing_kind
from .shell_dialect import ShellEnvelope
from .staging_dir import refused_message
from .stdin_delta import ArgumentSplit, carries_arguments, make_delta, module_name, split_arguments
from .stdin_plan import ArgsSplice, BaseEdit, StdinPart, StdinPlan, pack_inline

MAX_STAGING_ATTEMPTS = 3
MANIFEST_AFTER = 768 << 10         # stdin larger than this lists its chunks in a staged manifest
WHOLE_INLINE_MAX = 1 << 20        # larger stdin is never tried whole inline (it would not fit)
MAX_EDITS = 1024        # a delta with more edits goes as chunks instead (a scattered change, not a re-stamped zip)
COMMAND_ALLOWANCE = 1024  # command bytes the envelope's stdin budget already leaves room for; more comes off that budget


def base_file(digest: str) -> str:
    """The name under which the instance keeps a payload as the base of the next one."""
    return f"{digest}.base"


class InstanceExecutor:
    """Runs commands on one instance; one object per connection, reused across its commands."""

    def __init__(self, client: CloudClient, instance_id: str, options: ExecOptions,
                 cache: InstanceCache | None = None) -> None:
        self.client = client
        self.instance_id = instance_id
        self.options = options
        self.cache = cache
        self._staged = False
        self._budget = options.envelope.inline_budget  # packed stdin bytes the current command's script may carry

    def run(self, command: bytes, stdin: bytes | None = None, stdout: t.BinaryIO | None = None,
            become: BecomeAnswer | None = None, private: bool = False) -> Frame:
        """Run ``command`` with ``stdin`` and return its exact rc, stdout and stderr.

        With ``stdout`` given, standard output streams into that file instead of ``Frame.stdout``; with
        ``become``, its password answers the become prompt on the instance if (and only if) one comes.
        ``private`` (a no_log task) keeps nothing of the run: no payload kept as a base, the chunks it
        staged removed on the instance when the script ends, nothing of it in the controller's cache.
        A module payload's arguments are never kept either way: only the payload without them (see
        stdin_delta.split_arguments); a payload whose arguments cannot be found is run as private.
        """
        self._staged = False
        # A long command (steps deferred in front of it, see deferred_steps) leaves less room for inline stdin.
        self._budget = self.options.envelope.inline_budget - max(0, 4 * -(-len(command) // 3) - COMMAND_ALLOWANCE)
        split = None if private else _arguments_of(stdin, self.options.envelope)
        private = private or (split is None and carries_arguments(stdin))
        keeps_base = self.cache is not None and split is not None
        staging = _Staging(stdin or b"", module_name(stdin) if keeps_base else None, private, self._chunk_bytes(), split)
        kind = timing_kind(command, stdin)
        for _attempt in range(MAX_STAGING_ATTEMPTS):
            plan = self._plan(staging)
            result, invoke_id, completion = self._invoke(self.options.envelope.run_script(command, plan, become), kind,
                                                         bool(become and become.reference))
            trailer = parse_trailer(result.output)
            if trailer.refused:
                raise RemoteExecError(f"{refused_message(trailer.refused, self.options.username, self.instance_id)}"
                                      f" (invocation {invoke_id})", invoke_id)
            if trailer.missing and plan and plan.from_base:
                # The kept base is gone (most likely the whole chunk directory with it) or is not what
                # we think: forget what the instance was believed to hold and send the usual way.
                self.cache.forget_holdings()
                staging.use_base = False
                continue
            if trailer.missing:
                self._restage(staging, trailer.missing)
                continue
            if plan and plan.keep_as and self.cache:
                self.cache.set_base(t.cast(str, staging.module), staging.keepable)
            if trailer.run_seconds is not None and not private:
                # The run time excludes waiting for freshly sent chunks; the lag around it does not.
                self._learn(kind, trailer.run_seconds, None if self._staged else completion)
            if staging.uses_manifest and self.cache:
                # The script removed a large transfer's chunks once it had rebuilt the data.
                self.cache.update_chunks(remove=[chunk.name for chunk in staging.chunks() + staging.manifest()])
            try:
                return read_frame(self.client, self.instance_id, self.options, trailer, stdout)
            except TransportError as error:
                raise RemoteExecError(f"{error} (invocation {invoke_id})", invoke_id) from None
        raise RemoteExecError(
            f"staged input never arrived on {self.instance_id} after {MAX_STAGING_ATTEMPTS} attempts")

    # -- stdin staging -----------------------------------------------------------------------

    def _plan(self, staging: _Staging) -> StdinPlan | None:
        """Split stdin into parts: chunks the instance holds are referenced, the rest rides inline
        while the script's budget lasts, and whatever is left is staged with SendFile. Past
        MANIFEST_AFTER bytes, the chunk list itself is staged (a manifest), keeping the script small,
        and chunks are sent while the rest are still being cut.

        A module payload is staged without its arguments (``staging.keepable``), which ride apart (see
        _arguments) and are spliced back in on the instance; the sha256 the instance checks is the real stdin's."""
        if not staging.data:
            return None
        whole = pack_inline(staging.data) if len(staging.data) <= WHOLE_INLINE_MAX else ""
        if whole and len(whole) <= self._budget:
            return StdinPlan(parts=[StdinPart(inline=whole)])
        digest = hashlib.sha256(staging.data).hexdigest()
        kept = self.cache.base(staging.module) if self.cache and staging.module and staging.use_base else None
        if kept:
            rebuilt = self._from_base(staging, digest, *kept)
            if rebuilt:
                return rebuilt
        budget, splice = self._arguments(staging, self._budget)
        released = splice.chunks() if splice else []
        known = self.cache.known_chunks() if self.cache else set()
        if staging.uses_manifest:  # the script removes a manifest's chunks once it has rebuilt the data
            self._send((chunk for chunk in staging.produce() if chunk.name not in known), remember=not staging.private)
            manifest = staging.manifest()
            self._send((chunk for chunk in manifest if chunk.name not in known), remember=not staging.private)
            return StdinPlan(manifest=[chunk.name for chunk in manifest], chunk_dir=self._chunk_dir(),
                             sha256=digest, wait_seconds=None if self._staged else 0, splice=splice, release=released,
                             prune=self.options.staging)
        parts: list[StdinPart] = []
        to_send = []
        for chunk in staging.chunks():
            packed = base64.b64encode(chunk.blob).decode("ascii")
            if chunk.name in known:
                parts.append(StdinPart(chunk=chunk.name))
            elif len(packed) <= budget:
                budget -= len(packed)
                parts.append(StdinPart(inline=packed))
            else:
                parts.append(StdinPart(chunk=chunk.name))
                to_send.append(chunk)
        self._send(to_send, remember=not staging.private)
        return StdinPlan(parts=parts, chunk_dir=self._chunk_dir(), sha256=digest,
                         wait_seconds=None if self._staged else 0,
                         release=[chunk.name for chunk in to_send] + released if staging.private else released,
                         splice=splice,
                         keep_as=base_file(hashlib.sha256(staging.keepable).hexdigest()) if staging.module else None,
                         drop=base_file(kept[0]) if kept else None, prune=self.options.staging)

    def _from_base(self, staging: _Staging, digest: str, base_digest: str, base: bytes) -> StdinPlan | None:
        """The payload as a delta against the instance's copy of the previous one, when that fits inline
        (its arguments ride apart: see _arguments)."""
        budget = self._budget
        delta = make_delta(base, staging.keepable, MAX_EDITS, 4 * budget)
        if delta is None:
            return None
        interpreter = shlex.split(staging.data[2:staging.data.find(b"\n")].decode("utf-8", "replace"))
        if not interpreter:
            return None
        edit = BaseEdit(base=base_file(base_digest), interpreter=interpreter, prefix=delta.prefix, resume=delta.resume,
                        middle=pack_inline(delta.middle),
                        edits=pack_inline("".join(f"{offset} {len(data)}\n" for offset, data in delta.edits).encode()),
                        patch=pack_inline(b"".join(data for _offset, data in delta.edits)))
        room = budget - len(edit.middle) - len(edit.edits) - len(edit.patch)
        if room < 0:
            return None
        _room, splice = self._arguments(staging, room)
        kept_digest = hashlib.sha256(staging.keepable).hexdigest()
        changed = kept_digest != base_digest
        return StdinPlan(chunk_dir=self._chunk_dir(), sha256=digest, wait_seconds=None if self._staged else 0,
                         from_base=edit, splice=splice, release=splice.chunks() if splice else [],
                         keep_as=base_file(kept_digest) if changed else None,
                         drop=base_file(base_digest) if changed else None, prune=self.options.staging)

    def _arguments(self, staging: _Staging, budget: int) -> tuple[int, ArgsSplice | None]:
        """How a module payload's arguments ride, and the inline budget left: inline when they fit ``budget``,
        else as chunks sent now, never remembered, and released by the script when it ends (however it ends),
        so that no copy of them stays on the instance. Sent afresh for every attempt: a script that stopped
        early released them too."""
        split = staging.split
        if split is None:
            return budget, None
        packed = pack_inline(split.arguments)
        if len(packed) <= budget:
            return budget - len(packed), ArgsSplice(split.offset, split.skip, [StdinPart(inline=packed)])
        chunks = split_chunks(split.arguments, staging.limit)
        self._send(chunks, remember=False)
        return budget, ArgsSplice(split.offset, split.skip, [StdinPart(chunk=chunk.name) for chunk in chunks])

    def _restage(self, staging: _Staging, missing: t.Sequence[str]) -> None:
        """Send again what the instance reported missing. A report cut short (``+``) or a failed check
        means the controller's picture is wrong wholesale: forget it and send every chunk again, so a
        stale cache costs one extra round trip however much the instance lost."""
        everything = "+" in missing or "unverified" in missing
        staged = staging.chunks() + (staging.manifest() if staging.uses_manifest else [])
        if self.cache:
            self.cache.update_chunks(remove=[chunk.name for chunk in staged] if everything else missing)
        wanted = set(missing)
        self._send([chunk for chunk in staged if everything or chunk.name in wanted], remember=not staging.private)

    def _send(self, chunks: t.Iterable[Chunk], remember: bool = True) -> None:
        """SendFile what the instance lacks, once per name (repeated data makes repeated chunks),
        starting on each chunk as soon as ``chunks`` yields it; ``remember`` records them as held."""
        sent: set[str] = set()

        def unique() -> t.Iterator[Chunk]:
            for chunk in chunks:
                if chunk.name not in sent:
                    sent.add(chunk.name)
                    yield chunk

        user = self.options.username or "root"
        if self.options.envelope.stages_by_run(user):
            stage_chunks(self.client, self.instance_id, unique(), self._chunk_dir(), user, self.options.name,
                         self.options.tags, self.options.parallelism)
        else:
            send_chunks(self.client, self.instance_id, unique(), self._chunk_dir(), user, self.options.parallelism)
        if sent:
            self._staged = True
            if self.cache and remember:
                self.cache.update_chunks(add=sent)

    def _chunk_dir(self) -> str:
        return self.options.envelope.chunk_dir(self.options.username or "root")

    def _chunk_bytes(self) -> int:
        """The largest chunk file: what one SendFile carries, or one staging RunCommand (see stage_chunks)."""
        return RUN_STAGE_BYTES if self.options.envelope.stages_by_run(self.options.username or "root") else SENDFILE_BYTES

    # -- invocation and paging ---------------------------------------------------------------

    def _invoke(self, script: str, kind: str | None = None,
                enable_parameter: bool = False) -> tuple[InstanceResult, str, Completion]:
        """Run one script and wait for it, aiming the first look with what ``kind`` taught us; with
        ``enable_parameter`` the agent resolves the script's ``{{oos-secret:…}}`` reference (become_store)."""
        options = self.options
        invoke_id = run_command(
            self.client, [self.instance_id], script, command_type=options.envelope.command_type,
            name=options.name, timeout=options.timeout,
            username=options.username, tags=options.tags,
            # A task that times out must leave nothing of itself running on the instance.
            termination_mode="ProcessTree", enable_parameter=enable_parameter).invoke_id
        deadline = time.monotonic() + options.timeout + options.wait_margin
        timing = self._timing(kind)
        if timing is not None:
            schedule = options.schedule.aimed_at(timing.aim, timing.slow_aim)
        else:  # a page read (quick, no learning) keeps the plain schedule; a new kind of command doubles
            schedule = options.schedule.unaimed() if kind else options.schedule
        completion = wait_for_results(self.client, invoke_id, [self.instance_id], deadline=deadline,
                                      schedule=schedule)
        result = completion.results[self.instance_id]
        if result.status not in ("Success", "Failed"):
            detail = f"{result.error_code}: {result.error_info}" if result.error_code else result.status
            raise RemoteExecError(
                f"{_what_happened(result.status, options.timeout)} on {self.instance_id} "
                f"(invocation {invoke_id}, status {result.status}): {detail}",
                invoke_id, result.error_code)
        return result, invoke_id, completion

    def _timing(self, kind: str | None) -> RunTiming | None:
        stored = self.cache.timing(kind) if self.cache and kind else None
        try:
            return RunTiming(**stored) if stored else None
        except TypeError:
            return None  # written by another version: start afresh

    def _learn(self, kind: str, run_seconds: float, completion: Completion | None) -> None:
        if not self.cache:
            return
        timing = self._timing(kind)
        learned = timing.learn(run_seconds, completion) if timing else RunTiming.first(run_seconds, completion)
        self.cache.set_timing(kind, asdict(learned))


def _arguments_of(stdin: bytes | None, envelope: ShellEnvelope) -> ArgumentSplit | None:
    """A module payload's arguments, apart from the rest, when the envelope can splice them back in (the one
    that rebuilds kept payloads does) and they are found with certainty."""
    if not envelope.keeps_bases or not carries_arguments(stdin):
        return None
    return split_arguments(t.cast(bytes, stdin))


def _what_happened(status: str, timeout: int) -> str:
    """The start of the message for a run that did not end with the command's own exit code."""
    if status == "Timeout":
        return f"the command ran longer than its timeout of {timeout}s and was stopped"
    if status in ("Terminated", "Cancelled"):
        return "the command was stopped (StopInvocation) before it ended"
    return "Cloud Assistant could not run the command"


class _Staging:
    """One stdin's chunks, cut once and reused across staging attempts."""

    def __init__(self, data: bytes, module: str | None = None, private: bool = False,
                 limit: int = SENDFILE_BYTES, split: ArgumentSplit | None = None) -> None:
        self.data = data
        self.limit = limit  # the largest chunk file
        self.module = module  # the module whose payload this is, when the instance may keep it as a base
        self.private = private  # a no_log task's: what it stages goes when its script ends
        self.split = split  # a module payload's arguments, apart from the rest
        # What is cut into chunks, sent as deltas and kept: never a module's arguments.
        self.keepable = split.scrubbed if split else data
        self.use_base = True  # False once the instance showed its kept base cannot be used
        self.uses_manifest = len(self.keepable) > MANIFEST_AFTER
        self._chunks: list[Chunk] | None = None
        self._manifest: list[Chunk] | None = None

    def produce(self) -> t.Iterator[Chunk]:
        """The chunks as they are cut (last first), so sending overlaps cutting; kept for later."""
        if self._chunks is not None:
            yield from self._chunks
            return
        cut = []
        for chunk in cut_chunks(self.keepable, self.limit):
            cut.append(chunk)
            yield chunk
        self._chunks = cut[::-1]

    def chunks(self) -> list[Chunk]:
        if self._chunks is None:
            self._chunks = split_chunks(self.keepable, self.limit)
        return self._chunks

    def manifest(self) -> list[Chunk]:
        """The chunk names, one per line, themselves cut into chunks."""
        if self._manifest is None:
            self._manifest = split_chunks("".join(f"{chunk.name}\n" for chunk in self.chunks()).encode("ascii"),
                                          self.limit)
        return self._manifest
