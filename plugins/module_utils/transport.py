# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The connection's script envelope: stdin in, exact stdout/stderr/rc out, through one RunCommand.

Cloud Assistant merges stdout and stderr into one output capped at 24 KB (tail kept). So the
script runs the command with both streams captured apart and prints a single frame —
``base64(gzip("ACE1 rc outlen errlen\\n" + stdout + stderr))`` — followed by a trailer line. The
trailer comes last because the API keeps the tail: it always survives, and says how long the frame
is, its sha256, and where the frame was spooled on the instance when it did not fit one page.
Only POSIX sh and coreutils are needed on the instance, so ``raw`` works without Python.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
import shlex
import typing as t
from dataclasses import dataclass

FRAME_MAGIC = b"ACE1"
OUTPUT_PAGE_BYTES = 24576          # the API's output cap; a page read never exceeds it
INLINE_BUDGET = 12 * 1024          # packed stdin bytes a script may carry inline
CHUNK_WAIT_SECONDS = 60            # how long a script waits for staged chunks to land
TRAILER_RE = re.compile(
    rb"<<ACE1 (?:missing=(?P<missing>[0-9a-z,]+)|size=(?P<size>\d+) sha256=(?P<sha>[0-9a-f]{64})"
    rb"(?: ms=(?P<ms>\d*))?(?: spool=(?P<spool>\S+))?)>>\n?\Z")


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
    spool: str | None           # path of the spooled frame when it did not fit one page
    frame_tail: bytes           # the part of the frame text present in this output
    run_seconds: float | None = None  # how long the script ran, measured on the instance


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def pack_inline(data: bytes) -> str:
    """Base64 of gzip(data): how bytes ride inside the script."""
    return _b64(gzip.compress(data, compresslevel=6, mtime=0))


@dataclass
class StdinPart:
    """One piece of the command's stdin: carried inline (gzip+Base64) or staged as a named chunk."""

    chunk: str | None = None       # sha256 name of a staged chunk
    inline: str | None = None      # Base64 of the gzip-compressed bytes


def _stdin_script(parts: t.Sequence[StdinPart], chunk_dir: str | None, total_sha256: str) -> str:
    """Rebuild stdin from its parts, in order, and verify the whole by sha256.

    Staged chunks arrive asynchronously (SendFile), so the script waits for them; if they have not
    all arrived and matched after CHUNK_WAIT_SECONDS it reports which are missing and stops before
    running anything: the controller sends them again and reruns.
    """
    lines = []
    files = []
    for index, part in enumerate(parts):
        if part.inline is not None:
            lines.append(f"printf '%s' '{part.inline}' | base64 -d | gzip -dc > \"$_d/p{index}\" || exit 96\n")
            files.append(f"\"$_d/p{index}\"")
        else:
            files.append(f"\"$_c/{part.chunk}\"")
    chunks = " ".join(part.chunk for part in parts if part.chunk)
    if not chunks:
        return "".join(lines) + f"cat {' '.join(files)} > \"$_d/in\"\n"
    return (
        "".join(lines)
        + f"_c={shlex.quote(chunk_dir or '/nonexistent')}; _n=0\n"
        "while :; do\n"
        "  _m=''\n"
        f"  for _h in {chunks}; do [ -f \"$_c/$_h\" ] || _m=\"$_m,$_h\"; done\n"
        "  if [ -z \"$_m\" ]; then\n"
        f"    cat {' '.join(files)} > \"$_d/in\" 2>/dev/null\n"
        f"    [ \"$(sha256sum < \"$_d/in\" | cut -c1-64)\" = {total_sha256} ] && break\n"
        "    _m=',unverified'\n"
        "  fi\n"
        f"  if [ $_n -ge {CHUNK_WAIT_SECONDS * 10} ]; then printf '\\n<<ACE1 missing=%s>>\\n' \"${{_m#,}}\"; exit 0; fi\n"
        "  sleep 0.1; _n=$((_n+1))\n"
        "done\n"
    )


def build_run_script(command: bytes, *, parts: t.Sequence[StdinPart] = (),
                     chunk_dir: str | None = None, stdin_sha256: str = "") -> str:
    """The shell script that restores stdin, runs ``command`` and prints the framed result."""
    stdin = _stdin_script(parts, chunk_dir, stdin_sha256) if parts else ": > \"$_d/in\"\n"
    return (
        "#!/bin/sh\n"
        "# alicloud.ecs cloud_assistant envelope v1\n"
        "umask 077\n"
        "_d=$(mktemp -d \"${TMPDIR:-/tmp}/.alicloud-ecs.XXXXXXXX\") || exit 97\n"
        "trap 'rm -rf \"$_d\"' EXIT\n"
        "_t0=$(date +%s%N 2>/dev/null)\n"
        f"{stdin}"
        f"_cmd=$(printf '%s' '{_b64(command)}' | base64 -d)\n"
        "/bin/sh -c \"$_cmd\" < \"$_d/in\" > \"$_d/out\" 2> \"$_d/err\"\n"
        "_rc=$?\n"
        "{ printf 'ACE1 %d %d %d\\n' \"$_rc\" \"$(wc -c < \"$_d/out\")\" \"$(wc -c < \"$_d/err\")\"\n"
        "  cat \"$_d/out\" \"$_d/err\"; } | gzip -c | base64 -w0 > \"$_d/frame\"\n"
        "_size=$(wc -c < \"$_d/frame\"); _sha=$(sha256sum < \"$_d/frame\" | cut -c1-64)\n"
        # Run time in ms where date knows %N (GNU); empty elsewhere. It tunes the controller's polling.
        "_ms=''; case \"$_t0\" in *[!0-9]*|'') ;; *) _ms=$(( ($(date +%s%N) - _t0) / 1000000 ));; esac\n"
        f"if [ \"$_size\" -gt {OUTPUT_PAGE_BYTES - 200} ]; then\n"
        "  _s=$(mktemp \"${TMPDIR:-/tmp}/.alicloud-ecs-spool.XXXXXXXX\") && cp \"$_d/frame\" \"$_s\"\n"
        # Padding makes a spooled answer always overflow the cap, so the controller always pages it
        # back and the last page read removes the spool file: nothing is left behind.
        "  printf '%256s' ''; cat \"$_d/frame\"; printf '\\n<<ACE1 size=%s sha256=%s ms=%s spool=%s>>\\n' \"$_size\" \"$_sha\" \"$_ms\" \"$_s\"\n"
        "else\n"
        "  cat \"$_d/frame\"; printf '\\n<<ACE1 size=%s sha256=%s ms=%s>>\\n' \"$_size\" \"$_sha\" \"$_ms\"\n"
        "fi\n"
    )


def build_page_script(spool: str, offset: int, length: int, remove: bool) -> str:
    """Print ``length`` bytes of a spooled frame from ``offset``; optionally delete it afterwards."""
    path = shlex.quote(spool)
    tail = f"; rm -f {path}" if remove else ""
    return f"#!/bin/sh\ntail -c +{offset + 1} {path} | head -c {length}{tail}\n"


def parse_trailer(output: bytes) -> Trailer:
    """Split a run's (possibly truncated) output into its frame text and its trailer."""
    cut = output.rfind(b"\n<<ACE1 ")
    if cut < 0:
        raise TransportError(_describe_garbage(output))
    match = TRAILER_RE.search(output[cut + 1:])
    if not match:
        raise TransportError(_describe_garbage(output))
    if match.group("missing"):
        return Trailer(missing=match.group("missing").decode().split(","), size=0, sha256="",
                       spool=None, frame_tail=b"")
    spool = match.group("spool")
    size = int(match.group("size"))
    # Anything the envelope itself printed before the frame (a shell warning, say) is not frame text.
    frame_tail = output[:cut][-size:] if size else b""
    millis = match.group("ms")
    return Trailer(missing=[], size=size, sha256=match.group("sha").decode(),
                   spool=spool.decode() if spool else None, frame_tail=frame_tail,
                   run_seconds=int(millis) / 1000 if millis else None)


def decode_frame(frame_text: bytes, expected_sha256: str) -> Frame:
    """Verify and unpack a frame into rc, stdout and stderr (byte-exact)."""
    if hashlib.sha256(frame_text).hexdigest() != expected_sha256:
        raise TransportError("the result frame failed its sha256 check (corrupted or incomplete output)")
    try:
        raw = gzip.decompress(base64.b64decode(frame_text, validate=True))
    except (ValueError, OSError) as error:
        raise TransportError(f"the result frame could not be decoded: {error}") from None
    header, sep, body = raw.partition(b"\n")
    fields = header.split(b" ")
    if not sep or len(fields) != 4 or fields[0] != FRAME_MAGIC:
        raise TransportError("the result frame has no valid header")
    rc, out_len, err_len = (int(value) for value in fields[1:])
    if len(body) != out_len + err_len:
        raise TransportError("the result frame's lengths do not match its content")
    return Frame(rc=rc, stdout=body[:out_len], stderr=body[out_len:])


def missing_ranges(trailer: Trailer) -> list[tuple[int, int]]:
    """(offset, length) pages of the frame text that the capped output did not carry."""
    missing = trailer.size - len(trailer.frame_tail)
    return [(offset, min(OUTPUT_PAGE_BYTES, missing - offset))
            for offset in range(0, max(missing, 0), OUTPUT_PAGE_BYTES)]


def _describe_garbage(output: bytes) -> str:
    preview = output[-400:].decode("utf-8", "replace")
    return f"the instance did not answer with a result frame; its output ended with: {preview!r}"
