"""What a worker needs from a resource's state machine.

The worker schedules state machines; it never looks inside them. Naming the
few members it uses as a Protocol keeps the worker, its registry and its
report independent of how :mod:`astara.orchestrator.state_machine` is built,
and lets their tests use a tiny double.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from astara.orchestrator.event import Event, Resource
from astara.orchestrator.instance_state import InstanceState


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
