"""PID 1 of a namespace instance, and the file work the agent does on an instance.

The init reaps orphans like any PID 1, and does the agent's file work from inside the instance: saving
a RunCommand script (user and working directory checked first) and writing a SendFile file (owner,
group, mode, atomic replace). Entering the instance with nsenter and a shell script for each of
those cost nine processes per call and capped SendFile at about 50 calls a second on a 2-core machine;
a request to the init costs none. Requests come on stdin, one JSON line followed by ``size`` bytes;
each answer is one line on stdout: OK or the contract's error code (§3.5, §3.6).

The same functions serve host mode (no isolation) in the emulator's own process. Standard library
only, Python 3.6+: the init runs under the instance's own /usr/bin/python3.
"""
from __future__ import annotations

import grp
import json
import os
import pwd
import signal
import sys
import threading
import time


def save_script(user: str, workdir: str, path: str, content: bytes) -> str:
    """What the agent does before a run: the user and working directory must exist; the script is saved."""
    try:
        pwd.getpwnam(user)
    except KeyError:
        return "AccountNotExists"
    if not os.path.isdir(workdir):
        return "DirectoryNotExists"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(content)
        os.chmod(path, 0o755)
    except OSError:
        return "ExecutionException"
    return "OK"


def write_file(directory: str, name: str, content: bytes, mode: str, owner: str, group: str,
               overwrite: bool, set_owner: bool) -> str:
    """One SendFile file, written whole or not at all (a temporary file renamed into place)."""
    ids = None
    if set_owner:
        try:
            uid = pwd.getpwnam(owner).pw_uid
        except KeyError:
            return "UserNotExists"
        try:
            ids = (uid, grp.getgrnam(group).gr_gid)
        except KeyError:
            return "UserGroupNotExists"
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError:
        return "FilePathInvalid"
    if not os.path.isdir(directory):
        return "FilePathInvalid"
    path = os.path.join(directory, name)
    if os.path.exists(path) and not overwrite:
        return "FileAlreadyExists"
    temp = os.path.join(directory, ".emulator-sendfile.%d.%d" % (os.getpid(), threading.get_ident()))
    verdict = "FileCreateFail"
    try:
        with open(temp, "wb") as handle:
            handle.write(content)
        if ids:
            os.chown(temp, *ids)
        verdict = "FileAuthorityInvalid"
        os.chmod(temp, int(mode, 8))
        verdict = "FileCreateFail"
        os.replace(temp, path)
    except (OSError, ValueError):
        try:
            os.unlink(temp)
        except OSError:
            pass
        return verdict
    return "OK"


def answer(request: dict, content: bytes) -> str:
    if request.get("op") == "save_script":
        return save_script(request["user"], request["workdir"], request["path"], content)
    if request.get("op") == "write_file":
        return write_file(request["directory"], request["name"], content, request["mode"], request["owner"],
                          request["group"], request["overwrite"], request["set_owner"])
    return "UnknownRequest"


def serve(requests, answers) -> None:
    """Answer requests until the emulator closes the pipe."""
    while True:
        line = requests.readline()
        if not line:
            return
        request = json.loads(line)
        content = requests.read(request["size"])
        answers.write(answer(request, content) + "\n")
        answers.flush()


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *args: os._exit(0))
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    threading.Thread(target=serve, args=(sys.stdin.buffer, sys.stdout), daemon=True).start()
    while True:
        try:
            os.wait()
        except ChildProcessError:
            time.sleep(1)


def once() -> None:
    """Answer one request and exit: the file work for an init adopted by a restarted emulator (no pipes to it)."""
    serve(sys.stdin.buffer, sys.stdout)


if __name__ == "__main__":
    once() if sys.argv[1:] == ["once"] else main()
