"""Per-resource back-off after a failed update.

A state machine whose ``update()`` raises (its driver's network model is down,
a bug in one resource's config) is retried, but later and later, so one broken
resource cannot eat a worker's threads in a retry loop. Only that resource
backs off: others go on at full speed, and a success resets its delay.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)


class FailureBackoff(Generic[Key]):
    """Exponential delays per key: ``first``, 2x``first`` ... capped at ``cap`` seconds."""

    def __init__(self, *, first: float = 1.0, cap: float = 60.0) -> None:
        if first <= 0 or cap < first:
            raise ValueError(f"need 0 < first <= cap, got first={first} cap={cap}")
        self._first = first
        self._cap = cap
        self._failures: dict[Key, int] = {}
        self._lock = threading.Lock()

    def failed(self, key: Key) -> float:
        """Record a failure of ``key``; return how long to wait before retrying it."""
        with self._lock:
            count = self._failures.get(key, 0)
            self._failures[key] = count + 1
        # Capping the exponent keeps 2**count finite for a key that fails forever.
        return min(self._first * 2 ** min(count, 32), self._cap)

    def forget(self, key: Key) -> None:
        """``key`` succeeded (or is gone): its next failure starts from ``first`` again."""
        with self._lock:
            self._failures.pop(key, None)
