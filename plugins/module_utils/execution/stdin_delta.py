# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A module payload as the few bytes that turn the previous payload of the same module into it.

ansible-core builds each module's zip afresh in every ansible-playbook process and stamps every zip
entry with that moment: two runs of one module from two playbook runs differ in about a hundred
bytes scattered over the whole payload (docs/connection.md gives an example). Content-addressed
chunks cannot share such data (every chunk differs), so without this every playbook run would send
every module again. Instead the instance keeps the last payload of
each module (its "base") and the next one travels as a splice and a list of small edits against it,
inline in the RunCommand.

A payload also holds the task's arguments, among them a module's own no_log options (a get_url
``url_password``) that the connection cannot see. So what is kept, on the instance and in the
controller's cache, is the payload with its arguments cut out (``split_arguments``): the deltas run
between such scrubbed payloads, and the arguments travel with each task and are spliced back in on
the instance, never written where they would stay.
"""

from __future__ import annotations

import ast
import json
import re
import typing as t
from dataclasses import dataclass

BLOCK = 256        # bytes compared at a time while looking for differences
EDIT_GAP = 32      # differences this close together become one edit (fewer offsets to list)
# The AnsiballZ wrapper of ansible-core >= 2.19 names its module near the top (before the zip); the wrapper of
# 2.17 and 2.18 names it where it runs it, after the zip (in the payload's last few KB).
MODULE_NAME_RE = re.compile(rb"\nmodule_fqn='([A-Za-z0-9_.]+)',\n")
OLDER_MODULE_NAME_RE = re.compile(rb"\n *runpy\.run_module\(mod_name='([A-Za-z0-9_.]+)', init_globals=dict\(")
MODULE_NAME_WINDOW = 64 * 1024
# Every AnsiballZ payload carries its arguments as the JSON text {"ANSIBLE_MODULE_ARGS": {...}}, written into
# the wrapper as one Python string literal (repr, so one line): ansible-core >= 2.19 as the wrapper call's
# ``params='...',`` line, 2.17 and 2.18 as ``    ANSIBALLZ_PARAMS = '...'`` in the template (both in
# lib/ansible/executor/module_common.py). The zip itself never holds them.
ARGUMENTS_KEY = b"ANSIBLE_MODULE_ARGS"
ARGUMENT_LINES = (
    re.compile(rb"\nparams=('(?:[^'\\\n]|\\.)*'),\n"),
    re.compile(rb"\n    ANSIBALLZ_PARAMS = ('(?:[^'\\\n]|\\.)*')\n"),
)
# What stands in the kept payload where the arguments were (never run: only the spliced payload is).
ARGS_PLACEHOLDER = b"'alicloud.ecs: the arguments travel with each task'"


def module_name(stdin: bytes | None) -> str | None:
    """The module an AnsiballZ payload runs, or None for any other stdin.

    Only a payload that starts with its interpreter line counts: stdin with a become password in
    front of it must never be kept on the instance.
    """
    if not stdin or not stdin.startswith(b"#!"):
        return None
    found = MODULE_NAME_RE.search(stdin, 0, MODULE_NAME_WINDOW)
    found = found or OLDER_MODULE_NAME_RE.search(stdin, max(0, len(stdin) - MODULE_NAME_WINDOW))
    return found.group(1).decode("ascii") if found else None


def carries_arguments(stdin: bytes | None) -> bool:
    """Whether ``stdin`` may hold a module's arguments (then it is kept only scrubbed, or not at all)."""
    return bool(stdin) and ARGUMENTS_KEY in t.cast(bytes, stdin)


@dataclass(frozen=True)
class ArgumentSplit:
    """A payload as its scrubbed form (what may be kept) and its arguments (what may not).

    The payload is ``scrubbed[:offset] + arguments + scrubbed[offset + len(ARGS_PLACEHOLDER):]``.
    """

    scrubbed: bytes
    arguments: bytes
    offset: int

    @property
    def skip(self) -> int:
        """Bytes of the placeholder the arguments replace."""
        return len(ARGS_PLACEHOLDER)

    def payload(self) -> bytes:
        """The real payload (the reference for what the instance splices)."""
        return self.scrubbed[:self.offset] + self.arguments + self.scrubbed[self.offset + self.skip:]


def split_arguments(stdin: bytes) -> ArgumentSplit | None:
    """The payload with its arguments cut out, or None when they cannot be found with certainty.

    Certain means: exactly one arguments line of a known shape, holding a Python string literal whose
    text is JSON with the arguments key as its only key, and no other mention of that key anywhere in
    the payload. Anything else (another generation of the wrapper, a hand-made payload) is None, and the
    caller keeps nothing of that stdin.
    """
    if not stdin.startswith(b"#!") or stdin.count(ARGUMENTS_KEY) != 1:
        return None
    found = [match for pattern in ARGUMENT_LINES for match in pattern.finditer(stdin)]
    if len(found) != 1:
        return None
    start, end = found[0].span(1)
    literal = stdin[start:end]
    if ARGUMENTS_KEY not in literal or not _is_arguments_literal(literal):
        return None
    scrubbed = stdin[:start] + ARGS_PLACEHOLDER + stdin[end:]
    return ArgumentSplit(scrubbed=scrubbed, arguments=literal, offset=start)


def _is_arguments_literal(literal: bytes) -> bool:
    """``literal`` is a Python string literal of JSON ``{"ANSIBLE_MODULE_ARGS": ...}`` and nothing else."""
    try:
        text = ast.literal_eval(literal.decode("utf-8"))
        params = json.loads(text) if isinstance(text, str) else None
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return False
    return isinstance(params, dict) and list(params) == [ARGUMENTS_KEY.decode()]


@dataclass(frozen=True)
class Delta:
    """``new`` is ``base[:prefix] + middle + base[resume:]`` with each edit written over it."""

    prefix: int
    middle: bytes
    resume: int
    edits: tuple[tuple[int, bytes], ...]  # (offset in new, bytes written there), in order

    def apply(self, base: bytes) -> bytes:
        """What the instance's rebuild (stdin_script.REBUILD_PY) does, as the reference the tests check deltas with."""
        data = bytearray(base[:self.prefix] + self.middle + base[self.resume:])
        for offset, replacement in self.edits:
            data[offset:offset + len(replacement)] = replacement
        return bytes(data)


def _differences(base: bytes, new: bytes, start: int, shift: int) -> t.Iterator[int]:
    """Offsets ``i >= start`` of ``new`` where ``new[i] != base[i - shift]`` (the ends aligned)."""
    view_new, view_base = memoryview(new), memoryview(base)
    for block in range(start, len(new), BLOCK):
        end = min(block + BLOCK, len(new))
        if view_new[block:end] != view_base[block - shift:end - shift]:
            for offset in range(block, end):
                if new[offset] != base[offset - shift]:
                    yield offset


def _common_prefix(base: bytes, new: bytes) -> int:
    limit = min(len(base), len(new))
    length = 0
    while length + BLOCK <= limit and base[length:length + BLOCK] == new[length:length + BLOCK]:
        length += BLOCK
    while length < limit and base[length] == new[length]:
        length += 1
    return length


def make_delta(base: bytes, new: bytes, max_edits: int, max_bytes: int) -> Delta | None:
    """The delta from ``base`` to ``new``, or None when it would take more than ``max_edits`` edits
    or ``max_bytes`` new bytes (then sending chunks is the better way).

    The ends are aligned, so a change of length near the start (other module arguments) is one
    splice and the rest are edits in place.
    """
    shift = len(new) - len(base)
    prefix = _common_prefix(base, new)
    if prefix == len(new) == len(base):
        return Delta(prefix, b"", prefix, ())
    splice_end = max(prefix, shift)  # new bytes before this have no aligned base byte
    regions: list[list[int]] = []
    changed = 0
    for offset in _differences(base, new, splice_end, shift):
        if regions and offset - regions[-1][1] <= EDIT_GAP:
            changed += offset + 1 - regions[-1][1]
            regions[-1][1] = offset + 1
        else:
            regions.append([offset, offset + 1])
            changed += 1
        if len(regions) > max_edits + 1 or changed > max_bytes:
            return None  # hopeless: stop looking
    if regions and regions[0][0] - splice_end <= EDIT_GAP:
        splice_end = regions.pop(0)[1]  # a difference right after the splice joins it
    edits = tuple((start, new[start:end]) for start, end in regions)
    middle = new[prefix:splice_end]
    if len(edits) > max_edits or len(middle) + sum(len(data) for _offset, data in edits) > max_bytes:
        return None
    return Delta(prefix, middle, splice_end - shift, edits)
