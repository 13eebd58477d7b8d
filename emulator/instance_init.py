"""PID 1 of a namespace instance, and the file work the agent does on an instance.

The init reaps orphans like any PID 1, and does the agent's file work from inside the instance: saving
a RunCommand script (user and working directory checked first) and writing a SendFile file (owner,
group, mode, as the agent does it). Entering the instance with nsenter and a shell script for each of
those cost nine processes per call and capped SendFile's rate;
a request to the init costs none. Requests come on stdin, one JSON line followed by ``size`` bytes;
each answer is one line on stdout: OK or the documented error code (docs/api-contract.md#per-instance-error-codes, #sendfile).

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
    """What the agent does before a run: checks the user and the working directory, saves the script (0755).

    Answers ``OK`` followed by a JSON object: the working directory the run uses, the user's home (its HOME) and
    uid/gid. Without a WorkingDir the agent uses the home directory: a Username's home must exist (else the task is
    Invalid), the agent's own (root's) is used when it exists, else the run starts in ``/`` (aliyun_assist_client
    agent/taskengine/host/processor_unix.go ``checkWorkingDirectory``).
    """
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return "AccountNotExists"
    if workdir:
        if not os.path.isdir(workdir):
            return "DirectoryNotExists"
    elif user != "root":
        if not os.path.isdir(entry.pw_dir):
            return "DirectoryNotExists"
        workdir = entry.pw_dir
    else:
        workdir = entry.pw_dir if os.path.isdir(entry.pw_dir) else "/"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(content)
        os.chmod(path, 0o755)
    except OSError:
        return "ExecutionException"
    place = {"workdir": workdir, "home": entry.pw_dir, "uid": entry.pw_uid, "gid": entry.pw_gid}
    return "OK " + json.dumps(place)


def write_file(directory: str, name: str, content: bytes, mode: str, owner: str, group: str,
               overwrite: bool, set_owner: bool) -> str:
    """One SendFile file, in the agent's order (agent/taskengine/sendfile.go, aliyun/aliyun_assist_client):
    an empty content is refused; the directory is made (following links); the mode is checked; the file is
    written in place (a link at the target is followed, an existing file keeps its inode and, until the
    chown, its owner); chmod keeps the permission bits only; the owner is looked up last, so an unknown
    one leaves the file written as root. ``set_owner`` false (host mode, not root) looks the owner up but
    cannot chown."""
    if not content:
        return "EmptyContent"
    made = make_directories(directory)
    if made != "OK":
        return made
    if len(mode) not in (0, 3, 4):
        return "FileAuthorityInvalid"
    try:
        bits = int(mode or "0644", 8)
    except ValueError:
        return "FileAuthorityInvalid"
    path = os.path.join(directory, name)
    if os.path.lexists(path) and not overwrite:
        return "FileAlreadyExists"
    try:
        with open(path, "wb") as handle:
            handle.write(content)
    except OSError:
        return "FileCreateFail"
    try:
        os.chmod(path, bits & 0o777)
    except OSError:
        return "ChmodFail"
    return change_owner(path, owner, group, set_owner)


def make_directories(directory: str) -> str:
    """The missing directories, each root's with mode 0755 (the agent's 0777 under a service's usual 022
    umask); existing ones, or links to them, are used as they are."""
    missing = []
    path = directory
    while not os.path.isdir(path):
        if os.path.lexists(path) or path in ("", "/"):
            return "FilePathInvalid"
        missing.append(path)
        path = os.path.dirname(path)
    try:
        for path in reversed(missing):
            try:
                os.mkdir(path)
            except FileExistsError:  # made meanwhile: used if it is a directory, like MkdirAll
                if os.path.isdir(path):
                    continue
                raise
            os.chmod(path, 0o755)
    except OSError:
        return "FilePathInvalid"
    return "OK"


def change_owner(path: str, owner: str, group: str, set_owner: bool) -> str:
    """chown by name, skipped when owner and group are both root or both empty; a missing one is root."""
    if (owner, group) in (("", ""), ("root", "root")):
        return "OK"
    try:
        uid = pwd.getpwnam(owner or "root").pw_uid
    except KeyError:
        return "UserNotExists"
    try:
        gid = grp.getgrnam(group or "root").gr_gid
    except KeyError:
        return "UserGroupNotExists"
    if not set_owner:
        return "OK"
    try:
        os.chown(path, uid, gid)
    except OSError:
        return "ChownFail"
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
