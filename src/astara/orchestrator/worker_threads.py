"""The threads of a worker process, and what each one is doing right now.

Each thread takes a key from the :class:`~astara.orchestrator.work_queue.WorkQueue`,
runs it, and gives it back. What a thread is doing is kept as plain text so the
workers-debug report can show an operator which resource a stuck thread is on
and since when.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from astara.orchestrator.work_queue import WorkQueue

Key = TypeVar("Key", bound=Hashable)

LOG = logging.getLogger(__name__)

IDLE = "waiting for work"


@dataclass(frozen=True, slots=True)
class ThreadStatus:
    name: str
    alive: bool
    doing: str
    #: Seconds since the thread started ``doing`` it.
    for_seconds: float


class WorkerThreads(Generic[Key]):
    """``count`` threads running ``process(key)`` for every key the queue hands out."""

    def __init__(
        self,
        queue: WorkQueue[Key],
        process: Callable[[Key], None],
        *,
        count: int,
        describe: Callable[[Key], str] = str,
    ) -> None:
        if count < 1:
            raise ValueError(f"a worker needs at least one thread, not {count}")
        self._queue = queue
        self._process = process
        self._describe = describe
        self._doing: dict[str, tuple[str, float]] = {}
        self._threads = [
            threading.Thread(target=self._run, name=f"t{index:02d}", daemon=True)
            for index in range(count)
        ]

    def start(self) -> None:
        for thread in self._threads:
            self._doing[thread.name] = (IDLE, time.monotonic())
            thread.start()

    def join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for every thread to end; True if they all did.

        Threads end once the queue is closed and their current key is done.
        """
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self._threads)

    def statuses(self) -> list[ThreadStatus]:
        now = time.monotonic()
        statuses = []
        for thread in self._threads:
            doing, since = self._doing.get(thread.name, (IDLE, now))
            statuses.append(ThreadStatus(thread.name, thread.is_alive(), doing, now - since))
        return statuses

    def _run(self) -> None:
        name = threading.current_thread().name
        while (key := self._queue.get()) is not None:
            self._doing[name] = (f"updating {self._describe(key)}", time.monotonic())
            try:
                self._process(key)
            except Exception:
                # process() handles its own failures; this keeps the thread alive
                # through a bug in it.
                LOG.exception("thread %s failed on %s", name, self._describe(key))
            finally:
                self._queue.done(key)
                self._doing[name] = (IDLE, time.monotonic())
        self._doing[name] = ("stopped", time.monotonic())
