# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shell code that keeps the instance's staging directory and stray work directories bounded."""

from __future__ import annotations

from .stdin_plan import StagingLimits


PRUNE_EVERY_MINUTES = 60
# Work directories the envelope, the full-output wrapper and the become helper create (directory, name pattern); a
# script killed before its exit trap (a timeout's ProcessTree kill) leaves them behind.
STRAY_WORK_DIRS = (("${TMPDIR:-/tmp}", ".alicloud-ecs.*"), ("${TMPDIR:-/tmp}", ".alicloud-ecs-spool.*"),
                   ("${TMPDIR:-/tmp}", ".alicloud-ecs-run.*"), ("/dev/shm", ".alicloud-ecs-b.*"))


def stray_script(minutes: int) -> str:
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


def prune_script(limits: StagingLimits) -> str:
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
        f"{stray_script(minutes)}  ) 2>/dev/null\n"
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
