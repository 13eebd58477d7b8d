# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where an instance keeps staged chunks and kept payloads, and the shell code that claims that place.

The envelope reads what it finds there as the remote user (often root) and removes files there, so the place
must be one that no other user can plant anything in:

* root: ``/var/lib/alicloud-ecs/root``. /var/lib is writable by root only, so no user can create the parent
  first; the envelope refuses the directory unless it and its parent are real directories owned by root.
* any other user: ``$HOME/.alicloud-ecs``, resolved by that user's own shell at run time, or
  ``/var/tmp/.alicloud-ecs-<uid>`` when the home is missing, not the user's own or not writable (the agent
  may run a user without a usable home). The user's own envelope creates it 0700 and refuses it unless it is a
  real directory the user owns: another user may create the fallback name first, which then fails loudly
  instead of being used.

The check uses the shell's own ``test`` (``-d``, ``-L``, ``-O``): no process in the common case.
"""

from __future__ import annotations

import shlex

ROOT_STAGING_DIR = "/var/lib/alicloud-ecs/root"
HOME_STAGING_DIR = "~/.alicloud-ecs"  # a marker: the user's shell resolves it (see claim_script)
FALLBACK_STAGING_PREFIX = "/var/tmp/.alicloud-ecs-"  # + the numeric uid
REFUSED_MARK = "refused"


def chunk_dir_for(user: str | None) -> str:
    """The staging directory of ``user`` on a POSIX instance: an absolute path for root, else HOME_STAGING_DIR."""
    return ROOT_STAGING_DIR if (user or "root") == "root" else HOME_STAGING_DIR


def is_root_dir(chunk_dir: str) -> bool:
    """Whether ``chunk_dir`` is a literal path (root's, or a test's) rather than the per-user home marker."""
    return chunk_dir != HOME_STAGING_DIR


def claim_script(chunk_dir: str, refuse: str) -> str:
    """Shell code that sets ``_c`` to the staging directory, creates it (0700) when missing, and runs ``refuse``
    (which must leave the script) unless it is a real directory owned by the running user.

    For a literal path (root's) the parent must be a real directory of the running user too: a directory someone
    else controls could have ours renamed away and replaced between the check and the use.
    """
    if is_root_dir(chunk_dir):
        resolve = f"_c={shlex.quote(chunk_dir)}\n"
        parent = " || [ -L \"${_c%/*}\" ] || [ ! -O \"${_c%/*}\" ]"
        create = "mkdir -p -m 0700"
    else:
        resolve = (
            "_c=''\n"
            "case $HOME in /?*) [ -d \"$HOME\" ] && [ -O \"$HOME\" ] && [ -w \"$HOME\" ] && _c=$HOME/.alicloud-ecs;; esac\n"
            f"[ -n \"$_c\" ] || _c={FALLBACK_STAGING_PREFIX}$(id -u)\n")
        parent = ""
        create = "mkdir -m 0700"
    return "".join((
        resolve,
        f"[ -d \"$_c\" ] || {create} \"$_c\" 2>/dev/null\n",
        f"if [ -L \"$_c\" ] || [ ! -d \"$_c\" ] || [ ! -O \"$_c\" ]{parent}; then\n",
        f"  {refuse}\n",
        "fi\n"))


def refused_trailer() -> str:
    """What the envelope prints (and then exits 0) when it refuses the staging directory: the path, last."""
    return f"printf '\\n<<ACE1 {REFUSED_MARK}=%s>>\\n' \"$_c\"; exit 0"


def refused_message(path: str, user: str | None, instance_id: str) -> str:
    """Why a command did not run, and what to do about it."""
    who = user or "root"
    return (f"refusing the staging directory {path} on {instance_id}: it is not a real directory owned by {who} "
            f"(a symlink, another kind of file, or created by another user). Nothing ran; remove it (or fix its "
            f"owner) on the instance and retry")
