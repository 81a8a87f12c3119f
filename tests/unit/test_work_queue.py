"""WorkQueue: keys queued once, never processed twice at once, none waiting for another."""

from __future__ import annotations

import threading
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from astara.orchestrator.work_queue import WorkQueue


def test_keys_come_out_in_arrival_order() -> None:
    queue: WorkQueue[str] = WorkQueue()
    for key in ("a", "b", "c"):
        queue.add(key)
    assert [queue.get(), queue.get(), queue.get()] == ["a", "b", "c"]


def test_a_waiting_key_added_again_is_queued_once() -> None:
    queue: WorkQueue[str] = WorkQueue()
    for key in ("a", "b", "a", "a", "b"):
        queue.add(key)
    assert len(queue) == 2


def test_a_key_added_while_processed_waits_until_done() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    assert queue.get() == "a"
    queue.add("a")
    queue.add("a")
    assert len(queue) == 0, "a key being processed must not be handed out again"
    queue.done("a")
    assert len(queue) == 1
    assert queue.get() == "a"


def test_done_without_new_work_does_not_requeue() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    key = queue.get()
    assert key == "a"
    queue.done(key)
    assert len(queue) == 0


def test_close_releases_waiting_threads_and_refuses_work() -> None:
    queue: WorkQueue[str] = WorkQueue()
    got: list[str | None] = []
    waiter = threading.Thread(target=lambda: got.append(queue.get()))
    waiter.start()
    queue.close()
    waiter.join(5)
    assert got == [None]
    queue.add("a")
    assert queue.get() is None


def test_close_keeps_queued_keys_unserved() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    queue.close()
    assert queue.get() is None
    assert len(queue) == 1


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from("abcdefgh"), min_size=1, max_size=60))
def test_concurrent_consumers_never_share_a_key(adds: list[str]) -> None:
    """Threads process while keys keep arriving: no key is ever held by two threads."""
    queue: WorkQueue[str] = WorkQueue()
    holding: Counter[str] = Counter()
    processed: Counter[str] = Counter()
    overlaps: list[str] = []
    lock = threading.Lock()

    def consume() -> None:
        while (key := queue.get()) is not None:
            with lock:
                holding[key] += 1
                if holding[key] > 1:
                    overlaps.append(key)
            with lock:
                holding[key] -= 1
                processed[key] += 1
            queue.done(key)

    threads = [threading.Thread(target=consume) for _ in range(4)]
    for thread in threads:
        thread.start()
    for key in adds:
        queue.add(key)
    # Wait until every key has been served at least once since its last add.
    while True:
        with lock:
            served = set(processed)
        if served >= set(adds) and len(queue) == 0:
            break
        threading.Event().wait(0.001)
    queue.close()
    for thread in threads:
        thread.join(5)
    assert overlaps == []
    assert set(processed) == set(adds)
    assert all(processed[key] <= adds.count(key) for key in processed)
