"""What a worker needs from a resource's state machine.

The worker schedules state machines; it never looks inside them. Naming the
few members it uses as a Protocol keeps the worker, its registry and its
report independent of how :mod:`astara.orchestrator.state_machine` is built,
and lets their tests use a tiny double.

:class:`Outcomes` is what the reports say of a resource beyond its state:
its last failure and its last configuration. A failure is handled inside the
state machine (retried, never raised), so without this record an operator
would only find it in the log.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from astara.orchestrator.event import Event, Resource
from astara.orchestrator.instance_state import InstanceState


class Outcomes:
    """The last failure and the last successful configuration of one resource.

    Written by the thread running the machine, read by the report at any
    time: each fact is replaced in one assignment, so a reader never sees a
    message with another failure's time. The last error is kept, not
    cleared by a later success: the times say which came last.
    """

    __slots__ = ("_configured_at", "_error", "_wall_clock")

    def __init__(self, wall_clock: Callable[[], float] = time.time) -> None:
        self._wall_clock = wall_clock
        self._error: tuple[str, float] | None = None
        self._configured_at: float | None = None

    def failed(self, message: str) -> None:
        self._error = (message, self._wall_clock())

    def configured(self) -> None:
        self._configured_at = self._wall_clock()

    @property
    def last_error(self) -> tuple[str, float] | None:
        """The last failure's message and its epoch time, if anything failed yet."""
        return self._error

    @property
    def last_configured_at(self) -> float | None:
        """Epoch time of the last configuration an appliance accepted."""
        return self._configured_at


class Machine(Protocol):
    """One resource's state machine, as the worker drives it."""

    @property
    def resource(self) -> Resource: ...

    @property
    def deleted(self) -> bool:
        """True once the resource is gone and its appliance removed: forget the machine."""
        ...

    @property
    def instance_state(self) -> InstanceState: ...

    @property
    def current_state_name(self) -> str: ...

    @property
    def outcomes(self) -> Outcomes: ...

    def send_message(self, event: Event) -> bool:
        """Queue ``event``; False when the machine refuses it (deleted, POLL while in ERROR)."""
        ...

    def concerns(self, event: Event) -> bool:
        """False when an event sent to many resources cannot touch this one (not queued then)."""
        ...

    def update(self) -> None:
        """Work through the queued actions; never called by two threads at once."""
        ...

    def has_more_work(self) -> bool: ...

    def wake_at(self) -> float | None:
        """A ``time.monotonic()`` deadline at which to POLL the machine, if it wants one."""
        ...

    def queue_depth(self) -> int: ...


#: Builds the state machine of a resource seen for the first time.
MachineFactory = Callable[[Resource], Machine]
