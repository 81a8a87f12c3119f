"""External connectivity as the orchestrator's health check sees it.

A family is up when the appliance has a default route of that family through
its external interface and the gateway answers: its neighbour entry is valid,
or else one ping with a short timeout gets a reply.  Nothing leaves the
provider's network (the original pinged a public DNS server).
"""

from __future__ import annotations

import socket

from astara.appliance.netns import CommandError, Namespace
from astara.appliance.services.base import Target

NUD_VALID = 0x02 | 0x04 | 0x08 | 0x10 | 0x40 | 0x80  # reachable stale delay probe noarp permanent
PING_TIMEOUT_S = "1"


def connectivity(ns: Namespace, current: Target) -> dict[str, bool]:
    ext = current.config.external_network
    if ext is None:
        return {"v4": False, "v6": False}
    gateways = _default_gateways(ns, current.ifname(ext))
    return {
        "v4": _reachable(ns, gateways.get(socket.AF_INET), socket.AF_INET),
        "v6": _reachable(ns, gateways.get(socket.AF_INET6), socket.AF_INET6),
    }


def _default_gateways(ns: Namespace, ifname: str) -> dict[int, str]:
    with ns.netlink() as ipr:
        indexes = ipr.link_lookup(ifname=ifname)
        if not indexes:
            return {}
        gateways: dict[int, str] = {}
        for route in ipr.get_routes():
            gateway = route.get("RTA_GATEWAY")
            if route["dst_len"] == 0 and route.get("RTA_OIF") == indexes[0] and gateway:
                gateways.setdefault(route["family"], gateway)
        return gateways


def _reachable(ns: Namespace, gateway: str | None, family: int) -> bool:
    if gateway is None:
        return False
    with ns.netlink() as ipr:
        for neighbour in ipr.get_neighbours(family=family):
            if neighbour.get("NDA_DST") == gateway and neighbour["state"] & NUD_VALID:
                return True
    try:
        ns.run(["ping", "-n", "-c", "1", "-W", PING_TIMEOUT_S, gateway])
    except CommandError:
        return False
    return True
