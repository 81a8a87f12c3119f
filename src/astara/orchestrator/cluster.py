"""Clustering in the main process: membership changes become REBALANCEs and takeovers.

When ``[coordination] enabled``, :class:`Cluster` keeps this orchestrator in
the tooz group (:class:`~astara.orchestrator.coordination.Membership`) and,
at each change of members:

1. sends every worker a REBALANCE with the new members: each worker builds
   the ring, drops the state machines of the resources it no longer owns
   once their current step ends (:class:`~astara.orchestrator.cluster_view.ClusterView`),
   and from then on takes events only for the ones it owns;
2. asks populate for an UPDATE of every resource this orchestrator gained:
   at once for those whose owner left, after the hand-over window
   (:mod:`~astara.orchestrator.cluster_view`) for those a live member gave up.
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
import time
from collections.abc import Callable

from oslo_config import cfg

from astara.orchestrator.cluster_view import HANDOVER_UNTIL, MEMBERS, PREVIOUS
from astara.orchestrator.coordination import Membership, MembershipSettings
from astara.orchestrator.event import ALL, Crud, Event, Resource
from astara.orchestrator.event_sink import EventSink
from astara.orchestrator.hash_ring import HashRing
from astara.orchestrator.populate import ResourceFilter

LOG = logging.getLogger(__name__)

_EVERYTHING = Resource(driver=ALL, id=ALL, tenant_id=ALL)


#: Seconds, beyond two heartbeats, that a live loser is given to finish the step in hand.
STEP_GRACE_S = 2.0


def rebalance_event(
    members: frozenset[str], previous: HashRing | None = None, handover_until: float = 0.0
) -> Event:
    """The REBALANCE every worker gets: the members (the ring), and the hand-over window."""
    body: dict[str, object] = {MEMBERS: sorted(members)}
    if previous is not None:
        body[PREVIOUS] = sorted(previous.members)
        body[HANDOVER_UNTIL] = handover_until
    return Event(_EVERYTHING, Crud.REBALANCE, body)


class Cluster:
    """This orchestrator's membership, turned into work for the workers and populate."""

    def __init__(
        self,
        conf: cfg.ConfigOpts,
        sink: EventSink,
        take_over: Callable[[ResourceFilter], None],
    ) -> None:
        self._host = conf.host
        self._handover_s = 2 * conf.coordination.heartbeat_interval + STEP_GRACE_S
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
        handover_until = time.time() + self._handover_s
        with self._lock:
            old, self._ring = self._ring, ring
            self._sink.dispatch([rebalance_event(members, old, handover_until)])
        host = self._host
        if old is None and self._starting:
            LOG.info("cluster bootstrap: %d member(s); populate serves what %s owns",
                     len(members), host)  # fmt: skip
            return

        def gained(resource: Resource) -> bool:
            had = old is not None and old.owns(host, resource.id)
            return not had and ring.owns(host, resource.id)

        def from_a_live_member(resource: Resource) -> bool:
            return old is not None and bool(old.members) and old.owner(resource.id) in members

        LOG.info("cluster changed: %d member(s); taking over what %s gained (from live "
                 "members after %.1f s)", len(members), host, self._handover_s)  # fmt: skip
        self._take_over(lambda resource: gained(resource) and not from_a_live_member(resource))
        timer = threading.Timer(
            self._handover_s,
            self._take_over,
            args=(lambda resource: gained(resource) and from_a_live_member(resource),),
        )
        timer.daemon = True
        timer.start()
