"""One orchestrator's seat in the cluster's tooz group, kept however the backend fails.

A coordination backend forgets members in many ways: Redis drops one whose
heartbeat key expired (a long GC pause, a frozen VM), a restarted Redis or a
wiped ZooKeeper loses the whole group, and a ZooKeeper session that expired
takes its ephemeral member node with it. :meth:`GroupSession.refresh` repairs
all of them the same way, on every heartbeat: connect if not connected, create
the group if it is missing, join again if this member is no longer listed. So
the caller needs no per-backend recovery code: a failed refresh raises, the
next one starts over.

Nothing here may hang the heartbeat thread or a SIGTERM: every backend call
waits at most ``timeout`` seconds (the member lease: a call slower than that
is too late anyway), and leaving runs in a helper thread that is abandoned
after ``timeout``. A client that stays broken for longer than its backend can
be down in a restart (kazoo, for one, never reconnects to a ZooKeeper whose
data was wiped) is replaced by a fresh one, with growing pauses.

tooz returns members as a ``set`` (of bytes); this module hands out
``frozenset[str]`` and never looks for a ``'leader'`` entry, which the
original tried to ``remove`` from a set and crashed on.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time

from tooz import coordination

from astara.orchestrator.coordination_lease import renews_its_own_lease

LOG = logging.getLogger(__name__)

#: After this many leases of failure the client is replaced; each further
#: replacement waits twice as long, up to :data:`MAX_RECONNECT_DELAY` seconds.
LEASES_BEFORE_RECONNECT = 5
MAX_RECONNECT_DELAY = 300.0


def _text(member: bytes | str) -> str:
    """tooz drivers differ: most return bytes, the file driver may return str."""
    return member.decode("utf-8") if isinstance(member, bytes) else member


class GroupSession:
    """This member's membership of one group in one tooz backend.

    Not thread-safe: one thread (the heartbeat loop) drives it.
    """

    def __init__(self, url: str, group_id: str, member_id: str, timeout: float) -> None:
        if not member_id:
            raise ValueError("a cluster member needs a non-empty id ([DEFAULT] host)")
        self.group_id = group_id
        self.member_id = member_id
        self._url = url
        self._group = group_id.encode("utf-8")
        self._timeout = timeout
        self._beats = not renews_its_own_lease(url)
        self._coordinator = self._new_coordinator()
        self._has_joined = False
        self._failing_since: float | None = None
        self._reconnect_delay = LEASES_BEFORE_RECONNECT * timeout

    def refresh(self) -> frozenset[str]:
        """Heartbeat and return the group's members, this one included.

        Connects, creates the group and (re)joins as needed. Raises a
        ``tooz.ToozError`` (or the client library's error) when the backend
        cannot be reached; calling again retries from where it failed.
        """
        self._replace_client_if_stuck()
        try:
            members = self._refresh()
        except Exception:
            if self._failing_since is None:
                self._failing_since = time.monotonic()
            raise
        self._failing_since = None
        self._reconnect_delay = LEASES_BEFORE_RECONNECT * self._timeout
        return members

    def close(self) -> None:
        """Leave the group at once and disconnect, so the others need not wait for the lease.

        Returns within ``timeout`` seconds whatever the backend does: a member
        that could not say goodbye is expired by its lease.
        """
        leaving = threading.Thread(target=self._leave, args=(self._coordinator,),
                                   name=f"leave-{self.group_id}", daemon=True)
        leaving.start()
        leaving.join(self._timeout)
        if leaving.is_alive():
            LOG.warning("gave up leaving coordination group %s after %.0f s; the others "
                        "will drop %s when its lease runs out", self.group_id, self._timeout,
                        self.member_id)

    def _refresh(self) -> frozenset[str]:
        if not self._coordinator.is_started:
            self._coordinator.start(start_heart=False)
        if self._beats:
            self._coordinator.heartbeat()
        members = self._read_members()
        if self.member_id not in members:
            self._join()
            members = self._read_members()
        return members

    def _read_members(self) -> frozenset[str]:
        try:
            members = self._coordinator.get_members(self._group).get(timeout=self._timeout)
        except coordination.GroupNotCreated:
            return frozenset()
        return frozenset(_text(member) for member in members)

    def _join(self) -> None:
        if self._has_joined:
            LOG.warning("%s was dropped from coordination group %s (missed heartbeats or a "
                        "backend restart); joining again", self.member_id, self.group_id)
        try:
            self._coordinator.join_group(self._group).get(timeout=self._timeout)
        except coordination.GroupNotCreated:
            with contextlib.suppress(coordination.GroupAlreadyExist):
                self._coordinator.create_group(self._group).get(timeout=self._timeout)
            self._coordinator.join_group(self._group).get(timeout=self._timeout)
        except coordination.MemberAlreadyExist:
            pass
        self._has_joined = True

    def _replace_client_if_stuck(self) -> None:
        if self._failing_since is None:
            return
        if time.monotonic() - self._failing_since < self._reconnect_delay:
            return
        LOG.warning("coordination backend failing for %.0f s; replacing its client",
                    time.monotonic() - self._failing_since)
        self.close()
        self._coordinator = self._new_coordinator()
        self._failing_since = time.monotonic()
        self._reconnect_delay = min(2 * self._reconnect_delay, MAX_RECONNECT_DELAY)

    def _new_coordinator(self) -> coordination.CoordinationDriver:
        return coordination.get_coordinator(self._url, self.member_id.encode("utf-8"))

    def _leave(self, coordinator: coordination.CoordinationDriver) -> None:
        """Leave and disconnect ``coordinator``; runs in a thread that may be abandoned."""
        if not coordinator.is_started:
            return
        try:
            coordinator.leave_group(self._group).get(timeout=self._timeout)
        except (coordination.MemberNotJoined, coordination.GroupNotCreated):
            pass
        except Exception:  # shutting down: the lease will expire us
            LOG.warning("could not leave coordination group %s cleanly", self.group_id,
                        exc_info=True)
        try:
            coordinator.stop()
        except Exception:  # shutting down: nothing left to do
            LOG.warning("could not disconnect from the coordination backend", exc_info=True)
