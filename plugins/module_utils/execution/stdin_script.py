# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shell code that rebuilds the command's stdin on the instance from a StdinPlan, and checks it.

Inline parts are written from the script itself; staged chunks (file_transfer) are waited for, checked
and reported missing when they do not come; a module payload may be rebuilt from the copy of its
predecessor the instance keeps (REBUILD_PY), with its arguments spliced back in.
"""

from __future__ import annotations

import shlex
import typing as t

from .prune_script import prune_script
from .staging_dir import claim_script, refused_trailer
from .stdin_plan import ArgsSplice, BaseEdit, StdinPart, StdinPlan

CHUNK_WAIT_SECONDS = 60            # how long a script waits for freshly sent chunks to land
STALL_SECONDS = 10                 # ... unless no chunk at all has landed for this long
MISSING_REPORT_LIMIT = 200         # missing chunk names one report lists (it must fit the output's tail)


def _assemble_function(plan: StdinPlan) -> tuple[str, str]:
    """Shell code writing inline parts, and a function ``_a`` that rebuilds and verifies stdin.

    Every part is a gzip member, so ``gzip -dc`` over the parts in order restores the bytes.
    """
    if plan.from_base:
        return "", _rebuild_function(plan)
    lines, files = _unpack_parts(plan.parts, "p")
    check = _sha256_check(plan)
    if plan.manifest:
        names = " ".join(plan.manifest)
        body = (f"(cd \"$_c\" && gzip -dc -- {names}) > \"$_d/m\" 2>/dev/null || return 1\n"
                f"  while IFS= read -r _h; do {REGULAR_CHUNK} || return 1; done < \"$_d/m\"\n"
                "  (cd \"$_c\" && tr '\\n' '\\000' < \"$_d/m\" | xargs -0 gzip -dc --) > \"$_d/in\" 2>/dev/null"
                " || return 1\n")
    else:
        body = _gunzip(files, any(part.chunk for part in plan.parts), "\"$_d/in\"") + " || return 1\n"
    if plan.splice:
        spliced_lines, body = _spliced(plan.splice, body)
        lines.append(spliced_lines)
    return "".join(lines), f"_a() {{\n  {body}  {check}\n}}\n"


def _unpack_parts(parts: t.Sequence[StdinPart], prefix: str) -> tuple[list[str], list[str]]:
    """Shell lines writing each inline part to ``$_d/<prefix><index>``, and every part's file in order: those
    files, or the chunk names (relative to the chunk directory ``$_c``)."""
    lines, files = [], []
    for index, part in enumerate(parts):
        if part.inline is not None:
            lines.append(f"printf '%s' '{part.inline}' | base64 -d > \"$_d/{prefix}{index}\" || exit 96\n")
            files.append(f"\"$_d/{prefix}{index}\"")
        else:
            files.append(str(part.chunk))
    return lines, files


def _gunzip(files: t.Sequence[str], staged: bool, target: str) -> str:
    """``gzip -dc`` of ``files`` (see _unpack_parts) into ``target``; from the chunk directory when some are staged."""
    if staged:
        return f"(cd \"$_c\" && gzip -dc -- {' '.join(files)}) > {target} 2>/dev/null"
    return f"gzip -dc -- {' '.join(files)} > {target}"


def _spliced(splice: ArgsSplice, body: str) -> tuple[str, str]:
    """Inline argument parts, and ``body`` turned into: rebuild the scrubbed payload into ``$_d/s`` (kept as the
    base), the arguments into ``$_d/g``, and stdin from both (checked by the sha256 after it)."""
    lines, files = _unpack_parts(splice.parts, "g")
    unpack = _gunzip(files, bool(splice.chunks()), "\"$_d/g\"")
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


def stdin_script(plan: StdinPlan) -> str:
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
        prune_script(plan.prune) if plan.prune else "",
    ))


def _keep_base(plan: StdinPlan) -> str:
    """Keep the rebuilt stdin for the next payload of the same module to be sent as a delta (best
    effort: a copy that is missing or wrong later costs one round trip, and is never used unchecked)."""
    if not plan.keep_as:
        return ""
    drop = f"; rm -f \"$_c/{plan.drop}\"" if plan.drop and plan.drop != plan.keep_as else ""
    kept = "$_d/s" if plan.splice else "$_d/in"  # a module payload is kept scrubbed: without its arguments
    return f"cp \"{kept}\" \"$_c/{plan.keep_as}\" 2>/dev/null{drop}\n"
