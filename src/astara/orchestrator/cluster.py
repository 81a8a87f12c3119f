"""Clustering in the main process: membership changes become REBALANCEs and takeovers.

When ``[coordination] enabled``, :class:`Cluster` keeps this orchestrator in
the tooz group (:class:`~astara.orchestrator.coordination.Membership`) and,
at each change of members:

1. sends every worker a REBALANCE with the new members: each worker builds
   the ring, drops the state machines of the resources it no longer owns
   once their current step ends (:class:`~astara.orchestrator.cluster_view.ClusterView`),
   and from then on takes events only for the ones it owns;
2. asks populate for an UPDATE of every resource this orchestrator gained.
   An UPDATE verifies an appliance that is fine without rebuilding it, and
   finishes a boot or a configuration that the previous owner left half
   done. It also reads the resource's current state, which covers any
   event the previous owner took but never acted on.

At the first membership (the bootstrap) nothing needs taking over when it
comes before populate's first pass, which serves every owned resource
anyway; a bootstrap delayed by an unreachable backend is a takeover of
everything this orchestrator owns.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from oslo_config import cfg

from astara.orchestrator.cluster_view import MEMBERS
from astara.orchestrator.coordination import Membership, MembershipSettings
from astara.orchestrator.event import ALL, Crud, Event, Resource
from astara.orchestrator.event_sink import EventSink
from astara.orchestrator.hash_ring import HashRing
from astara.orchestrator.populate import ResourceFilter

LOG = logging.getLogger(__name__)

_EVERYTHING = Resource(driver=ALL, id=ALL, tenant_id=ALL)


def rebalance_event(members: frozenset[str]) -> Event:
    """The REBALANCE every worker gets: the members, from which it builds the ring."""
    return Event(_EVERYTHING, Crud.REBALANCE, {MEMBERS: sorted(members)})


class Cluster:
    """This orchestrator's membership, turned into work for the workers and populate."""

    def __init__(
        self,
        conf: cfg.ConfigOpts,
        sink: EventSink,
        take_over: Callable[[ResourceFilter], None],
    ) -> None:
        self._host = conf.host
        self._sink = sink
        self._take_over = take_over
        self._lock = threading.Lock()
        self._ring: HashRing | None = None
        self._starting = False
        self._membership = Membership(MembershipSettings.from_config(conf), self._changed)

    @property
    def ring(self) -> HashRing | None:
        """The last ring, None before the bootstrap."""
        return self._ring

    def start(self) -> None:
        """Join; with a reachable backend the workers know the ring when this returns."""
        self._starting = True
        try:
            self._membership.start()
        finally:
            self._starting = False

    def stop(self) -> None:
        """Leave the group at once, so the others take over without waiting for the lease."""
        self._membership.stop()

    def resend(self) -> None:
        """Tell the workers the ring again (a restarted worker process has none)."""
        with self._lock:
            ring = self._ring
        if ring is not None:
            self._sink.dispatch([rebalance_event(ring.members)])

    def _changed(self, members: frozenset[str], ring: HashRing) -> None:
        with self._lock:
            old, self._ring = self._ring, ring
            self._sink.dispatch([rebalance_event(members)])
        host = self._host
        if old is None and self._starting:
            LOG.info("cluster bootstrap: %d member(s); populate serves what %s owns",
                     len(members), host)  # fmt: skip
            return

        def gained(resource: Resource) -> bool:
            had = old is not None and old.owns(host, resource.id)
            return not had and ring.owns(host, resource.id)

        LOG.info("cluster changed: %d member(s); taking over what %s gained", len(members), host)
        self._take_over(gained)
