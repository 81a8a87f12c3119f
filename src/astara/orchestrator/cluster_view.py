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
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from astara.orchestrator.hash_ring import DEFAULT_PARTITION_EXPONENT, HashRing

#: The body key of a REBALANCE event: the members of the cluster.
MEMBERS = "members"


class ClusterView:
    """The ring one worker filters by; everything is owned when not clustered."""

    def __init__(
        self,
        host: str,
        *,
        clustered: bool,
        partition_exponent: int = DEFAULT_PARTITION_EXPONENT,
    ) -> None:
        self.host = host
        self.clustered = clustered
        self._exponent = partition_exponent
        self._ring: HashRing | None = None

    def owns(self, resource_id: str) -> bool:
        """Whether this orchestrator drives ``resource_id`` (a concrete id)."""
        if not self.clustered:
            return True
        ring = self._ring
        return ring is not None and ring.owns(self.host, resource_id)

    def rebalance(self, members: Iterable[str]) -> None:
        """Take the ring of ``members``, as a REBALANCE names them."""
        self._ring = HashRing(frozenset(members), self._exponent)

    def describe(self) -> dict[str, Any]:
        """For the workers-debug report: whether clustered, who we are, the members."""
        return describe_ring(self.host, self.clustered, self._ring)


def describe_ring(host: str, clustered: bool, ring: HashRing | None) -> dict[str, Any]:
    """What the reports and the control API say of a ring (members None before the first)."""
    members = None if ring is None else sorted(ring.members)
    return {"clustered": clustered, "host": host, "members": members}
