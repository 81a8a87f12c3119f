"""Deadlines at which a resource must run again without any event.

A state machine whose appliance is booting asks to be looked at again later
(``wake_at()``), and a resource whose update failed is retried after a
back-off. Both are deadlines, so one thread sleeping until the earliest of them
serves every resource of a worker: nothing busy-loops, and a booting appliance
costs nothing while it boots.

A key holds at most one deadline, the earliest asked for: a resource woken
early does all its pending work then, and asks again if it still needs to.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)

LOG = logging.getLogger(__name__)


class WakeTimers(Generic[Key]):
    """Calls ``on_due(key)`` from one thread when each key's deadline passes."""

    def __init__(self, on_due: Callable[[Key], None], *, name: str = "wake-timers") -> None:
        self._on_due = on_due
        self._deadlines: dict[Key, float] = {}
        # (deadline, tie-breaker, key); entries whose deadline no longer matches
        # _deadlines were superseded or cancelled and are skipped when popped.
        self._heap: list[tuple[float, int, Key]] = []
        self._order = itertools.count()
        self._changed = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def schedule(self, key: Key, at: float) -> None:
        """Wake ``key`` at ``at`` (a ``time.monotonic()`` value) unless it is due earlier."""
        with self._changed:
            current = self._deadlines.get(key)
            if current is not None and current <= at:
                return
            self._deadlines[key] = at
            heapq.heappush(self._heap, (at, next(self._order), key))
            if self._heap[0][2] == key:
                self._changed.notify()

    def cancel(self, key: Key) -> None:
        """Forget ``key``'s deadline (its resource is gone)."""
        with self._changed:
            self._deadlines.pop(key, None)

    def pending(self) -> int:
        """How many keys have a deadline."""
        with self._changed:
            return len(self._deadlines)

    def stop(self) -> None:
        with self._changed:
            self._stopped = True
            self._changed.notify()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while True:
            due = self._wait_for_due()
            if due is None:
                return
            for key in due:
                try:
                    self._on_due(key)
                except Exception:
                    LOG.exception("waking %s failed", key)

    def _wait_for_due(self) -> list[Key] | None:
        """Sleep until at least one deadline passed; return the due keys, None when stopped."""
        with self._changed:
            while not self._stopped:
                due = self._pop_due(time.monotonic())
                if due:
                    return due
                timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                self._changed.wait(timeout)
            return None

    def _pop_due(self, now: float) -> list[Key]:
        due: list[Key] = []
        while self._heap and self._heap[0][0] <= now:
            at, _, key = heapq.heappop(self._heap)
            if self._deadlines.get(key) == at:
                del self._deadlines[key]
                due.append(key)
        return due
