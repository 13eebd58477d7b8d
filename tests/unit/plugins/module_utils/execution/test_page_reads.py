"""Page reads against a fake Cloud Assistant: the order rounds start and are collected in, which read removes
which pages, and what a failure in the middle of a round leaves behind.

The fake answers RunCommand and DescribeInvocationResults the way the API does (docs/api-contract.md): a
result carries the invocation's tags, and a poll filtered by one tag returns every read of that round. The
scripts the reader sends are this test's own (``index removes``), so each call shows which page it reads.
"""

from __future__ import annotations

import base64
import io
import threading
import time
import typing as t

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.api.errors import CloudError
from ansible_collections.alicloud.ecs.plugins.module_utils.engine.invocation import InvocationTimeout, PollSchedule
from ansible_collections.alicloud.ecs.plugins.module_utils.execution import page_reads
from ansible_collections.alicloud.ecs.plugins.module_utils.execution.exec_errors import RemoteExecError
from ansible_collections.alicloud.ecs.plugins.module_utils.execution.exec_options import ExecOptions
from ansible_collections.alicloud.ecs.plugins.module_utils.execution.frame import OUTPUT_PAGE_BYTES, Trailer
from ansible_collections.alicloud.ecs.plugins.module_utils.execution.page_reads import ROUND_PAGES, ROUND_TAG, PageReader

INSTANCE = "i-pages"
SLOW_SECONDS = 0.3


class FakeCloud:
    """RunCommand starts a page read (finished at once unless told otherwise); DescribeInvocationResults
    answers by instance and tag, a page of ``page_size`` at a time, as the API pages them."""

    def __init__(self, fail_start: int | None = None, unfinished: t.Collection[int] = (), page_size: int = 50,
                 slow: t.Collection[int] = ()) -> None:
        self.fail_start = fail_start  # the read of this page is refused by RunCommand
        self.unfinished = set(unfinished)  # reads of these pages never finish
        self.slow = set(slow)  # reads of these pages finish SLOW_SECONDS after they started
        self.page_size = page_size
        self.polls = 0  # result polls (a paged answer counts once)
        self.lock = threading.Lock()
        self.events: list[tuple[str, t.Any]] = []  # ("start", page) / ("collected", pages) / ("stop", page)
        self.reads: dict[str, dict[str, t.Any]] = {}  # InvokeId -> page, removes, round tag

    def call(self, action: str, **params: t.Any) -> dict[str, t.Any]:
        return getattr(self, action)(**params)

    def RunCommand(self, **params: t.Any) -> dict[str, t.Any]:
        index, removes = base64.b64decode(params["CommandContent"]).decode().split(" ", 1)
        tag = {pair["Key"]: pair["Value"] for pair in params["Tag"]}[ROUND_TAG]
        with self.lock:
            if int(index) == self.fail_start:
                raise CloudError("TaskConcurrencyLimit", "too many tasks on the instance")
            invoke_id = f"t-{len(self.reads)}"
            self.reads[invoke_id] = {"page": int(index), "removes": [int(page) for page in removes.split()],
                                     "tag": tag, "params": params, "started": time.monotonic()}
            self.events.append(("start", int(index)))
        return {"InvokeId": invoke_id, "CommandId": "c-1"}

    def DescribeInvocationResults(self, **params: t.Any) -> dict[str, t.Any]:
        assert params["InstanceId"] == INSTANCE
        [tag] = params["Tag"]
        with self.lock:
            matching = [(invoke_id, read) for invoke_id, read in self.reads.items()
                        if tag == {"Key": ROUND_TAG, "Value": read["tag"]}]
        start = int(params.get("NextToken") or 0)
        if not start:
            with self.lock:
                self.polls += 1
        page = matching[start:start + min(self.page_size, params["MaxResults"])]
        items = [self._result(invoke_id, read) for invoke_id, read in page]
        finished = [read["page"] for invoke_id, read in matching if self._finished(read)]
        if start + len(page) >= len(matching) and len(finished) == len(matching):
            with self.lock:
                self.events.append(("collected", sorted(finished)))
        more = start + len(page) < len(matching)
        return {"Invocation": {"InvocationResults": {"InvocationResult": items},
                               "NextToken": str(start + len(page)) if more else ""}}

    def StopInvocation(self, **params: t.Any) -> dict[str, t.Any]:
        with self.lock:
            self.events.append(("stop", self.reads[params["InvokeId"]]["page"]))
        return {}

    def _finished(self, read: dict[str, t.Any]) -> bool:
        if read["page"] in self.slow:
            return time.monotonic() - read["started"] >= SLOW_SECONDS
        return read["page"] not in self.unfinished

    def _result(self, invoke_id: str, read: dict[str, t.Any]) -> dict[str, t.Any]:
        if not self._finished(read):
            return {"InvokeId": invoke_id, "InstanceId": INSTANCE, "InvocationStatus": "Running"}
        output = page_bytes(read["page"])
        return {"InvokeId": invoke_id, "InstanceId": INSTANCE, "InvocationStatus": "Success", "ExitCode": 0,
                "Output": base64.b64encode(output).decode(), "Dropped": 0}

    def position(self, event: tuple[str, t.Any]) -> int:
        return self.events.index(event)


def page_bytes(index: int, length: int = 64) -> bytes:
    return (f"page {index:06d} ".encode() * length)[:length]


def options(**extra: t.Any) -> ExecOptions:
    return ExecOptions(schedule=PollSchedule(first=0.0, then=0.001, cap=0.01), parallelism=4, **extra)


def script(index: int, removes: t.Sequence[int]) -> str:
    return f"{index} {' '.join(str(page) for page in removes)}"


def rounds_of(count: int) -> list[list[int]]:
    return [list(range(start, min(start + ROUND_PAGES, count))) for start in range(0, count, ROUND_PAGES)]


def test_pages_come_back_in_order_each_read_once_one_poll_per_round() -> None:
    cloud = FakeCloud()
    count = 2 * ROUND_PAGES + 7  # three rounds, the last one short
    got = list(PageReader(cloud, INSTANCE, options()).read(count, script))
    assert [index for index, _invoke_id, _result in got] == list(range(count))
    assert all(result.output == page_bytes(index) for index, _invoke_id, result in got)
    assert sorted(read["page"] for read in cloud.reads.values()) == list(range(count)), "each page read once"
    tags = {tuple(pages): {cloud.reads[invoke_id]["tag"] for invoke_id in cloud.reads
                           if cloud.reads[invoke_id]["page"] in pages} for pages in rounds_of(count)}
    assert all(len(tag) == 1 for tag in tags.values()), "every read of a round carries the round's tag"
    assert len(set().union(*tags.values())) == len(tags), "and each round its own"
    assert sorted(pages for event, pages in cloud.events if event == "collected") == rounds_of(count)
    assert cloud.polls == len(rounds_of(count)), "one result poll collects a whole round"
    assert all(read["params"]["WorkingDir"] == "/" and read["params"]["TerminationMode"] == "ProcessTree"
               for read in cloud.reads.values())


def test_a_round_starts_only_after_the_round_two_before_it_was_collected() -> None:
    """At most two rounds are on the instance at once: round k waits for round k - 2 to be collected, even when
    round k - 1 was collected first (here the first round is slow)."""
    cloud = FakeCloud(slow=range(ROUND_PAGES))
    count = 5 * ROUND_PAGES
    list(PageReader(cloud, INSTANCE, options()).read(count, script))
    rounds = rounds_of(count)
    for number in range(2, len(rounds)):
        collected = cloud.position(("collected", rounds[number - 2]))
        first_start = min(cloud.position(("start", index)) for index in rounds[number])
        assert first_start > collected, f"round {number} started before round {number - 2} was collected"


def test_rounds_start_their_reads_one_round_at_a_time() -> None:
    """Two rounds that started together would wait together: a round's reads are all started before the next
    round starts any (module docstring of page_reads)."""
    cloud = FakeCloud(slow=range(ROUND_PAGES, 2 * ROUND_PAGES))
    count = 4 * ROUND_PAGES
    list(PageReader(cloud, INSTANCE, options()).read(count, script))
    starts = [index // ROUND_PAGES for event, index in cloud.events if event == "start"]
    assert [number for position, number in enumerate(starts) if not position or starts[position - 1] != number] \
        == sorted(set(starts), key=starts.index), f"rounds interleaved their starts: {starts}"


def test_pages_are_removed_once_each_only_after_they_were_read() -> None:
    """The first read of round k removes round k - 2's pages; the last two rounds' reads remove their own."""
    cloud = FakeCloud()
    count = 4 * ROUND_PAGES + 3
    list(PageReader(cloud, INSTANCE, options()).read(count, script))
    rounds = rounds_of(count)
    removed_by = {}
    for read in cloud.reads.values():
        for page in read["removes"]:
            assert page not in removed_by, f"page {page} removed twice"
            removed_by[page] = read["page"]
    assert sorted(removed_by) == list(range(count)), "every page removed"
    for number, pages in enumerate(rounds):
        if number < len(rounds) - 2:
            assert {removed_by[page] for page in pages} == {rounds[number + 2][0]}
        else:
            assert all(removed_by[page] == page for page in pages)
    removing = {read["page"] for read in cloud.reads.values() if read["removes"]}
    assert removing == {pages[0] for pages in rounds[2:]} | set(rounds[-2] + rounds[-1]), \
        "every other read removes nothing (a bare cat on the instance)"


def test_results_of_a_round_are_paged_like_the_api_pages_them() -> None:
    cloud = FakeCloud(page_size=7)
    got = list(PageReader(cloud, INSTANCE, options()).read(ROUND_PAGES + 5, script))
    assert [index for index, _invoke_id, _result in got] == list(range(ROUND_PAGES + 5))


def test_a_read_refused_mid_round_ends_the_read_with_that_error_and_nothing_hangs() -> None:
    cloud = FakeCloud(fail_start=ROUND_PAGES + 3)  # in the middle of the second round
    got = []
    with pytest.raises(CloudError, match="TaskConcurrencyLimit"):
        for index, _invoke_id, _result in PageReader(cloud, INSTANCE, options()).read(8 * ROUND_PAGES, script):
            got.append(index)
    assert got == list(range(ROUND_PAGES)), "the first round, collected before the failure, came back whole"
    assert ("start", ROUND_PAGES + 3) not in cloud.events
    late = sorted(index for event, index in cloud.events if event == "start" and index >= 3 * ROUND_PAGES)
    assert late == [], "rounds that begin after the failure start no reads"


def test_a_read_that_never_finishes_is_stopped_and_times_the_round_out() -> None:
    stuck = ROUND_PAGES + 4
    cloud = FakeCloud(unfinished={stuck})
    reader = PageReader(cloud, INSTANCE, options(timeout=0, wait_margin=0.2))
    with pytest.raises(InvocationTimeout):
        list(reader.read(2 * ROUND_PAGES, script))
    assert [event for event in cloud.events if event[0] == "stop"] == [("stop", stuck)], \
        "only the unfinished read is stopped"


def trailer_of(pages: int, tail: bytes = b"TAIL") -> Trailer:
    head = pages * OUTPUT_PAGE_BYTES
    return Trailer(missing=[], size=head + len(tail), sha256="", spool="/tmp/.alicloud-ecs-spool.x", frame_tail=tail,
                   head=head)


class PageEnvelope:
    """The reader's dialect for read_pages: this test's script, a full page of bytes per read."""

    page_working_dir = "/"
    command_type = "RunShellScript"

    def page_script(self, spool: str, index: int, removes: t.Sequence[int]) -> str:
        return script(index, removes)


def test_read_pages_puts_every_page_at_its_offset_then_the_tail() -> None:
    cloud = FakeCloud()
    cloud._result = full_page_result(cloud._result)
    frame_text = io.BytesIO()
    page_reads.read_pages(cloud, INSTANCE, options(envelope=PageEnvelope()), trailer_of(3), frame_text)
    assert frame_text.getvalue() == b"".join(bytes([index]) * OUTPUT_PAGE_BYTES for index in range(3)) + b"TAIL"


def full_page_result(result: t.Callable[..., dict[str, t.Any]]) -> t.Callable[..., dict[str, t.Any]]:
    def answer(invoke_id: str, read: dict[str, t.Any]) -> dict[str, t.Any]:
        item = result(invoke_id, read)
        if item["InvocationStatus"] == "Success":
            item["Output"] = base64.b64encode(bytes([read["page"]]) * OUTPUT_PAGE_BYTES).decode()
        return item
    return answer


def test_a_page_of_the_wrong_length_fails_naming_the_page_and_its_invocation() -> None:
    cloud = FakeCloud()
    cloud._result = short_second_page(cloud._result)
    with pytest.raises(RemoteExecError, match=r"page 1 of /tmp/\.alicloud-ecs-spool\.x returned 24575 of 24576 bytes "
                                              r"\(invocation t-\d+, status Success\)"):
        page_reads.read_pages(cloud, INSTANCE, options(envelope=PageEnvelope()), trailer_of(3), io.BytesIO())


def short_second_page(result: t.Callable[..., dict[str, t.Any]]) -> t.Callable[..., dict[str, t.Any]]:
    def answer(invoke_id: str, read: dict[str, t.Any]) -> dict[str, t.Any]:
        item = result(invoke_id, read)
        length = OUTPUT_PAGE_BYTES - (1 if read["page"] == 1 else 0)
        item["Output"] = base64.b64encode(b"x" * length).decode()
        return item
    return answer


def test_pages_without_a_spool_directory_are_an_error_before_any_call() -> None:
    cloud = FakeCloud()
    trailer = trailer_of(2)
    trailer.spool = None
    with pytest.raises(RemoteExecError, match="no spooled copy"):
        page_reads.read_pages(cloud, INSTANCE, options(), trailer, io.BytesIO())
    assert cloud.events == []
