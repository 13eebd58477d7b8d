# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The helper that runs inside a Session Manager terminal on the instance, and the framing both ends share.

A terminal is a poor channel: the agent cuts its output at UTF-8 boundaries, a terminal in its default mode
echoes input, turns newlines into CR LF and takes some bytes as signals, and there is one stream where a
command has two (stdout and stderr) and an exit status. The controller starts this program through
StartTerminalSession's ``CommandLine`` (``bootstrap_command``: a python3 one-liner, under 512 characters,
that puts the terminal in raw mode without echo, prints a ready marker and reads this source as base64 lines).
From then on every message either way is one line: a marker (``@Q:`` for requests, ``@R:`` for replies, so an
echoed request is never taken for a reply), base64 of a kind byte, a request id, a CRC-32 and the payload.
Base64 is plain ASCII, so neither the UTF-8 cutting nor any terminal processing can change it; the CRC tells
a damaged line from a good one. Lines stay short (``MAX_LINE``) so even a terminal left in line mode would pass
them.

Each request runs ``/bin/sh -c <command>`` in a session of its own (no controlling terminal: it cannot read
or write the channel) with stdin, stdout and stderr as pipes; stdout and stderr come back framed apart, byte
exact, then the exit status. Several requests may run at once; their frames are told apart by request id.

When the channel ends (end of input, SIGHUP when the agent closes the terminal, SIGTERM), every running
command's process group is killed. A separate reaper process (forked at start, outside the terminal's
session) does the same when the helper itself is killed outright (the agent SIGKILLs the terminal's process
when it ends a session): nothing the channel started outlives it.

This file is controller code too (the controller imports ``armour``/``unarmour``/``bootstrap_command``), and
it is sent as it is, so it keeps to what the instance's python3 has: the standard library of Python 3.6.
"""

import base64
import binascii
import json
import os
import signal
import struct
import subprocess
import sys
import threading
import zlib

REQUEST = b"@Q:"
REPLY = b"@R:"
READY_TEXT = "@AC" + "READY"  # what the bootstrap prints; split so no echo of the command line contains it
PROGRAM_END = "."
MAX_LINE = 1000  # bytes of a request line (a terminal in line mode holds 4,095)
# Raw bytes per frame: a request line stays under MAX_LINE; a reply may be longer (output is never line-edited).
REQUEST_CHUNK = 700
REPLY_CHUNK = 16384
HEADER = struct.Struct(">cII")

# Request kinds.
START_PART = b"x"  # a piece of a START payload too long for one line
START = b"X"  # payload (with the pieces before it): JSON {"cmd": ...}
STDIN = b"I"
STDIN_END = b"D"
KILL = b"K"
PING = b"P"
# Reply kinds.
READY = b"R"  # payload: JSON {"version", "pid", "uid"}
STDOUT = b"O"
STDERR = b"E"
EXIT = b"C"  # payload: the exit status, a signed 32-bit big-endian integer
FAILED = b"F"  # payload: why the command could not start
PONG = b"P"
VERSION = 1


class FramingError(ValueError):
    """A line that carries the marker but is not a whole, intact frame."""


def armour(mark, kind, request_id, payload=b""):
    """One line: ``mark``, then base64 of the header and ``payload``, then a newline."""
    body = HEADER.pack(kind, request_id, zlib.crc32(payload) & 0xFFFFFFFF) + payload
    return mark + base64.b64encode(body) + b"\n"


def unarmour(mark, line):
    """(kind, request id, payload) of a line carrying ``mark``; None for a line without it (noise)."""
    at = line.find(mark)
    if at < 0:
        return None
    text = line[at + len(mark):].strip()
    try:
        body = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise FramingError("a frame that is not base64") from None
    if len(body) < HEADER.size:
        raise FramingError("a frame shorter than its header")
    kind, request_id, crc = HEADER.unpack_from(body)
    payload = body[HEADER.size:]
    if zlib.crc32(payload) & 0xFFFFFFFF != crc:
        raise FramingError("a frame whose checksum does not match")
    return kind, request_id, payload


def bootstrap_command(sudo=False):
    """The CommandLine that starts this helper (see the module's docstring); ``sudo``: through ``sudo -n``
    (the agent never runs a session as root; its ecs-assist-user has passwordless sudo).

    sudo is started by ``setsid -w``: in a session of its own, without a controlling terminal. A sudo that has a
    controlling terminal and ``use_pty`` (Debian's and Ubuntu's default) runs the command on a pty of its own and
    copies between the two terminals in its one process; a large fetch once stalled there, the helper blocked
    writing to sudo's pty while sudo waited in poll and the session's terminal stayed empty. Without a controlling
    terminal sudo allocates no pty, so the helper reads and writes the session's terminal itself, as it does
    without sudo; ``-w`` keeps the terminal's process until the helper ends."""
    program = "".join((
        "import sys,tty,zlib,base64 as b;tty.setraw(0);print('", READY_TEXT[:3], "'+'", READY_TEXT[3:],
        "',flush=True);exec(zlib.decompress(b.b64decode(''.join(iter(input,'", PROGRAM_END,
        "')))),{'__name__':'__main__'})"))
    return ("setsid -w sudo -n " if sudo else "") + 'python3 -c "' + program + '"'


def program_lines(source):
    """What follows the ready marker: this helper's source compressed, as base64 lines, then the end line."""
    encoded = base64.b64encode(zlib.compress(source.encode("utf-8"), 9))
    lines = [encoded[at:at + 76] + b"\n" for at in range(0, len(encoded), 76)]
    return b"".join(lines) + PROGRAM_END.encode("ascii") + b"\n"


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _reaper(commands):
    """The reaper's life: note the process groups the helper names, kill them all when the helper is gone."""
    os.setsid()
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    groups = set()
    pending = b""
    while True:
        try:
            chunk = os.read(commands, 4096)
        except OSError:
            chunk = b""
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if line[:1] == b"+":
                groups.add(int(line[1:]))
            elif line[:1] == b"-":
                groups.discard(int(line[1:]))
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except OSError:
            pass
    os._exit(0)


class Job:
    """One running command: its process, the threads that pump its pipes, and a queue for its stdin."""

    def __init__(self, process):
        self.process = process
        self.stdin = []
        self.stdin_ready = threading.Condition()
        self.pumps = []


class Helper:
    """Reads requests from fd 0, writes replies to fd 1 (the terminal in raw mode)."""

    def __init__(self, read_fd=0, write_fd=1):
        self.read_fd = read_fd
        self.write_fd = write_fd
        self.write_lock = threading.Lock()
        self.jobs = {}
        self.jobs_lock = threading.Lock()
        self.reaper = None
        self.parts = {}

    def reply(self, kind, request_id, payload=b""):
        line = armour(REPLY, kind, request_id, payload)
        with self.write_lock:
            _write_all(self.write_fd, line)

    def start_reaper(self):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(write_end)
            _reaper(read_end)
        os.close(read_end)
        self.reaper = write_end

    def tell_reaper(self, line):
        if self.reaper is not None:
            try:
                _write_all(self.reaper, line.encode("ascii") + b"\n")
            except OSError:
                pass

    def run(self):
        for number in (signal.SIGHUP, signal.SIGTERM):
            signal.signal(number, self.on_signal)
        self.start_reaper()
        self.reply(READY, 0, json.dumps({"version": VERSION, "pid": os.getpid(), "uid": os.getuid()}).encode())
        pending = b""
        while True:
            try:
                chunk = os.read(self.read_fd, 65536)
            except OSError:  # EIO: the terminal was hung up
                chunk = b""
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                self.handle(line)
        self.shutdown()

    def on_signal(self, number, frame):
        self.shutdown()

    def shutdown(self):
        with self.jobs_lock:
            jobs = list(self.jobs.values())
        for job in jobs:
            try:
                os.killpg(job.process.pid, signal.SIGKILL)
            except OSError:
                pass
        os._exit(0)

    def handle(self, line):
        try:
            frame = unarmour(REQUEST, line)
        except FramingError:
            return
        if frame is None:
            return
        kind, request_id, payload = frame
        if kind == START_PART:
            self.parts[request_id] = self.parts.get(request_id, b"") + payload
        elif kind == START:
            payload = self.parts.pop(request_id, b"") + payload
            self.start(request_id, json.loads(payload.decode("utf-8")))
        elif kind == PING:
            self.reply(PONG, request_id, payload)
        else:
            with self.jobs_lock:
                job = self.jobs.get(request_id)
            if job is not None:
                self.feed(job, kind, payload)

    def feed(self, job, kind, payload):
        if kind == KILL:
            try:
                os.killpg(job.process.pid, signal.SIGKILL)
            except OSError:
                pass
            return
        with job.stdin_ready:
            job.stdin.append(payload if kind == STDIN else None)
            job.stdin_ready.notify()

    def start(self, request_id, spec):
        try:
            process = subprocess.Popen(["/bin/sh", "-c", spec["cmd"]], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, start_new_session=True, close_fds=True)
        except (OSError, KeyError, TypeError) as error:
            self.reply(FAILED, request_id, str(error).encode("utf-8", "replace"))
            return
        self.tell_reaper("+%d" % process.pid)
        job = Job(process)
        with self.jobs_lock:
            self.jobs[request_id] = job
        for stream, kind in ((process.stdout, STDOUT), (process.stderr, STDERR)):
            pump = threading.Thread(target=self.pump, args=(request_id, stream, kind))
            pump.daemon = True
            pump.start()
            job.pumps.append(pump)
        for target in (self.write_stdin, self.wait):
            thread = threading.Thread(target=target, args=(request_id, job))
            thread.daemon = True
            thread.start()

    def pump(self, request_id, stream, kind):
        fd = stream.fileno()
        while True:
            data = os.read(fd, REPLY_CHUNK)
            if not data:
                break
            self.reply(kind, request_id, data)
        stream.close()

    def write_stdin(self, request_id, job):
        pipe = job.process.stdin
        while True:
            with job.stdin_ready:
                while not job.stdin:
                    job.stdin_ready.wait()
                data = job.stdin.pop(0)
            if data is None:
                break
            try:
                _write_all(pipe.fileno(), data)
            except OSError:  # the command stopped reading: the rest of its input is dropped, as a pipe does
                pass
        try:
            pipe.close()
        except OSError:
            pass

    def wait(self, request_id, job):
        for pump in job.pumps:
            pump.join()
        status = job.process.wait()
        with self.jobs_lock:
            self.jobs.pop(request_id, None)
        with job.stdin_ready:
            job.stdin.append(None)
            job.stdin_ready.notify()
        self.tell_reaper("-%d" % job.process.pid)
        self.reply(EXIT, request_id, struct.pack(">i", status if status >= 0 else 128 - status))


def main():
    sys.stdout.flush()
    Helper().run()


if __name__ == "__main__":
    main()
