"""How long a silent orchestrator stays in the cluster: the backend's member lease.

A killed orchestrator (kill -9, a dead host) never says goodbye; the others
only notice when its lease in the coordination backend runs out, and until
then nobody manages its resources. tooz's defaults are slow (30 s with Redis,
10 s with ZooKeeper; OVN's own ring waits 120 s), so the lease is set to a few
heartbeats: :data:`MISSED_HEARTBEATS` beats may be lost to a slow moment before
a live member is dropped, and a dead one goes in about that many seconds.

Each backend calls the lease differently; it goes in the tooz URL. A value the
operator already wrote in the URL wins: the install guide's
``kazoo://zookeeper.localnet:2181?timeout=5`` keeps its 5 s session, and
``redis://host:6379?membership_timeout=10`` configures a longer lease.
ZooKeeper clamps a session timeout between 2 and 20 times its server's
``tickTime`` (so 4 s at least with the default tickTime of 2 s).
"""

from __future__ import annotations

import math
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

#: Heartbeats a member may miss before the others drop it.
MISSED_HEARTBEATS = 3

#: Per tooz scheme, the URL options that bound a silent member's life. Redis
#: also gets its socket timeout: a call slower than the lease has failed
#: anyway, and it must not hold the heartbeat loop for tooz's 30 s default.
_LEASE_OPTIONS: dict[str, tuple[str, ...]] = {
    "redis": ("membership_timeout", "timeout"),
    "memcached": ("membership_timeout",),
    "etcd3+http": ("membership_timeout",),
    "etcd3+https": ("membership_timeout",),
    "kazoo": ("timeout",),
    "zookeeper": ("timeout",),
}


#: Schemes whose client library keeps its lease (a ZooKeeper session) alive by
#: itself. tooz's heartbeat adds nothing there and, with kazoo, waits without
#: limit while the server is away, which would stall the heartbeat thread.
_SELF_RENEWING = frozenset({"kazoo", "zookeeper"})


def renews_its_own_lease(url: str) -> bool:
    """Whether the backend of ``url`` keeps a member alive without tooz heartbeats."""
    return urlsplit(url).scheme in _SELF_RENEWING


def default_member_timeout(heartbeat_interval: float) -> int:
    """Whole seconds (tooz drivers read these options as integers), at least 1."""
    return max(1, math.ceil(MISSED_HEARTBEATS * heartbeat_interval))


def with_member_timeout(url: str, member_timeout: int) -> str:
    """``url`` with its backend's lease options set to ``member_timeout`` seconds.

    A URL that already sets one of them is the operator's choice and comes
    back unchanged (with Redis, ``timeout`` alone is also tooz's lease), as
    do schemes without a lease (file, ipc, databases).
    """
    parts = urlsplit(url)
    options = _LEASE_OPTIONS.get(parts.scheme, ())
    query = parse_qsl(parts.query, keep_blank_values=True)
    if not options or any(name in options for name, _ in query):
        return url
    lease = [(name, str(member_timeout)) for name in options]
    return urlunsplit(parts._replace(query=urlencode([*query, *lease])))
