# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The frame codec: the answer every envelope prints, and how the controller reads it back.

Cloud Assistant merges stdout and stderr into one output capped at 24 KB (tail kept). So an envelope
(shell_scripts.py for POSIX sh, powershell_transport.py for Windows) runs the command with both streams
captured apart and prints a single frame — ``base64(gzip("ACE1 rc outlen errlen\\n" + stdout + stderr))``,
without the gzip when a large output does not compress — followed by a trailer line. The trailer comes last
because the API keeps the tail: it always survives, and says how long the frame is, its sha256, and where the
frame was spooled on the instance when it did not fit one page (page_reads.py reads those back).
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import typing as t
import zlib
from dataclasses import dataclass

from .staging_dir import REFUSED_MARK


FRAME_MAGIC = b"ACE1"
OUTPUT_PAGE_BYTES = 24576          # the API's output cap; a page read never exceeds it
TAIL_BYTES = OUTPUT_PAGE_BYTES - 512  # frame bytes a spooled answer carries itself (room for the trailer)
DECODE_BLOCK = 1 << 20             # Base64 characters decoded at a time (a multiple of 4)
TRAILER_RE = re.compile(
    rb"<<ACE1 (?:missing=(?P<missing>[0-9a-z.,+]+)|" + REFUSED_MARK.encode() + rb"=(?P<refused>[^\n>]+)|size=(?P<size>\d+) sha256=(?P<sha>[0-9a-f]{64})"
    rb"(?: ms=(?P<ms>\d*))?(?: gz=(?P<gz>[01]))?(?: spool=(?P<spool>\S+) head=(?P<head>\d+))?)>>\n?\Z")


class TransportError(Exception):
    """The instance's answer could not be decoded into rc/stdout/stderr."""


@dataclass
class Frame:
    rc: int
    stdout: bytes
    stderr: bytes


@dataclass
class Trailer:
    """What the last line of a run's output says."""

    missing: list[str]          # staged chunks that never arrived (the command did not run)
    size: int                   # length of the Base64 frame text
    sha256: str                 # sha256 of the Base64 frame text
    spool: str | None           # directory of the spooled page files when the frame did not fit one page
    frame_tail: bytes           # the part of the frame text present in this output
    run_seconds: float | None = None  # how long the script ran, measured on the instance
    head: int = 0               # frame bytes held in the spooled pages (all before ``frame_tail``)
    compressed: bool = True     # the frame is Base64 of gzip; False: Base64 of the body itself
    refused: str | None = None  # the staging directory the script refused to use (the command did not run)

    @property
    def pages(self) -> list[tuple[int, int]]:
        """(index, length) of each spooled page, in frame order."""
        return [(index, min(OUTPUT_PAGE_BYTES, self.head - offset))
                for index, offset in enumerate(range(0, self.head, OUTPUT_PAGE_BYTES))]


def parse_trailer(output: bytes) -> Trailer:
    """Split a run's (possibly truncated) output into its frame text and its trailer."""
    cut = output.rfind(b"\n<<ACE1 ")
    if cut < 0:
        raise TransportError(_describe_garbage(output))
    match = TRAILER_RE.search(output[cut + 1:])
    if not match:
        raise TransportError(_describe_garbage(output))
    if match.group("refused"):
        return Trailer(missing=[], size=0, sha256="", spool=None, frame_tail=b"",
                       refused=match.group("refused").decode("utf-8", "replace"))
    if match.group("missing"):
        return Trailer(missing=match.group("missing").decode().split(","), size=0, sha256="",
                       spool=None, frame_tail=b"")
    spool = match.group("spool")
    size = int(match.group("size"))
    head = int(match.group("head") or 0)
    # Anything the envelope itself printed before the frame (a shell warning, say) is not frame text.
    frame_tail = output[:cut][-(size - head):] if size > head else b""
    if len(frame_tail) != size - head:
        raise TransportError(f"the result frame's tail is {len(frame_tail)} bytes, expected {size - head}")
    millis = match.group("ms")
    return Trailer(missing=[], size=size, sha256=match.group("sha").decode(),
                   spool=spool.decode() if spool else None, frame_tail=frame_tail,
                   run_seconds=int(millis) / 1000 if millis else None, head=head,
                   compressed=match.group("gz") != b"0")


class _Splitter:
    """Routes the decompressed frame body: header line, then stdout (to a sink), then stderr."""

    def __init__(self, stdout: t.BinaryIO) -> None:
        self.stdout = stdout
        self.stderr = io.BytesIO()
        self.header = b""
        self.rc = 0
        self.out_left = -1   # unknown until the header is complete
        self.err_left = 0

    def feed(self, data: bytes) -> None:
        if self.out_left < 0:
            self.header += data
            line, sep, data = self.header.partition(b"\n")
            if not sep:
                if len(self.header) > 64:
                    raise TransportError("the result frame has no valid header")
                return
            fields = line.split(b" ")
            if len(fields) != 4 or fields[0] != FRAME_MAGIC:
                raise TransportError("the result frame has no valid header")
            self.rc, self.out_left, self.err_left = (int(value) for value in fields[1:])
        to_out = data[:self.out_left]
        self.stdout.write(to_out)
        self.out_left -= len(to_out)
        rest = data[len(to_out):]
        if len(rest) > self.err_left:
            raise TransportError("the result frame's lengths do not match its content")
        self.stderr.write(rest)
        self.err_left -= len(rest)


def decode_frame(frame_text: bytes | t.BinaryIO, expected_sha256: str, stdout: t.BinaryIO | None = None,
                 compressed: bool = True) -> Frame:
    """Verify and unpack a frame into rc, stdout and stderr (byte-exact).

    The frame may be bytes or a seekable file (a large one is spooled to disk on the controller);
    with ``stdout`` given, standard output streams into it and ``Frame.stdout`` stays empty, so a
    100 MB fetch never sits in memory.
    """
    source = io.BytesIO(frame_text) if isinstance(frame_text, bytes) else frame_text
    digest = hashlib.sha256()
    source.seek(0)
    for block in iter(lambda: source.read(DECODE_BLOCK), b""):
        digest.update(block)
    if digest.hexdigest() != expected_sha256:
        raise TransportError("the result frame failed its sha256 check (corrupted or incomplete output)")
    sink = stdout if stdout is not None else io.BytesIO()
    splitter = _Splitter(sink)
    inflate = zlib.decompressobj(wbits=31) if compressed else None
    source.seek(0)
    try:
        for block in iter(lambda: source.read(DECODE_BLOCK), b""):
            body = base64.b64decode(block, validate=True)
            splitter.feed(inflate.decompress(body) if inflate else body)
        if inflate:
            splitter.feed(inflate.flush())
    except (ValueError, zlib.error) as error:
        raise TransportError(f"the result frame could not be decoded: {error}") from None
    if (inflate and not inflate.eof) or splitter.out_left != 0 or splitter.err_left != 0:
        raise TransportError("the result frame's lengths do not match its content")
    captured = sink.getvalue() if stdout is None else b""
    return Frame(rc=splitter.rc, stdout=captured, stderr=splitter.stderr.getvalue())


def _describe_garbage(output: bytes) -> str:
    preview = output[-400:].decode("utf-8", "replace")
    return f"the instance did not answer with a result frame; its output ended with: {preview!r}"
