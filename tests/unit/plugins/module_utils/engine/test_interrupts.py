from __future__ import annotations

import os
import signal
import threading

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.engine import interrupts
from ansible_collections.alicloud.ecs.plugins.module_utils.api.errors import CloudError


class StopRecorder:
    """Stands in for CloudClient: records StopInvocation calls; ``refuse`` makes one fail."""

    def __init__(self, refuse: str = "") -> None:
        self.stopped: list[str] = []
        self.refuse = refuse
        self.lock = threading.Lock()
        self.region = "cn-hangzhou"

    def for_region(self, region: str) -> StopRecorder:
        assert region == self.region
        return self

    def call(self, action: str, **params):
        assert action == "StopInvocation" and params["retry"] is True and params["budget"] <= 3
        if params["InvokeId"] == self.refuse:
            raise CloudError("InvalidInvokeId.NotFound", "gone", action=action, request_id="R1")
        with self.lock:
            self.stopped.append(params["InvokeId"])
        return {}


@pytest.fixture
def handlers():
    """Put back whatever handled SIGINT/SIGTERM before the test, and forget what it registered."""
    saved = {signum: signal.getsignal(signum) for signum in interrupts.SIGNALS}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)
    interrupts.IN_FLIGHT.previous.clear()
    interrupts.IN_FLIGHT.entries.clear()


@pytest.mark.parametrize("signum", interrupts.SIGNALS)
def test_a_signal_stops_every_tracked_invocation_then_reaches_the_previous_handler(handlers, capfd, signum) -> None:
    received = []
    signal.signal(signum, lambda number, _frame: received.append(number))
    client = StopRecorder(refuse="t-3")
    with interrupts.tracking(client, "t-1", "on i-1"), interrupts.tracking(client, "t-2", "on 3 instances"), \
            interrupts.tracking(client, "t-3", "on i-3"):
        os.kill(os.getpid(), signum)
    assert sorted(client.stopped) == ["t-1", "t-2"]
    assert received == [signum]
    err = capfd.readouterr().err
    name = signal.Signals(signum).name
    assert f"alicloud.ecs: {name}: stopped invocation t-1 (on i-1)" in err
    assert f"alicloud.ecs: {name}: stopped invocation t-2 (on 3 instances)" in err
    assert f"alicloud.ecs: {name}: could not stop invocation t-3 (on i-3)" in err and "request id R1" in err


def test_nothing_is_stopped_once_the_wait_is_over_and_python_s_own_handler_still_runs(handlers) -> None:
    signal.signal(signal.SIGINT, signal.default_int_handler)
    client = StopRecorder()
    with interrupts.tracking(client, "t-1", "on i-1"):
        pass
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
    assert client.stopped == []


def test_waits_in_helper_threads_are_stopped_by_the_main_thread_s_handler(handlers) -> None:
    signal.signal(signal.SIGTERM, lambda *_args: None)
    interrupts.install()
    client = StopRecorder()
    inside, release = threading.Event(), threading.Event()

    def helper() -> None:
        with interrupts.tracking(client, "t-page", "page 3"):
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=helper)
    thread.start()
    inside.wait(10)
    os.kill(os.getpid(), signal.SIGTERM)
    release.set()
    thread.join()
    assert client.stopped == ["t-page"]
    assert interrupts.IN_FLIGHT.stopped == ["alicloud.ecs: SIGTERM: stopped invocation t-page (page 3)"]
