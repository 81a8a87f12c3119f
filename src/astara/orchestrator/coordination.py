"""Cluster membership: which orchestrators are alive, and the hash ring they share.

Several orchestrators form a cluster by joining one tooz group
(``[coordination] url`` and ``group_id``), each under its ``[DEFAULT] host``
name. :class:`Membership` keeps this orchestrator in the group and tells the
caller, through ``on_change(members, ring)``, whenever the set of members
changes, and once when it first learns it (the bootstrap). The caller turns that
into a REBALANCE for the workers; resources move to their new owners.

One thread does everything, every ``heartbeat_interval``: heartbeat, read the
members, re-join if the backend forgot us, and compare with the last set
reported. Reading the whole set and comparing (rather than reacting to each
join or leave event) means one callback per real change, however many members
came and went in one beat, and none while the set stays the same.

A dead orchestrator is dropped when its lease runs out, a few heartbeats (see
:mod:`astara.orchestrator.coordination_lease`). A stopped one leaves at once.

When the backend cannot be reached this orchestrator keeps its last known
membership (it cannot learn a better one), logs the outage once, retries on
every beat, and reports only the difference once it is back: no flood of
callbacks through a Redis or ZooKeeper restart.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from oslo_config import cfg

from astara.orchestrator.coordination_group import GroupSession
from astara.orchestrator.coordination_lease import default_member_timeout, with_member_timeout
from astara.orchestrator.hash_ring import DEFAULT_PARTITION_EXPONENT, HashRing

LOG = logging.getLogger(__name__)

#: Called from the heartbeat thread with the members and their ring; it should
#: only hand them on (e.g. queue a REBALANCE): heartbeats wait while it runs.
MembershipCallback = Callable[[frozenset[str], HashRing], None]


class Seat(Protocol):
    """What :class:`Membership` needs of its group session (a :class:`GroupSession`)."""

    def refresh(self) -> frozenset[str]: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class MembershipSettings:
    """Where the cluster lives, who this member is, and how fast failures are noticed.

    ``member_timeout`` is the lease in seconds; None means a few heartbeats.
    """

    url: str
    group_id: str
    member_id: str
    heartbeat_interval: float = 1.0
    partition_exponent: int = DEFAULT_PARTITION_EXPONENT
    member_timeout: int | None = None

    @classmethod
    def from_config(cls, conf: cfg.ConfigOpts) -> MembershipSettings:
        """The settings of ``[coordination]`` and ``[DEFAULT] host``/``hash_partition_exponent``."""
        return cls(
            url=conf.coordination.url,
            group_id=conf.coordination.group_id,
            member_id=conf.host,
            heartbeat_interval=conf.coordination.heartbeat_interval,
            partition_exponent=conf.hash_partition_exponent,
        )

    @property
    def lease(self) -> int:
        """Seconds a silent member stays in the group, unless the URL says otherwise."""
        return self.member_timeout or default_member_timeout(self.heartbeat_interval)

    @property
    def backend_url(self) -> str:
        """The tooz URL with the member lease filled in (an operator's own value wins)."""
        return with_member_timeout(self.url, self.lease)


class Membership:
    """This orchestrator's place in the cluster, kept alive by a heartbeat thread."""

    def __init__(
        self,
        settings: MembershipSettings,
        on_change: MembershipCallback,
        seat: Seat | None = None,
    ) -> None:
        """``seat`` defaults to a :class:`GroupSession` on ``settings``' backend."""
        self._settings = settings
        self._on_change = on_change
        self._seat = seat or GroupSession(
            settings.backend_url, settings.group_id, settings.member_id, settings.lease
        )
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        # One tuple, replaced whole, so readers in other threads never see a
        # member set with another set's ring.
        self._view = (frozenset[str](), HashRing(frozenset(), settings.partition_exponent))
        self._outage_started: float | None = None

    @property
    def members(self) -> frozenset[str]:
        """The members last reported (empty until the backend first answers)."""
        return self._view[0]

    @property
    def ring(self) -> HashRing:
        """The ring of :attr:`members`."""
        return self._view[1]

    def start(self) -> None:
        """Join the group and start heartbeating.

        The first beat runs here, so with a reachable backend the bootstrap
        ``on_change`` has happened when this returns. An unreachable backend
        does not stop the start: the thread keeps trying, and the bootstrap
        comes when it answers.
        """
        if self._thread is not None:
            raise RuntimeError("membership already started")
        self._beat()
        self._thread = threading.Thread(
            target=self._beat_until_stopped,
            name=f"coordination-{self._settings.group_id}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop heartbeating and leave the group now (the SIGTERM path).

        The others see this member leave at their next beat instead of after
        the lease. Safe to call more than once, and from ``on_change``.
        """
        self._stopping.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self._seat.close()

    def _beat_until_stopped(self) -> None:
        while not self._stopping.wait(self._settings.heartbeat_interval):
            self._beat()

    def _beat(self) -> None:
        try:
            members = self._seat.refresh()
        except Exception as error:  # any backend failure: keep the thread beating
            self._note_failure(error)
            return
        self._note_recovery()
        if members != self.members:
            self._report(members)

    def _report(self, members: frozenset[str]) -> None:
        ring = HashRing(members, self._settings.partition_exponent)
        joined, left = members - self.members, self.members - members
        self._view = (members, ring)
        LOG.info("cluster members: %s (joined: %s, left: %s)", ", ".join(sorted(members)),
                 ", ".join(sorted(joined)) or "-", ", ".join(sorted(left)) or "-")
        try:
            self._on_change(members, ring)
        except Exception:
            LOG.exception("membership change handler failed for members %s", sorted(members))

    def _note_failure(self, error: Exception) -> None:
        if self._outage_started is not None:
            LOG.debug("coordination backend still unreachable: %s", error)
            return
        self._outage_started = time.monotonic()
        LOG.warning("coordination backend unreachable (%s: %s); keeping the last known "
                    "members %s and retrying every %.1f s", type(error).__name__, error,
                    sorted(self.members), self._settings.heartbeat_interval)

    def _note_recovery(self) -> None:
        if self._outage_started is None:
            return
        LOG.warning("coordination backend reachable again after %.1f s",
                    time.monotonic() - self._outage_started)
        self._outage_started = None
