"""The queue of resources that have work, shared by a worker's threads.

It holds resource *keys*, not events: a resource's events are already merged
in its state machine's own collapsed queue, so the only question left is
"which resource should a free thread run next". Three promises follow:

- **A key is queued at most once.** Adding a key that is already waiting does
  nothing, so a burst of events for one router costs one slot, not one per event.
- **A key is never handed to two threads at once.** A key that is being
  processed and is added again is only marked *dirty*; it goes back to the
  queue when its thread calls :meth:`done`. The state machine's ``update()`` is
  therefore never run concurrently for one resource, without a lock per resource
  (the original kept one and could leave it held).
- **No key waits for another.** Keys are served in arrival order by any free
  thread; a slow resource occupies one thread and blocks nothing else.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)


class WorkQueue(Generic[Key]):
    """A FIFO of distinct keys with exclusive processing (see the module docstring)."""

    def __init__(self) -> None:
        self._ready: deque[Key] = deque()
        # Keys that need a run: those in _ready, and those being processed that
        # were added again meanwhile.
        self._dirty: set[Key] = set()
        self._processing: set[Key] = set()
        self._changed = threading.Condition()
        self._closed = False

    def add(self, key: Key) -> None:
        """Ask for ``key`` to be processed (again); a no-op if it already will be."""
        self.add_all((key,))

    def add_all(self, keys: Iterable[Key]) -> None:
        """:meth:`add` each key, taking the lock and waking threads once for all of them.

        A worker adds the keys of a whole batch of events at once: threads then
        wake once per batch rather than once per event, and a resource named by
        several events of the batch is queued once, its events already merged.
        """
        with self._changed:
            if self._closed:
                return
            added = 0
            for key in keys:
                if key in self._dirty:
                    continue
                self._dirty.add(key)
                if key not in self._processing:
                    self._ready.append(key)
                    added += 1
            if added:
                self._changed.notify(added)

    def get(self) -> Key | None:
        """Wait for a key and mark it as being processed; None once the queue is closed.

        The caller must call :meth:`done` with the key when it has finished.
        """
        with self._changed:
            while not self._ready and not self._closed:
                self._changed.wait()
            if self._closed:
                return None
            key = self._ready.popleft()
            self._dirty.discard(key)
            self._processing.add(key)
            return key

    def done(self, key: Key) -> None:
        """Release ``key``; if it was added while being processed it is queued again."""
        with self._changed:
            self._processing.discard(key)
            if key in self._dirty and not self._closed:
                self._ready.append(key)
                self._changed.notify()

    def close(self) -> None:
        """Stop handing out keys: every waiting and future :meth:`get` returns None.

        Keys still queued stay where they are; the worker reads what they were
        waiting for from their state machines when it shuts down.
        """
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def __len__(self) -> int:
        """How many keys wait for a thread (not counting those being processed)."""
        with self._changed:
            return len(self._ready)
