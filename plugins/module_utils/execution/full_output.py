# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Full output of an ad-hoc script past the API's 24 KB cap, through the connection's envelope.

The user's script is written to a file on the instance by a quoted here-document: the agent still
substitutes ``{{ parameters }}`` in it (they stay plain text) and the shell expands nothing. The
connection's envelope (shell_scripts.py) then runs it with stdout and stderr joined, as Cloud Assistant
shows them, frames that output and spools what does not fit one page; the pages are read back
with the connection's page reads (page_reads.read_frame). The wrapper exits with the script's own exit
code, so the service records the real status (Failed / ExitCodeNonzero) for the invocation.
"""

from __future__ import annotations

import hashlib

from ..api.client import CloudClient
from .exec_options import ExecOptions
from .frame import TransportError, decode_frame, parse_trailer
from .page_reads import read_frame
from .shell_scripts import build_run_script

# Runs inside the envelope's ``/bin/sh -c``: the user's umask comes back (the envelope sets 077 for
# its own files), the script runs by path (a shebang line is honoured, otherwise sh runs it, as the
# agent does), and its exit code is kept where the wrapper can exit with it.
INNER_COMMAND = (
    b"_w=$ALICLOUD_ECS_RUN; umask \"$ALICLOUD_ECS_UMASK\"; unset ALICLOUD_ECS_RUN ALICLOUD_ECS_UMASK\n"
    b"\"$_w/script\" 2>&1\n"
    b"_r=$?; echo \"$_r\" > \"$_w/rc\"; exit \"$_r\"\n"
)


def wrap_script(content: str) -> str:
    """The RunShellScript that runs ``content`` and prints the envelope's framed, paged output.

    The here-document's delimiter comes from the content's hash, so the same content always makes
    the same wrapper: a retried call with the same ClientToken is recognised by the service.
    """
    text = content if content.endswith("\n") else content + "\n"
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    delimiter = f"ALICLOUD_ECS_SCRIPT_{digest[:24]}"
    lines = text.split("\n")
    while delimiter in lines:  # practically never: only a script quoting its own hash
        delimiter += "_"
    envelope = build_run_script(INNER_COMMAND).split("\n", 1)[1]  # without its #! line
    return (
        "#!/bin/sh\n"
        "# alicloud.ecs.invocation: the script below, with its whole output read back past 24 KB\n"
        "_ace_u=$(umask)\n"
        "_ace_w=$(mktemp -d \"${TMPDIR:-/tmp}/.alicloud-ecs-run.XXXXXXXX\") || exit 97\n"
        f"cat > \"$_ace_w/script\" <<'{delimiter}'\n{text}{delimiter}\n"
        "chmod 700 \"$_ace_w/script\"\n"
        "ALICLOUD_ECS_RUN=$_ace_w ALICLOUD_ECS_UMASK=$_ace_u; export ALICLOUD_ECS_RUN ALICLOUD_ECS_UMASK\n"
        f"(\n{envelope})\n"  # a subshell: the envelope's exit and trap end it, not the wrapper
        "_ace_r=$(cat \"$_ace_w/rc\" 2>/dev/null); rm -rf \"$_ace_w\"\n"
        "exit \"${_ace_r:-1}\"\n"
    )


def unwrap_output(client: CloudClient, instance_id: str, output: bytes, username: str | None,
                  timeout: int = 60) -> bytes | None:
    """The whole output of a wrapped script from its API output, reading spooled pages if needed.

    None when the output holds no frame (the script timed out, was stopped or never started): the
    caller then reports what the API kept.
    """
    try:
        trailer = parse_trailer(output)
    except TransportError:
        return None
    if trailer.missing:
        return None
    options = ExecOptions(username=username, timeout=timeout, name="alicloud.ecs.invocation output")
    frame = read_frame(client, instance_id, options, trailer)
    return frame.stdout + frame.stderr


def unframe(output: bytes) -> bytes | None:
    """The script's own output from a wrapped run's API output, when its whole frame is there.

    invocation_info uses it to show what a run of this module printed instead of the frame; a frame
    that was spooled is gone once read back, so only runs whose output fitted one page decode.
    """
    try:
        trailer = parse_trailer(output)
        if trailer.missing or trailer.head:
            return None
        frame = decode_frame(trailer.frame_tail, trailer.sha256, compressed=trailer.compressed)
    except TransportError:
        return None
    return frame.stdout + frame.stderr
