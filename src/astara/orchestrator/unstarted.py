"""The events each state machine was given and has not begun to work on.

When the orchestrator stops, these are what would be lost: work asked for
but not started. The worker records every event it hands a machine and
forgets them when a thread starts that machine's ``update()``, so at shutdown
it can save exactly the unstarted ones (with their bodies: a rebuild keeps
its image) to be replayed at the next start. Merged with
:func:`~astara.orchestrator.collapse.collapse`, a machine never has more than
two of them. POLLs are not kept: the next start checks every resource anyway.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import Generic, TypeVar

from astara.orchestrator.collapse import QUEUEABLE, collapse
from astara.orchestrator.event import Crud, Event

Key = TypeVar("Key", bound=Hashable)


class UnstartedEvents(Generic[Key]):
    """Per key, the latest event of each action handed over since its last start."""

    def __init__(self) -> None:
        self._events: dict[Key, dict[Crud, Event]] = {}
        self._lock = threading.Lock()

    def given(self, key: Key, event: Event) -> None:
        if event.crud is Crud.POLL or event.crud not in QUEUEABLE:
            return
        with self._lock:
            self._events.setdefault(key, {})[event.crud] = event

    def started(self, key: Key) -> None:
        """A thread begins ``key``'s update: everything given so far is being handled."""
        with self._lock:
            self._events.pop(key, None)

    def take_all(self) -> list[Event]:
        """The unstarted events of every key, merged the way its machine merges them."""
        with self._lock:
            events, self._events = self._events, {}
        return [
            by_crud[crud] for by_crud in events.values() for crud in collapse(by_crud)
        ]
