"""Collapsing a resource's pending actions into the least work that serves them all.

A router can receive dozens of notifications for one operator action (a port,
a subnet, an interface, a floating IP...). Each only means "the router's
appliance must match the network model again", so queueing them all would
make the appliance be reconfigured once per notification. The state machine
keeps its queue collapsed instead, with one rule: the strongest pending action
does the work of the weaker ones.

    DELETE  > REBUILD > CREATE > CLUSTER_REBUILD > UPDATE > POLL

- DELETE wins over everything: nothing is worth doing for a resource that goes.
- REBUILD replaces the appliance, which then gets the current config, so it
  serves any CREATE, UPDATE or CLUSTER_REBUILD.
- CREATE boots (if needed) and configures, so it absorbs UPDATE.
- CLUSTER_REBUILD restores a missing HA member and configures both, so it
  absorbs UPDATE.
- A POLL only checks health; any other action checks health too, so a POLL
  next to any action is dropped.
- READ (collect traffic counters) is orthogonal: it survives beside any action
  but DELETE, runs after it, and absorbs a POLL because it checks health too.

Because the result does not depend on the order of the input and
``collapse(a + b) == collapse(collapse(a) + b)``, the state machine can
collapse on every arrival and its queue never holds more than two entries.
What a collapse saved is counted (:func:`discarded`): a high rate says the
queue spares the appliances many reconfigurations.
"""

from __future__ import annotations

from collections.abc import Iterable

from astara.orchestrator.event import Crud

#: Actions that change the appliance, strongest first.
_STRENGTH: tuple[Crud, ...] = (
    Crud.DELETE,
    Crud.REBUILD,
    Crud.CREATE,
    Crud.CLUSTER_REBUILD,
    Crud.UPDATE,
)

#: Everything a state machine's queue may hold.
QUEUEABLE: frozenset[Crud] = frozenset((*_STRENGTH, Crud.READ, Crud.POLL))


def collapse(pending: Iterable[Crud]) -> tuple[Crud, ...]:
    """Return the actions, in order, that do the work of every action in ``pending``.

    Raises ValueError for an action a state machine cannot queue (COMMAND and
    REBALANCE are handled by the worker, never by a state machine).
    """
    present = set(pending)
    unknown = present - QUEUEABLE
    if unknown:
        names = ", ".join(sorted(unknown))
        raise ValueError(f"not a state-machine action: {names}")
    strongest = next((crud for crud in _STRENGTH if crud in present), None)
    if strongest is Crud.DELETE:
        return (Crud.DELETE,)
    actions: tuple[Crud, ...] = (strongest,) if strongest else ()
    if Crud.READ in present:
        return (*actions, Crud.READ)
    if not actions and Crud.POLL in present:
        return (Crud.POLL,)
    return actions


def discarded(pending: Iterable[Crud], kept: Iterable[Crud]) -> dict[Crud, int]:
    """How many of each action ``pending`` held beyond ``kept``, its :func:`collapse`.

    A collapse keeps each action at most once, so every other occurrence was
    discarded (counted without building multisets: this runs on every event).
    """
    unseen = set(kept)
    saved: dict[Crud, int] = {}
    for crud in pending:
        if crud in unseen:
            unseen.discard(crud)
        else:
            saved[crud] = saved.get(crud, 0) + 1
    return saved
