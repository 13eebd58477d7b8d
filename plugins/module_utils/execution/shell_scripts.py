# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The POSIX envelope: stdin in, exact stdout/stderr/rc out, through one RunShellScript.

The script restores stdin (stdin_script.py), runs the command with both streams captured apart (a become
password goes only to its prompt: become_script.py) and prints one frame and its trailer (frame.py); a frame
larger than one page is spooled on the instance and read back by page scripts (page_reads.py).
Only POSIX sh and coreutils are needed on the instance, so ``raw`` works without Python.
"""

from __future__ import annotations

import shlex
import typing as t

from .become_script import BecomeAnswer, become_run_script
from .frame import OUTPUT_PAGE_BYTES, TAIL_BYTES
from .stdin_plan import StdinPlan, b64
from .stdin_script import stdin_script


PAGE_SUFFIX_LENGTH = 4             # split's suffix letters: 26**4 pages, 11 GB of frame
INLINE_BUDGET = 12 * 1024          # packed stdin bytes a script may carry inline
# A standard output above this many bytes is gzipped only if a sample of its start shrinks below RAW_RATIO:
# gzip spends about half a second on 20 MB of random bytes and saves nothing.
RAW_AFTER = 1 << 20
RAW_SAMPLE = 256 * 1024
RAW_RATIO = 0.9


def build_run_script(command: bytes, stdin: StdinPlan | None = None, become: BecomeAnswer | None = None) -> str:
    """The shell script that restores stdin, runs ``command`` and prints the framed result.

    With ``become``, the password is given only to the become prompt (see BecomeAnswer).

    A frame larger than one page is split on the instance into page files of OUTPUT_PAGE_BYTES
    (all but its last TAIL_BYTES, which this output carries): the controller reads them back,
    several at once, and each read removes its page (the last one the directory).
    """
    restore = stdin_script(stdin) if stdin else ": > \"$_d/in\"\n"
    run = become_run_script(become) if become else "/bin/sh -c \"$_cmd\" < \"$_d/in\" > \"$_d/out\" 2> \"$_d/err\"\n"
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
        f"_cmd=$(printf '%s' '{b64(command)}' | base64 -d)\n"
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
