"""Which resources this orchestrator owns, as a worker process knows it.

With ``[coordination] enabled``, the orchestrators share the resources on a
hash ring keyed by resource id (as the original did). The main process
learns the members and sends every worker a REBALANCE carrying them
(:mod:`astara.orchestrator.cluster`); the worker builds the same ring and
from then on drives only the resources this orchestrator owns.

Until a worker has heard its first REBALANCE it owns nothing: acting on a
resource that may be another orchestrator's would drive it twice. Nothing
is lost by waiting, because every change of membership that gives this
orchestrator resources is followed by an UPDATE of each of them, which
reads their current state.

The same reasoning covers a hand-over between two live orchestrators: the
one that loses a resource hears of the change at its own next heartbeat and
lets go once its current step ends, so the one that gains it waits until
the REBALANCE's ``handover_until`` (wall-clock seconds: the processes of one
host share the clock) before driving it. A resource whose owner left (or
died) has nobody to wait for and is taken at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from astara.orchestrator.hash_ring import DEFAULT_PARTITION_EXPONENT, HashRing

#: The body keys of a REBALANCE event: the members of the cluster, those of the
#: ring before, and until when resources gained from a live member stay theirs.
MEMBERS = "members"
PREVIOUS = "previous_members"
HANDOVER_UNTIL = "handover_until"


class ClusterView:
    """The ring one worker filters by; everything is owned when not clustered."""

    def __init__(
        self,
        host: str,
        *,
        clustered: bool,
        partition_exponent: int = DEFAULT_PARTITION_EXPONENT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.host = host
        self.clustered = clustered
        self._exponent = partition_exponent
        self._clock = clock
        self._ring: HashRing | None = None
        self._previous: HashRing | None = None
        self._handover_until = 0.0

    def owns(self, resource_id: str) -> bool:
        """Whether this orchestrator drives ``resource_id`` (a concrete id) now."""
        if not self.clustered:
            return True
        ring = self._ring
        return (
            ring is not None
            and ring.owns(self.host, resource_id)
            and self.handed_over_at(resource_id) is None
        )

    def handed_over_at(self, resource_id: str) -> float | None:
        """When a resource this orchestrator is gaining from a live member becomes its own.

        None when no hand-over is under way for it (it is owned, or not ours at all).
        """
        ring, previous, until = self._ring, self._previous, self._handover_until
        if ring is None or previous is None or not previous.members or self._clock() >= until:
            return None
        if not ring.owns(self.host, resource_id):
            return None
        giver = previous.owner(resource_id)
        return until if giver != self.host and giver in ring.members else None

    def rebalance(
        self,
        members: Iterable[str],
        previous: Iterable[str] | None = None,
        handover_until: float = 0.0,
    ) -> None:
        """Take the ring of ``members``, as a REBALANCE names them (see the module)."""
        self._ring = HashRing(frozenset(members), self._exponent)
        self._previous = None if previous is None else HashRing(frozenset(previous), self._exponent)
        self._handover_until = handover_until

    def describe(self) -> dict[str, Any]:
        """For the workers-debug report: whether clustered, who we are, the members."""
        return describe_ring(self.host, self.clustered, self._ring)


def describe_ring(host: str, clustered: bool, ring: HashRing | None) -> dict[str, Any]:
    """What the reports and the control API say of a ring (members None before the first)."""
    members = None if ring is None else sorted(ring.members)
    return {"clustered": clustered, "host": host, "members": members}
