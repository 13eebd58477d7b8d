# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What an envelope is told to rebuild as the command's stdin: the plan types the executor fills in.

remote_exec decides the plan (what rides inline, which staged chunks or kept base it names); the script
builders (stdin_script.py, powershell_transport.py) turn it into shell code. Every part is a gzip member.
"""

from __future__ import annotations

import base64
import gzip
import typing as t
from dataclasses import dataclass


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def pack_inline(data: bytes) -> str:
    """Base64 of gzip(data): how bytes ride inside the script."""
    return b64(gzip.compress(data, compresslevel=6, mtime=0))


@dataclass
class StdinPart:
    """One piece of the command's stdin, always a gzip member: carried inline (Base64) or staged as a chunk."""

    chunk: str | None = None       # name of a staged chunk file (content-addressed)
    inline: str | None = None      # Base64 of the gzip-compressed bytes


@dataclass
class BaseEdit:
    """Stdin rebuilt from the copy of an earlier stdin that the instance keeps (see stdin_delta):
    ``base[:prefix] + middle + base[resume:]``, then ``patch`` written over it edit by edit."""

    base: str      # file name of the kept copy, in the chunk directory
    interpreter: t.Sequence[str]  # the payload's own interpreter (its #! line), which does the rebuild
    prefix: int
    resume: int
    middle: str    # packed (pack_inline) bytes
    edits: str     # packed "offset length" lines, one per edit, in order
    patch: str     # packed bytes of every edit, concatenated in order


@dataclass
class ArgsSplice:
    """A module's arguments, cut out of its payload (stdin_delta.split_arguments) so that what the instance keeps
    holds none: stdin is ``scrubbed[:offset] + arguments + scrubbed[offset + skip:]``. The arguments ride inline
    or as chunks the script releases when it ends, however it ends; they are never kept."""

    offset: int
    skip: int
    parts: t.Sequence[StdinPart]  # gzip members of the arguments, in order

    def chunks(self) -> list[str]:
        """The staged chunks among the parts (the script releases them when it ends)."""
        return [str(part.chunk) for part in self.parts if part.chunk]


@dataclass(frozen=True)
class StagingLimits:
    """How much the instance keeps of staged data: files older than ``max_age_hours`` go, then the oldest until
    the chunk directory is within ``max_size_mb``. Checked at most once per PRUNE_EVERY_MINUTES per directory."""

    max_age_hours: int = 168
    max_size_mb: int = 512


@dataclass
class StdinPlan:
    """How the script rebuilds stdin.

    Either ``parts`` are listed in the script, or — when there are too many chunks for the script to
    stay small — ``manifest`` names the chunks holding the (gzip-compressed) list of data chunk names,
    so the script's size no longer grows with the data.
    """

    parts: t.Sequence[StdinPart] = ()
    manifest: t.Sequence[str] = ()
    chunk_dir: str = "/nonexistent"
    sha256: str = ""
    wait_seconds: int | None = None  # CHUNK_WAIT_SECONDS; 0 when nothing was sent for this run
    from_base: BaseEdit | None = None
    keep_as: str | None = None  # keep the rebuilt stdin under this name in the chunk directory...
    drop: str | None = None     # ... instead of this earlier copy
    release: t.Sequence[str] = ()  # chunks of a no_log task's stdin: removed when the script ends, however it ends
    splice: ArgsSplice | None = None  # the parts (or base edit) rebuild the scrubbed payload; these are its arguments
    prune: StagingLimits | None = None  # bounds of what the chunk directory and stray work directories may keep
