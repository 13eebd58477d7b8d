# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Become with a password on the instance: the password goes only to the become plugin's own prompt."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from .stdin_plan import b64


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


def become_run_script(become: BecomeAnswer) -> str:
    prompt = shlex.quote(become.prompt)
    success = shlex.quote(become.success)
    prompt_bytes = len(become.prompt.encode("utf-8"))
    return (
        "_b=$(mktemp -d /dev/shm/.alicloud-ecs-b.XXXXXXXX 2>/dev/null || mktemp -d \"$_d/b.XXXXXXXX\") || exit 97\n"
        f"printf '%s' '{become.reference or b64(become.password)}' | base64 -d > \"$_b/p\" && mkfifo \"$_b/i\" "
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
