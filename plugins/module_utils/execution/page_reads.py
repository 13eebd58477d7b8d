# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read many spooled output pages back with few result polls.

A command's output larger than one API page (24 KB) is spooled on the instance and read back page by
page, one small RunCommand each; the output cap leaves no way around one command per page. Waiting for
each of them with its own DescribeInvocationResults would double the calls, though. The API filters
results by instance and invocation tag, up to 50 per call (docs/api-contract.md#describeinvocationresults), so the reads go in rounds:
every read of a round carries the round's tag, and one poll by that tag collects the outputs of all of
them. Two rounds are under way at once (one starting while the other is collected), so at most
``2 * ROUND_PAGES`` reads run on the instance together. Rounds start their reads one at a time: two
rounds that started together would also wait together, and nothing would be sent while both wait; kept
apart, one round's wait passes while the other starts, and a large fetch's rate no longer depends on how
the two rounds happen to fall.

Pages are removed a round at a time: one read of round ``k`` also removes the pages of round ``k - 2``,
which has been collected before round ``k`` starts, and the reads of the last two rounds remove their
own pages. Every other read is a bare ``cat``, so a page costs the instance one process, not three.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
import typing as t
from concurrent.futures import ThreadPoolExecutor

from ..api.client import CloudClient
from ..engine.invocation import InstanceResult, InvocationTimeout
from ..engine.invocations_api import describe_invocation_results, run_command, stop_invocation
from .exec_errors import RemoteExecError
from .exec_options import ExecOptions
from .file_transfer import TransferProgress
from .frame import OUTPUT_PAGE_BYTES, Frame, Trailer, decode_frame

# The instance's agent runs 10 tasks at once and queues 50 more (aliyun_assist_client agent/taskengine/
# taskpool.go); past that its dispatcher stalls, and a server may refuse with TaskConcurrencyLimit. A round
# of 20 is two waves of its 10 workers; two rounds in flight (40 reads) leave room in its queue for the
# transfer's staged chunks (SEND_PARALLELISM) or another task on the instance.
ROUND_PAGES = 20        # page reads per round: one poll returns them all (≤ invocations_api.PAGE_SIZE)
ROUNDS_IN_FLIGHT = 2    # so at most 40 reads are on the instance at once
ROUND_TAG = "alicloud-ecs:page-round"
PageScript = t.Callable[[int, t.Sequence[int]], str]
MEMORY_FRAME_BYTES = 8 << 20  # a larger result frame is assembled in a temporary file


def read_frame(client: CloudClient, instance_id: str, options: ExecOptions, trailer: Trailer,
               stdout: t.BinaryIO | None = None) -> Frame:
    """The frame a run's output ends in, whole (read_pages), checked and decoded; with ``stdout`` given, standard
    output streams into it (see frame.decode_frame). The executor and full_output both read their answers so."""
    with tempfile.SpooledTemporaryFile(max_size=MEMORY_FRAME_BYTES) as frame_text:
        read_pages(client, instance_id, options, trailer, frame_text)
        return decode_frame(frame_text, trailer.sha256, stdout, trailer.compressed)


def read_pages(client: CloudClient, instance_id: str, options: ExecOptions, trailer: Trailer,
               frame_text: t.BinaryIO) -> None:
    """Write the whole frame text into ``frame_text``: spooled pages (several reads in flight,
    each checked for its exact length), then the tail this output carried."""
    pages = trailer.pages
    if pages and not trailer.spool:
        raise RemoteExecError("output was cut by the API but the instance kept no spooled copy")
    progress = TransferProgress(client, f"read from {instance_id}", trailer.size)
    reader = PageReader(client, instance_id, options)
    spool = str(trailer.spool)
    envelope = options.envelope
    for index, invoke_id, result in reader.read(len(pages), lambda page, removes: envelope.page_script(
            spool, page, removes)):
        length = pages[index][1]
        if result.status != "Success" or result.dropped or len(result.output) != length:
            raise RemoteExecError(
                f"page {index} of {trailer.spool} returned {len(result.output)} of {length} bytes "
                f"(invocation {invoke_id}, status {result.status})", invoke_id)
        frame_text.seek(index * OUTPUT_PAGE_BYTES)
        frame_text.write(result.output)
        progress.add(length)
    frame_text.seek(trailer.head)
    frame_text.write(trailer.frame_tail)


class PageReader:
    """Runs page scripts on one instance and returns their outputs, a round of them per result poll."""

    def __init__(self, client: CloudClient, instance_id: str, options: ExecOptions) -> None:
        self.client = client
        self.instance_id = instance_id
        self.options = options
        self._nonce = os.urandom(6).hex()
        self._rounds = 0
        self._starting = threading.Lock()  # one round numbers and starts its reads at a time (module docstring)

    def read(self, count: int, script: PageScript) -> t.Iterator[tuple[int, str, InstanceResult]]:
        """(index, InvokeId, result) of every page ``0 .. count - 1``, round by round, each read once and finished.

        ``script(index, removes)`` is the read of page ``index`` that also removes the pages ``removes``.
        """
        rounds = [list(range(start, min(start + ROUND_PAGES, count))) for start in range(0, count, ROUND_PAGES)]
        collected = [threading.Event() for _round in rounds]
        # Set by a round that failed: the rounds after it start nothing (the pool runs every round it was given
        # before the error comes out, which for a large output would be all the rest); the spooled pages left
        # behind go with the instance's pruning of stray work directories.
        failed = threading.Event()

        def read_round(number: int) -> list[tuple[int, str, InstanceResult]]:
            removes: dict[int, list[int]] = {index: [] for index in rounds[number]}
            if number >= ROUNDS_IN_FLIGHT:
                older = number - ROUNDS_IN_FLIGHT
                collected[older].wait()  # its pages are read: this round's first read removes them
                removes[rounds[number][0]] += rounds[older]
            if number >= len(rounds) - ROUNDS_IN_FLIGHT:  # no later round removes these
                for index in rounds[number]:
                    removes[index].append(index)
            try:
                if failed.is_set():
                    return []
                return self._round(starters, [(index, script(index, removes[index])) for index in rounds[number]])
            except BaseException:
                failed.set()
                raise
            finally:
                collected[number].set()

        with ThreadPoolExecutor(max_workers=max(1, self.options.parallelism)) as starters, \
                ThreadPoolExecutor(max_workers=ROUNDS_IN_FLIGHT) as rounds_pool:
            for done in rounds_pool.map(read_round, range(len(rounds))):
                yield from done

    def _round(self, starters: ThreadPoolExecutor,
               reads: list[tuple[int, str]]) -> list[tuple[int, str, InstanceResult]]:
        options = self.options
        with self._starting:
            self._rounds += 1
            tag = f"{self._nonce}-{self._rounds}"
            tags = {**options.tags, ROUND_TAG: tag}
            invoke_ids = list(starters.map(lambda read: run_command(
                self.client, [self.instance_id], read[1], command_type=options.envelope.command_type,
                name=options.name, timeout=options.timeout, username=options.username, tags=tags,
                working_dir=options.envelope.page_working_dir, termination_mode="ProcessTree").invoke_id, reads))
        by_invoke = {invoke_id: index for invoke_id, (index, _script) in zip(invoke_ids, reads)}
        results = self._wait(tag, by_invoke)
        return [(by_invoke[invoke_id], invoke_id, results[invoke_id]) for invoke_id in invoke_ids]

    def _wait(self, tag: str, by_invoke: dict[str, int]) -> dict[str, InstanceResult]:
        """Poll by the round's tag until every read in it finished; a read left unfinished at the deadline is stopped."""
        started = time.monotonic()
        deadline = started + self.options.timeout + self.options.wait_margin
        finished: dict[str, InstanceResult] = {}
        for delay in self.options.schedule.delays():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                late = sorted(set(by_invoke) - set(finished))
                for invoke_id in late:
                    stop_invocation(self.client, invoke_id, quiet=True)
                raise InvocationTimeout(late[0], time.monotonic() - started)
            time.sleep(min(delay, remaining))
            for invoke_id, result in self._tagged(tag):
                if invoke_id in by_invoke and result.finished:
                    finished[invoke_id] = result
            if len(finished) == len(by_invoke):
                return finished
        raise AssertionError("unreachable")  # pragma: no cover

    def _tagged(self, tag: str) -> t.Iterator[tuple[str, InstanceResult]]:
        """Every result of this instance carrying the round's tag, across as many pages as there are."""
        for item in describe_invocation_results(self.client, InstanceId=self.instance_id,
                                                Tag=[{"Key": ROUND_TAG, "Value": tag}]):
            yield item.get("InvokeId", ""), InstanceResult.from_api(item)
