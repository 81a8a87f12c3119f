"""Get one DHCPv4 lease on an interface and print what the server offered.

Run inside a test namespace (``ip netns exec <vm> python dhcp_probe.py IFNAME``).
Prints one line ``LEASE {json}`` with the address, mask, routers, DNS servers
and the decoded classless static routes (option 121); it configures nothing.
The client does not send a DHCPRELEASE, so the server's view is left as is.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from pyroute2.dhcp import fsm
from pyroute2.dhcp.client import AsyncDHCPClient, ClientConfig
from pyroute2.dhcp.enums import dhcp
from pyroute2.dhcp.leases import JSONStdoutLease

WANTED = (
    dhcp.Option.SUBNET_MASK,
    dhcp.Option.ROUTER,
    dhcp.Option.NAME_SERVER,
    dhcp.Option.HOST_NAME,
    dhcp.Option.INTERFACE_MTU,
    dhcp.Option.CLASSLESS_STATIC_ROUTE,
    dhcp.Option.LEASE_TIME,
)


def decode_classless_routes(raw: list[int]) -> list[list[str]]:
    """RFC 3442: width, significant destination octets, then a 4-octet router."""
    routes, i = [], 0
    while i < len(raw):
        width = raw[i]
        octets = (width + 7) // 8
        destination = raw[i + 1 : i + 1 + octets] + [0] * (4 - octets)
        router = raw[i + 1 + octets : i + 5 + octets]
        routes.append([".".join(map(str, destination)) + f"/{width}", ".".join(map(str, router))])
        i += 5 + octets
    return routes


async def lease(ifname: str) -> dict[str, Any]:
    config = ClientConfig(interface=ifname, lease_type=JSONStdoutLease, requested_parameters=WANTED)
    async with AsyncDHCPClient(config) as client:
        await client.bootstrap()
        await client.wait_for_state(fsm.State.BOUND, timeout=30)
        assert client.lease is not None
        ack = client.lease.ack
    options = ack["options"]
    return {
        "ip": ack["yiaddr"],
        "mask": options.get("subnet_mask"),
        "routers": options.get("router", []),
        "dns": options.get("name_server", []),
        "hostname": options.get("host_name"),
        "mtu": options.get("interface_mtu"),
        "routes": decode_classless_routes(list(options.get("classless_static_route", []))),
    }


if __name__ == "__main__":
    print("LEASE " + json.dumps(asyncio.run(lease(sys.argv[1]))), flush=True)
