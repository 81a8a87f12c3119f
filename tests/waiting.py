"""Waiting for another thread or process to make something true.

A liveness check, never a timing one: the timeout only bounds how long a
broken test hangs, so it is generous.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(
    condition: Callable[[], bool], what: str, timeout: float = 60.0, interval: float = 0.05
) -> None:
    """Return once ``condition()`` is true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(interval)
