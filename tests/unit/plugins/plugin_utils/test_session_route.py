"""transport=session's routing: commands over the channel, the fallback to RunCommand marked once per host and run
across processes (one warning), a lost channel UNREACHABLE without a second try, files by size."""

from __future__ import annotations

import multiprocessing
import os

import pytest
from ansible.errors import AnsibleConnectionFailure

from ansible_collections.alicloud.ecs.plugins.plugin_utils.session.channel import ChannelLost, SessionUnavailable
from ansible_collections.alicloud.ecs.plugins.plugin_utils.session.route import FallbackMarks, SessionRoute


class FakeChannel:
    """Answers like a SessionChannel; ``fail`` is raised by the next call."""

    def __init__(self, fail: Exception | None = None, size: int = 3) -> None:
        self.calls: list[tuple] = []
        self.fail = fail
        self.size = size
        self.closed = False

    def exec(self, command, stdin=None, timeout=None):
        self.calls.append(("exec", command, stdin, timeout))
        if self.fail:
            raise self.fail
        if command.startswith("stat "):
            return 0, f"{self.size}\n".encode(), b""
        return 0, b"out", b"err"

    def put(self, data, remote_path, mode=None):
        self.calls.append(("put", len(data), remote_path))

    def fetch(self, remote_path):
        self.calls.append(("fetch", remote_path))
        return b"x" * self.size

    def close(self):
        self.closed = True


def make_route(tmp_path, channel: FakeChannel, warnings: list[str], opened: list[int] | None = None) -> SessionRoute:
    def open_channel():
        if opened is not None:
            opened.append(1)
        if isinstance(channel.fail, SessionUnavailable) and not channel.calls:
            channel.calls.append(("start",))
            raise channel.fail
        return channel
    marks = FallbackMarks(directory=lambda: str(tmp_path))
    return SessionRoute(open_channel, "i-1", "cn-hangzhou|i-1|", warnings.append, marks)


def test_a_command_runs_over_the_session_with_its_stdin_and_timeout(tmp_path) -> None:
    channel, warnings = FakeChannel(), []
    result = make_route(tmp_path, channel, warnings).exec(b"echo \xff", b"in", 30)
    assert tuple(result) == (0, b"out", b"err")
    # A byte that is not UTF-8 reaches the channel as the same byte (surrogateescape).
    assert channel.calls == [("exec", "echo \udcff", b"in", 30)]
    assert warnings == []


def test_session_unavailable_falls_back_once_per_host_with_one_warning(tmp_path) -> None:
    warnings: list[str] = []
    opened: list[int] = []
    channel = FakeChannel(fail=SessionUnavailable("Session Manager is off"))
    first = make_route(tmp_path, channel, warnings, opened)
    assert first.exec(b"true", None, None) is None
    # A later task of the same host (another connection object, as ansible makes one per task) does not try again.
    later = make_route(tmp_path, channel, warnings, opened)
    assert not later.usable()
    assert later.exec(b"true", None, None) is None
    assert len(opened) == 1
    assert len(warnings) == 1 and "i-1" in warnings[0] and "RunCommand" in warnings[0]


def test_the_fallback_mark_is_shared_by_the_processes_of_a_run_and_only_one_warns(tmp_path) -> None:
    """Workers race to mark the host: the file is made with O_EXCL, so exactly one of them warns."""
    context = multiprocessing.get_context("fork")
    with context.Pool(4) as pool:
        firsts = pool.map(_mark_in_a_worker, [str(tmp_path)] * 8)
    assert firsts.count(True) == 1
    assert FallbackMarks(directory=lambda: str(tmp_path)).marked("cn-hangzhou|i-1|")
    assert oct(os.stat(tmp_path / os.listdir(tmp_path)[0]).st_mode & 0o777) == "0o600"


def _mark_in_a_worker(directory: str) -> bool:
    return FallbackMarks(directory=lambda: directory).mark("cn-hangzhou|i-1|")


def test_a_lost_channel_is_unreachable_names_the_instance_and_is_not_retried(tmp_path) -> None:
    channel, warnings = FakeChannel(fail=ChannelLost("websocket closed")), []
    session = make_route(tmp_path, channel, warnings)
    with pytest.raises(AnsibleConnectionFailure, match="i-1.*lost.*not sent again"):
        session.exec(b"touch /tmp/once", None, None)
    assert [call[0] for call in channel.calls] == ["exec"]
    assert channel.closed and warnings == []
    assert session.usable(), "a lost channel is not a fallback: the next task opens a new one"


def test_no_state_directory_still_warns_once_in_this_process() -> None:
    def broken() -> str:
        raise OSError("read-only")
    marks = FallbackMarks(directory=broken)
    assert marks.mark("h") is True and marks.mark("h") is False and marks.marked("h")
