from __future__ import annotations

import multiprocessing
import os
import threading
import time

from ansible_collections.alicloud.ecs.plugins.module_utils.api import call_slots


def test_no_more_than_the_limit_hold_a_slot_at_once_across_threads(tmp_path) -> None:
    slots = call_slots.CallSlots(str(tmp_path / "pool"), 3)
    lock = threading.Lock()
    inside, most = [0], [0]

    def call() -> None:
        with slots.held():
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.02)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=call) for _index in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most[0] == 3


def _hold_and_report(directory: str, limit: int, held, release) -> None:
    with call_slots.CallSlots(directory, limit).held():
        held.set()
        release.wait(30)


def test_forked_workers_share_the_pool_and_a_dead_holder_frees_its_slot(tmp_path) -> None:
    directory = str(tmp_path / "pool")
    context = multiprocessing.get_context("fork")
    held, release = context.Event(), context.Event()
    worker = context.Process(target=_hold_and_report, args=(directory, 1, held, release))
    worker.start()
    assert held.wait(30)
    taken = threading.Event()

    def take() -> None:
        with call_slots.CallSlots(directory, 1).held():
            taken.set()

    waiter = threading.Thread(target=take)
    waiter.start()
    assert not taken.wait(0.3)  # the only slot is the worker's
    worker.kill()  # killed while holding it: the kernel drops its lock
    worker.join()
    waiter.join(30)
    assert taken.is_set()


def _pool_directory(queue) -> None:
    queue.put(call_slots.shared(7).directory)


def test_a_worker_and_its_parent_draw_from_the_same_directory() -> None:
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    worker = context.Process(target=_pool_directory, args=(queue,))
    worker.start()
    in_worker = queue.get(timeout=30)
    worker.join()
    assert in_worker == call_slots.shared(7).directory
    assert f"calls-{os.getpid()}-" in in_worker
