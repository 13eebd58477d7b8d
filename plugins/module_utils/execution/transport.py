# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The connection's script envelope: stdin in, exact stdout/stderr/rc out, through one RunCommand.

Cloud Assistant merges stdout and stderr into one output capped at 24 KB (tail kept). So the
script runs the command with both streams captured apart and prints a single frame —
``base64(gzip("ACE1 rc outlen errlen\\n" + stdout + stderr))``, without the gzip when a large output
does not compress — followed by a trailer line. The
trailer comes last because the API keeps the tail: it always survives, and says how long the frame
is, its sha256, and where the frame was spooled on the instance when it did not fit one page.
Only POSIX sh and coreutils are needed on the instance, so ``raw`` works without Python.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import re
import shlex
import typing as t
import zlib
from dataclasses import dataclass, field

from .staging_dir import REFUSED_MARK, claim_script, refused_trailer

FRAME_MAGIC = b"ACE1"
OUTPUT_PAGE_BYTES = 24576          # the API's output cap; a page read never exceeds it
TAIL_BYTES = OUTPUT_PAGE_BYTES - 512  # frame bytes a spooled answer carries itself (room for the trailer)
PAGE_SUFFIX_LENGTH = 4             # split's suffix letters: 26**4 pages, 11 GB of frame
INLINE_BUDGET = 12 * 1024          # packed stdin bytes a script may carry inline
CHUNK_WAIT_SECONDS = 60            # how long a script waits for freshly sent chunks to land
STALL_SECONDS = 10                 # ... unless no chunk at all has landed for this long
MISSING_REPORT_LIMIT = 200         # missing chunk names one report lists (it must fit the output's tail)
DECODE_BLOCK = 1 << 20             # Base64 characters decoded at a time (a multiple of 4)
TRAILER_RE = re.compile(
    rb"<<ACE1 (?:missing=(?P<missing>[0-9a-z.,+]+)|" + REFUSED_MARK.encode() + rb"=(?P<refused>[^\n>]+)|size=(?P<size>\d+) sha256=(?P<sha>[0-9a-f]{64})"
    rb"(?: ms=(?P<ms>\d*))?(?: gz=(?P<gz>[01]))?(?: spool=(?P<spool>\S+) head=(?P<head>\d+))?)>>\n?\Z")
# A standard output above this many bytes is gzipped only if a sample of its start shrinks below RAW_RATIO:
# gzip spends about half a second on 20 MB of random bytes and saves nothing.
RAW_AFTER = 1 << 20
RAW_SAMPLE = 256 * 1024
RAW_RATIO = 0.9


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


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def pack_inline(data: bytes) -> str:
    """Base64 of gzip(data): how bytes ride inside the script."""
    return _b64(gzip.compress(data, compresslevel=6, mtime=0))


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


PRUNE_EVERY_MINUTES = 60
# Work directories the envelope, the full-output wrapper and the become helper create (directory, name pattern); a
# script killed before its exit trap (a timeout's ProcessTree kill) leaves them behind.
STRAY_WORK_DIRS = (("${TMPDIR:-/tmp}", ".alicloud-ecs.*"), ("${TMPDIR:-/tmp}", ".alicloud-ecs-spool.*"),
                   ("${TMPDIR:-/tmp}", ".alicloud-ecs-run.*"), ("/dev/shm", ".alicloud-ecs-b.*"))


def _stray_script(minutes: int) -> str:
    """Remove stray work directories older than ``minutes``: only real directories (find never follows a link)
    that the running user owns, since any user can create those names in /tmp; rm -rf does not follow links
    inside them either. One find per place."""
    places: dict[str, list[str]] = {}
    for directory, pattern in STRAY_WORK_DIRS:
        places.setdefault(directory, []).append(pattern)
    lines = ["  _u=$(id -u)\n"]  # (inside the pruning's subshell, whose working directory is the staging directory)
    for directory, patterns in places.items():
        names = " -o ".join(f"-name '{pattern}'" for pattern in patterns)
        lines.append(f"  find \"{directory}/.\" -mindepth 1 -maxdepth 1 \\( {names} \\) -type d -user \"$_u\""
                     f" -mmin +{minutes} -exec rm -rf {{}} + 2>/dev/null\n")
    return "".join(lines)


def _prune_script(limits: StagingLimits) -> str:
    """Prune the chunk directory ``$_c`` and stray work directories, by age, then the chunks by size (oldest first).

    Pruning only costs round trips later: a chunk or kept payload the controller still counts on is reported
    missing and sent again. ``$_c`` has been claimed (see staging_dir.claim_script): a real directory of the
    running user, so the stamp and everything removed are inside it; the stamp is replaced if it is anything
    but a regular file (touch would follow a symlink), and only regular files are measured (opening a FIFO
    would hang).
    """
    minutes = limits.max_age_hours * 60
    budget_kb = limits.max_size_mb * 1024
    return (
        "_ps=\"$_c/.pruned\"\n"
        "{ [ -L \"$_ps\" ] || { [ -e \"$_ps\" ] && [ ! -f \"$_ps\" ]; }; } && rm -rf \"$_ps\"\n"
        # touch, not a redirection: a failed redirection of a special builtin ends a POSIX shell.
        f"if [ -z \"$(find \"$_ps\" -mmin -{PRUNE_EVERY_MINUTES} 2>/dev/null)\" ] && touch \"$_ps\" 2>/dev/null; then\n"
        "  chmod 0700 \"$_c\"\n"
        # find -exec gives up when it cannot return to its starting directory (a user's command may start in a
        # directory it cannot read): the removals run from inside the staging directory, in a subshell.
        "  (cd \"$_c\" || exit\n"
        f"  find . -mindepth 1 -maxdepth 1 ! -type d ! -name .pruned -mmin +{minutes} -exec rm -f {{}} +\n"
        f"{_stray_script(minutes)}  ) 2>/dev/null\n"
        "  _kb=$(du -sk \"$_c\" 2>/dev/null | cut -f1)\n"
        f"  if [ \"${{_kb:-0}}\" -gt {budget_kb} ]; then\n"
        f"    _over=$(( (_kb - {budget_kb}) * 1024 ))\n"
        # Chunk names are hex digests (and .base): safe to split on whitespace.
        "    for _f in $(ls -tr \"$_c\"); do\n"
        "      [ \"$_over\" -gt 0 ] || break\n"
        "      [ -f \"$_c/$_f\" ] && [ ! -L \"$_c/$_f\" ] && [ \"$_f\" != .pruned ] || continue\n"
        "      _over=$((_over - $(wc -c < \"$_c/$_f\"))); rm -f \"$_c/$_f\"\n"
        "    done\n"
        "  fi\n"
        "fi\n"
    )


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


@dataclass(frozen=True)
class BecomeAnswer:
    """A become password, to be given on the instance only to the become plugin's own prompt.

    ``prompt`` is the exact prompt text the become command asks with (sudo's ``-p``), ``success`` the
    marker the escalated command prints before anything else. The password never joins the command's
    stdin: the envelope holds stdin back until either the prompt shows on stderr (then the password
    goes, once) or the success marker on stdout (then stdin goes).
    """

    password: bytes = field(repr=False)
    prompt: str
    success: str
    # ``{{oos-secret:NAME}}`` of a secret parameter holding Base64(password) (become_store): the script carries
    # this reference instead of the password, the agent replaces it on the instance (EnableParameter=true).
    reference: str = ""


# The become helper: the command reads a FIFO; the envelope watches the command's stderr for the prompt and its
# stdout for the success marker (both plain files, as the envelope captures them anyway). A second prompt means a
# wrong password: nothing more is written, sudo reads EOF and fails. The password file sits in a 0700 directory on
# tmpfs (/dev/shm) where there is one, is removed once read, and the whole directory at exit.
BECOME_POLL_SECONDS = "0.02"
# A question that is not the expected prompt (PAM asking for a "Verification code:", or for the current password of
# an expired one, in its own words) would wait for an answer until the command's timeout. It shows as stderr that
# ends in neither a newline nor the expected prompt (that one is being answered), unchanged for this many polls (at
# least 2 s) while the command waits and no success marker came: the envelope stops the command and appends
# BECOME_UNANSWERED.
BECOME_STALL_POLLS = 100
BECOME_UNANSWERED = "[alicloud.ecs envelope] become prompt not answered"


def _become_run(become: BecomeAnswer) -> str:
    prompt = shlex.quote(become.prompt)
    success = shlex.quote(become.success)
    prompt_bytes = len(become.prompt.encode("utf-8"))
    return (
        "_b=$(mktemp -d /dev/shm/.alicloud-ecs-b.XXXXXXXX 2>/dev/null || mktemp -d \"$_d/b.XXXXXXXX\") || exit 97\n"
        f"printf '%s' '{become.reference or _b64(become.password)}' | base64 -d > \"$_b/p\" && mkfifo \"$_b/i\" "
        "|| exit 97\n"
        ": > \"$_d/out\"; : > \"$_d/err\"\n"
        # stderr in append mode: the envelope's own note (BECOME_UNANSWERED) never lands under the command's writes.
        "/bin/sh -c \"$_cmd\" < \"$_b/i\" > \"$_d/out\" 2>> \"$_d/err\" &\n"
        "_pid=$!\n"
        "exec 4> \"$_b/i\"\n"
        "_asked=0; _size=0; _still=0\n"
        "while :; do\n"
        f"  if grep -qF -- {success} \"$_d/out\"; then (cat \"$_d/in\") >&4 2>/dev/null; break; fi\n"
        f"  if [ \"$(grep -oF -- {prompt} \"$_d/err\" | wc -l)\" -gt \"$_asked\" ]; then\n"
        "    [ \"$_asked\" -eq 0 ] || break\n"
        "    (cat \"$_b/p\"; echo) >&4 2>/dev/null; rm -f \"$_b/p\"; _asked=1\n"
        "  fi\n"
        "  kill -0 \"$_pid\" 2>/dev/null || break\n"
        "  _n=$(wc -c < \"$_d/err\")\n"
        "  if [ \"$_n\" -gt 0 ] && [ \"$_n\" -eq \"$_size\" ]; then _still=$((_still + 1)); else _still=0; fi\n"
        "  _size=$_n\n"
        f"  if [ \"$_still\" -ge {BECOME_STALL_POLLS} ] && [ -n \"$(tail -c 1 \"$_d/err\")\" ] && "
        f"[ \"$(tail -c {prompt_bytes} \"$_d/err\")\" != {prompt} ] && ! grep -qF -- {success} \"$_d/out\"; then\n"
        f"    printf '\\n%s\\n' {shlex.quote(BECOME_UNANSWERED)} >> \"$_d/err\"; kill \"$_pid\" 2>/dev/null; break\n"
        "  fi\n"
        f"  sleep {BECOME_POLL_SECONDS}\n"
        "done\n"
        "exec 4>&-\n"
        "rm -f \"$_b/p\"\n"
        "wait \"$_pid\"\n"
    )


def unanswered_prompt(err: bytes, prompt: str) -> str | None:
    """What the become command last asked before the envelope stopped it for asking something other than
    ``prompt`` (BECOME_UNANSWERED): its last line, minus an answered ``prompt`` on the same line (a prompt ends
    in no newline). None when the envelope did not stop it."""
    marker = BECOME_UNANSWERED.encode()
    if marker not in err:
        return None
    before = err.split(marker, 1)[0].decode("utf-8", "replace")
    lines = [line.strip() for line in before.splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    return last.rsplit(prompt.strip(), 1)[-1].strip()[-200:] if prompt.strip() else last[-200:]


def _assemble_function(plan: StdinPlan) -> tuple[str, str]:
    """Shell code writing inline parts, and a function ``_a`` that rebuilds and verifies stdin.

    Every part is a gzip member, so ``gzip -dc`` over the parts in order restores the bytes.
    """
    if plan.from_base:
        return "", _rebuild_function(plan)
    lines = []
    files = []
    for index, part in enumerate(plan.parts):
        if part.inline is not None:
            lines.append(f"printf '%s' '{part.inline}' | base64 -d > \"$_d/p{index}\" || exit 96\n")
            files.append(f"\"$_d/p{index}\"")
        else:
            files.append(str(part.chunk))
    check = _sha256_check(plan)
    if plan.manifest:
        names = " ".join(plan.manifest)
        body = (f"(cd \"$_c\" && gzip -dc -- {names}) > \"$_d/m\" 2>/dev/null || return 1\n"
                f"  while IFS= read -r _h; do {REGULAR_CHUNK} || return 1; done < \"$_d/m\"\n"
                "  (cd \"$_c\" && tr '\\n' '\\000' < \"$_d/m\" | xargs -0 gzip -dc --) > \"$_d/in\" 2>/dev/null"
                " || return 1\n")
    elif any(part.chunk for part in plan.parts):
        body = f"(cd \"$_c\" && gzip -dc -- {' '.join(files)}) > \"$_d/in\" 2>/dev/null || return 1\n"
    else:
        body = f"gzip -dc -- {' '.join(files)} > \"$_d/in\" || return 1\n"
    if plan.splice:
        spliced_lines, body = _spliced(plan.splice, body)
        lines.append(spliced_lines)
    return "".join(lines), f"_a() {{\n  {body}  {check}\n}}\n"


def _spliced(splice: ArgsSplice, body: str) -> tuple[str, str]:
    """Inline argument parts, and ``body`` turned into: rebuild the scrubbed payload into ``$_d/s`` (kept as the
    base), the arguments into ``$_d/g``, and stdin from both (checked by the sha256 after it)."""
    lines, files = [], []
    for index, part in enumerate(splice.parts):
        if part.inline is not None:
            lines.append(f"printf '%s' '{part.inline}' | base64 -d > \"$_d/g{index}\" || exit 96\n")
            files.append(f"\"$_d/g{index}\"")
        else:
            files.append(str(part.chunk))
    unpack = (f"(cd \"$_c\" && gzip -dc -- {' '.join(files)}) > \"$_d/g\" 2>/dev/null" if splice.chunks()
              else f"gzip -dc -- {' '.join(files)} > \"$_d/g\"")
    rebuild = body.replace('> "$_d/in"', '> "$_d/s"')
    return "".join(lines), rebuild + (
        f"  {unpack} || return 1\n"
        f"  {{ head -c {splice.offset} \"$_d/s\" && cat \"$_d/g\" && tail -c +{splice.offset + splice.skip + 1} \"$_d/s\"; }}"
        " > \"$_d/in\" || return 1\n")


def _sha256_check(plan: StdinPlan) -> str:
    # Inline-only stdin is checked by gzip's CRC; assembled chunks also by the sha256 of the whole.
    return f"[ \"$(sha256sum < \"$_d/in\" | cut -c1-64)\" = {plan.sha256} ]" if plan.sha256 else "true"


# Applies a BaseEdit: argv = base, packed middle, packed edit list, packed edit bytes, output, prefix,
# resume, sha256, keep-as path, drop path, then for an ArgsSplice its offset, its skip and its parts
# ("i:" + packed bytes, or "f:" + chunk path). It runs under the payload's own interpreter (only module
# payloads are kept as bases), which is one process for the whole rebuild: unpacking the inline parts,
# every edit, splicing the arguments into the rebuilt (scrubbed) payload, the sha256 check of the real
# stdin and keeping the scrubbed payload as the next base (written aside, then renamed, so a copy is
# never seen half written). It imports only builtin modules: hashlib's OpenSSL binding
# alone doubles the start-up. Python 2.7 and 3 alike; no single quotes (it sits in sh '').
REBUILD_PY = """import sys, os, zlib, binascii
try:
    from _sha256 import sha256
except ImportError:
    try:
        from _sha2 import sha256
    except ImportError:
        from hashlib import sha256
a = sys.argv
def z(x):
    r = b""
    while x:
        m = zlib.decompressobj(31)
        r += m.decompress(x)
        x = m.unused_data
    return r
def u(x):
    return z(binascii.a2b_base64(x))
b = open(a[1], "rb").read()
d = bytearray(b[:int(a[6])]) + u(a[2]) + b[int(a[7]):]
e = u(a[4])
s = 0
for line in u(a[3]).splitlines():
    o, n = [int(x) for x in line.split()]
    d[o:o + n] = e[s:s + n]
    s += n
d = bytes(d)
r = d
if len(a) > 11:
    o = int(a[11])
    g = b"".join([u(p[2:]) if p[:2] == "i:" else z(open(p[2:], "rb").read()) for p in a[13:]])
    r = d[:o] + g + d[o + int(a[12]):]
if sha256(r).hexdigest() != a[8]:
    sys.exit(1)
open(a[5], "wb").write(r)
if a[9]:
    try:
        open(a[9] + ".part", "wb").write(d)
        os.rename(a[9] + ".part", a[9])
        if a[10] and a[10] != a[9]:
            os.remove(a[10])
    except EnvironmentError:
        pass
"""


def _rebuild_function(plan: StdinPlan) -> str:
    """``_a``: rebuild stdin from the kept base (see REBUILD_PY), check it and keep it as the next base."""
    edit = t.cast(BaseEdit, plan.from_base)
    base = f"\"$_c/{edit.base}\""
    interpreter = " ".join(shlex.quote(word) for word in edit.interpreter)
    keep = f"\"$_c/{plan.keep_as}\"" if plan.keep_as else "''"
    drop = f"\"$_c/{plan.drop}\"" if plan.drop else "''"
    return (
        "_a() {\n"
        f"  [ -f {base} ] || return 1\n"
        f"  {interpreter} -S -c '{REBUILD_PY}' {base} {edit.middle} {edit.edits} {edit.patch} \"$_d/in\""
        f" {edit.prefix} {edit.resume} {plan.sha256} {keep} {drop}{_splice_arguments(plan)} 2>/dev/null\n"
        "}\n")


def _splice_arguments(plan: StdinPlan) -> str:
    """REBUILD_PY's arguments for the ArgsSplice, if any."""
    if not plan.splice:
        return ""
    parts = " ".join(f"i:{part.inline}" if part.inline is not None else f"\"f:$_c/{part.chunk}\""
                     for part in plan.splice.parts)
    return f" {plan.splice.offset} {plan.splice.skip} {parts}"


# A chunk is only ever read when it is a regular file and not a symlink: a FIFO would hang the reader, a link
# would read (and, kept as a base, copy) whatever it points at. It counts as missing and is staged again.
REGULAR_CHUNK = "[ -f \"$_c/$_h\" ] && [ ! -L \"$_c/$_h\" ]"


def _missing_function(plan: StdinPlan) -> str:
    """A function ``_l`` that lists missing chunks into ``_m`` — at most MISSING_REPORT_LIMIT names,
    then ``+`` — so the report always fits the tail of the output the API keeps. ``+`` also follows
    missing manifest chunks: without the manifest the data chunks cannot be checked."""
    named = plan.manifest or [part.chunk for part in plan.parts if part.chunk]
    listed = " ".join([*(named or ([plan.from_base.base] if plan.from_base else [])), *(plan.splice.chunks() if plan.splice else [])])
    manifest = (
        "  [ -n \"$_m\" ] && { _m=\"$_m,+\"; return 0; }\n"
        "  while IFS= read -r _h; do\n"
        f"    {REGULAR_CHUNK} && continue\n"
        f"    _k=$((_k+1)); if [ $_k -gt {MISSING_REPORT_LIMIT} ]; then _m=\"$_m,+\"; break; fi\n"
        "    _m=\"$_m,$_h\"\n"
        "  done < \"$_d/m\"\n") if plan.manifest else ""
    return (
        "_l() {\n"
        "  _m=''; _k=0\n"
        f"  for _h in {listed}; do {REGULAR_CHUNK} || _m=\"$_m,$_h\"; done\n"
        f"{manifest}"
        "  [ -n \"$_m\" ] || _m=',unverified'\n"
        "}\n"
        # _v: every named chunk is there and may be read (see REGULAR_CHUNK), checked before each rebuild.
        f"_v() {{ for _h in {listed}; do {REGULAR_CHUNK} || return 1; done; }}\n")


def _stdin_script(plan: StdinPlan) -> str:
    """Rebuild stdin from its parts, in order, and verify the whole by sha256.

    Staged chunks arrive asynchronously (SendFile), so the script waits for them; if they have not
    all arrived and matched after ``wait_seconds`` (or nothing landed for STALL_SECONDS) it reports
    which are missing and stops before running anything: the controller sends them again and
    reruns. When nothing was sent for this run (every chunk was believed present), a missing chunk
    means a stale controller cache, and waiting would not help: the report comes at once.
    """
    inline, assemble = _assemble_function(plan)
    wait = CHUNK_WAIT_SECONDS if plan.wait_seconds is None else plan.wait_seconds
    if not plan.manifest and not plan.from_base and not any(part.chunk for part in plan.parts) \
            and not (plan.splice.chunks() if plan.splice else []):
        return inline + assemble + "_a || exit 96\n"
    # A manifest's chunks belong to one large transfer: once it is rebuilt they are removed, so
    # the instance's disk (and the controller's memory of it) does not grow with every big file.
    done_with = ("(cd \"$_c\" && tr '\\n' '\\000' < \"$_d/m\" | xargs -0 rm -f -- "
                 f"{' '.join(plan.manifest)})\n") if plan.manifest else ""
    # Chunk names are hex digests: safe unquoted in the exit trap's rm.
    release = f"_r='{' '.join(plan.release)}'\n" if plan.release else ""
    return "".join((
        inline, assemble, _missing_function(plan),
        claim_script(plan.chunk_dir, refused_trailer()),
        "_n=0; _seen=''; _still=0\n",
        release,
        "until _v && _a; do\n"
        # Chunks in flight keep landing; when none has landed for a while, the rest is not coming.
        "  _now=$(ls \"$_c\" 2>/dev/null | wc -l)\n"
        "  if [ \"$_now\" = \"$_seen\" ]; then _still=$((_still+1)); else _still=0; _seen=$_now; fi\n"
        f"  if [ $_n -ge {wait * 10} ] || [ $_still -ge {STALL_SECONDS * 10} ]; then\n"
        "    _l; printf '\\n<<ACE1 missing=%s>>\\n' \"${_m#,}\"; exit 0\n"
        "  fi\n"
        "  sleep 0.1; _n=$((_n+1))\n"
        "done\n",
        done_with, "" if plan.from_base else _keep_base(plan),
        _prune_script(plan.prune) if plan.prune else "",
    ))


def _keep_base(plan: StdinPlan) -> str:
    """Keep the rebuilt stdin for the next payload of the same module to be sent as a delta (best
    effort: a copy that is missing or wrong later costs one round trip, and is never used unchecked)."""
    if not plan.keep_as:
        return ""
    drop = f"; rm -f \"$_c/{plan.drop}\"" if plan.drop and plan.drop != plan.keep_as else ""
    kept = "$_d/s" if plan.splice else "$_d/in"  # a module payload is kept scrubbed: without its arguments
    return f"cp \"{kept}\" \"$_c/{plan.keep_as}\" 2>/dev/null{drop}\n"


def build_run_script(command: bytes, stdin: StdinPlan | None = None, become: BecomeAnswer | None = None) -> str:
    """The shell script that restores stdin, runs ``command`` and prints the framed result.

    With ``become``, the password is given only to the become prompt (see BecomeAnswer).

    A frame larger than one page is split on the instance into page files of OUTPUT_PAGE_BYTES
    (all but its last TAIL_BYTES, which this output carries): the controller reads them back,
    several at once, and each read removes its page (the last one the directory).
    """
    restore = _stdin_script(stdin) if stdin else ": > \"$_d/in\"\n"
    run = _become_run(become) if become else "/bin/sh -c \"$_cmd\" < \"$_d/in\" > \"$_d/out\" 2> \"$_d/err\"\n"
    return (
        "#!/bin/sh\n"
        "# alicloud.ecs cloud_assistant envelope v2\n"
        "umask 077\n"
        "_d=$(mktemp -d \"${TMPDIR:-/tmp}/.alicloud-ecs.XXXXXXXX\") || exit 97\n"
        # _b: the become helper's tmpfs directory; _r: what a no_log task staged. Both go, however the script ends.
        "_b=''; _r=''\n"
        "trap 'rm -rf \"$_d\" ${_b:+\"$_b\"}; [ -z \"$_r\" ] || (cd \"$_c\" && rm -f -- $_r)' EXIT\n"
        f"{restore}"
        # The command's own run time (stdin restored, chunk waits excluded) aims the controller's polls.
        "_t0=$(date +%s%N 2>/dev/null)\n"
        f"_cmd=$(printf '%s' '{_b64(command)}' | base64 -d)\n"
        f"{run}"
        "_rc=$?\n"
        # One wc for both lengths (every process costs the instance about a millisecond).
        "set -- $(cd \"$_d\" && wc -c out err)\n"
        "_o=$1; _e=$3; _gz=1\n"
        f"[ \"$_o\" -gt {RAW_AFTER} ] && [ \"$(head -c {RAW_SAMPLE} \"$_d/out\" | gzip -1 | wc -c)\" -gt "
        f"{int(RAW_SAMPLE * RAW_RATIO)} ] && _gz=0\n"
        "if [ $_gz = 1 ]; then\n"
        "  { printf 'ACE1 %d %d %d\\n' \"$_rc\" \"$_o\" \"$_e\"; cat \"$_d/out\" \"$_d/err\"; } | gzip -c | base64 -w0 > \"$_d/frame\"\n"
        "else\n"
        "  { printf 'ACE1 %d %d %d\\n' \"$_rc\" \"$_o\" \"$_e\"; cat \"$_d/out\" \"$_d/err\"; } | base64 -w0 > \"$_d/frame\"\n"
        "fi\n"
        "set -- $(wc -c < \"$_d/frame\") $(sha256sum < \"$_d/frame\")\n"
        "_size=$1; _sha=$2\n"
        # Run time in ms where date knows %N (GNU); empty elsewhere. It tunes the controller's polling.
        "_ms=''; case \"$_t0\" in *[!0-9]*|'') ;; *) _ms=$(( ($(date +%s%N) - _t0) / 1000000 ));; esac\n"
        f"if [ \"$_size\" -gt {TAIL_BYTES} ]; then\n"
        f"  _head=$((_size - {TAIL_BYTES}))\n"
        # A large answer: free what the frame already holds before the spool copies it.
        "  rm -f \"$_d/in\" \"$_d/out\" \"$_d/err\"\n"
        "  _s=$(mktemp -d \"${TMPDIR:-/tmp}/.alicloud-ecs-spool.XXXXXXXX\") &&\n"
        f"    head -c \"$_head\" \"$_d/frame\" | split -a {PAGE_SUFFIX_LENGTH} -b {OUTPUT_PAGE_BYTES} - \"$_s/p\" || exit 98\n"
        f"  tail -c {TAIL_BYTES} \"$_d/frame\"\n"
        "  printf '\\n<<ACE1 size=%s sha256=%s ms=%s gz=%s spool=%s head=%s>>\\n' \"$_size\" \"$_sha\" \"$_ms\" \"$_gz\" \"$_s\" \"$_head\"\n"
        "else\n"
        "  cat \"$_d/frame\"; printf '\\n<<ACE1 size=%s sha256=%s ms=%s gz=%s>>\\n' \"$_size\" \"$_sha\" \"$_ms\" \"$_gz\"\n"
        "fi\n"
    )


def page_name(index: int) -> str:
    """The file ``split -a PAGE_SUFFIX_LENGTH`` writes for page ``index``: p + base-26 letters."""
    letters = []
    for _position in range(PAGE_SUFFIX_LENGTH):
        index, digit = divmod(index, 26)
        letters.append(chr(ord("a") + digit))
    return "p" + "".join(reversed(letters))


def build_page_script(spool: str, index: int, removes: t.Sequence[int] | None = None) -> str:
    """Print page ``index`` of a spooled frame, then remove the pages ``removes`` (by default the page
    itself); whichever script removes the last page takes the directory too.

    With nothing to remove the script is ``exec cat``: one process on the instance instead of three,
    which is most of a page read's cost there (the page reader removes pages a round at a time).
    """
    path = shlex.quote(f"{spool}/{page_name(index)}")
    removes = (index,) if removes is None else removes
    if not removes:
        return f"#!/bin/sh\nexec cat {path}\n"
    names = " ".join(page_name(page) for page in removes)
    quoted = shlex.quote(spool)
    return f"#!/bin/sh\ncat {path}; cd {quoted} && rm -f {names}; cd /; rmdir {quoted} 2>/dev/null; exit 0\n"


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
