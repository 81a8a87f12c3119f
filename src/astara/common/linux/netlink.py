"""Privileged netlink operations on links and addresses, done with pyroute2.

Each public function is an entrypoint of the ``network_admin`` privsep
context: as root it runs in this process, otherwise in the privsep daemon.
That is why the functions are coarse (one call plugs a whole veth pair, one
call converges a device's addresses: fewer round trips to the daemon, fewer
half-done states) and take and return only plain values, which privsep can
carry. ``namespace`` None means the orchestrator's own namespace; a named
namespace must already exist (nothing here creates one by accident).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError as Pyroute2Error
from pyroute2.netlink.rtnl.ifaddrmsg import IFA_F_PERMANENT

from astara.common.privileged import network_admin

#: The kernel's "universe" scope: addresses that are routable, not link-local.
_SCOPE_GLOBAL = 0


class LinkError(Exception):
    """A netlink operation failed; the message says which device, where and why.

    One plain string argument, so that privsep can re-raise it in the caller.
    """


def _where(namespace: str | None) -> str:
    return f"namespace {namespace}" if namespace else "the host namespace"


@contextmanager
def _netlink(namespace: str | None, action: str) -> Iterator[IPRoute]:
    """A netlink socket in ``namespace``; any failure becomes a LinkError naming ``action``."""
    try:
        # flags=0: never create the namespace if it is missing.
        ipr = IPRoute(netns=namespace, flags=0) if namespace else IPRoute()
    except OSError:
        raise LinkError(f"{action}: {_where(namespace)} does not exist") from None
    try:
        yield ipr
    except (Pyroute2Error, OSError) as exc:
        raise LinkError(f"{action} in {_where(namespace)}: {exc}") from None
    finally:
        ipr.close()


def _index(ipr: IPRoute, name: str, namespace: str | None) -> int:
    found = ipr.link_lookup(ifname=name)
    if not found:
        raise LinkError(f"no device {name} in {_where(namespace)}")
    return int(found[0])


def _link_settings(mac: str | None, mtu: int | None) -> dict[str, Any]:
    settings: dict[str, Any] = {"state": "up"}
    if mac is not None:
        settings["address"] = mac
    if mtu is not None:
        settings["mtu"] = mtu
    return settings


def _exists(name: str, namespace: str | None) -> bool:
    try:
        with _netlink(namespace, f"look up {name}") as ipr:
            return bool(ipr.link_lookup(ifname=name))
    except LinkError:
        return False


@network_admin.entrypoint
def link_exists(name: str, namespace: str | None) -> bool:
    """True when ``name`` exists in ``namespace`` (False if the namespace does not)."""
    return _exists(name, namespace)


@network_admin.entrypoint
def create_veth(
    inner: str,
    outer: str,
    mac: str | None,
    mtu: int | None,
    namespace: str | None,
    bridge: str | None,
) -> None:
    """Create a veth pair, both ends up; all or nothing.

    ``inner`` carries the port (its MAC, later its addresses) and lives in
    ``namespace``; ``outer`` stays in the host namespace, enslaved to the
    Linux bridge ``bridge`` when one is given (an OVS bridge adds it itself).
    """
    with _netlink(None, f"plug veth {outer}/{inner}") as ipr:
        bridge_index = _index(ipr, bridge, None) if bridge else None
        peer: dict[str, Any] = {"ifname": inner}
        if namespace:
            peer["net_ns_fd"] = namespace
        ipr.link("add", ifname=outer, kind="veth", peer=peer)
        try:
            outer_settings = _link_settings(None, mtu)
            if bridge_index is not None:
                outer_settings["master"] = bridge_index
            ipr.link("set", index=_index(ipr, outer, None), **outer_settings)
            _configure(inner, mac, mtu, namespace)
        except BaseException:
            # Deleting one end deletes the pair: nothing is left half-plugged.
            ipr.link("del", index=_index(ipr, outer, None))
            raise


def _configure(name: str, mac: str | None, mtu: int | None, namespace: str | None) -> None:
    with _netlink(namespace, f"configure {name}") as ipr:
        ipr.link("set", index=_index(ipr, name, namespace), **_link_settings(mac, mtu))


@network_admin.entrypoint
def configure_link(name: str, mac: str | None, mtu: int | None, namespace: str | None) -> None:
    """Move host device ``name`` into ``namespace`` (if any), set MAC and MTU, bring it up."""
    if namespace:
        with _netlink(None, f"move {name} to {namespace}") as ipr:
            ipr.link("set", index=_index(ipr, name, None), net_ns_fd=namespace)
    _configure(name, mac, mtu, namespace)


@network_admin.entrypoint
def delete_link(name: str, namespace: str | None) -> None:
    """Delete ``name``; a device (or namespace) that is already gone is fine."""
    try:
        with _netlink(namespace, f"delete {name}") as ipr:
            found = ipr.link_lookup(ifname=name)
            if found:
                ipr.link("del", index=found[0])
    except LinkError:
        # Gone meanwhile (or its namespace is): that is what was asked.
        if _exists(name, namespace):
            raise


def _interface_of(message: Any) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    # IFA_LOCAL is the local address of an IPv4 point-to-point link, where
    # IFA_ADDRESS is the peer's; elsewhere the two are equal.
    address = message.get_attr("IFA_LOCAL") or message.get_attr("IFA_ADDRESS")
    return ipaddress.ip_interface(f"{address}/{message['prefixlen']}")


def _is_global_permanent(message: Any) -> bool:
    flags = message.get_attr("IFA_FLAGS")
    if flags is None:
        flags = message["flags"]
    return message["scope"] == _SCOPE_GLOBAL and bool(flags & IFA_F_PERMANENT)


@network_admin.entrypoint
def sync_addresses(name: str, cidrs: Sequence[str], namespace: str | None) -> bool:
    """Make ``cidrs`` the global permanent addresses of ``name``; True if that changed any.

    Missing ones are added first, then other global permanent addresses are
    removed, so the device is never left without its wanted address. Link-local
    and autoconfigured (SLAAC, temporary) addresses are the kernel's and stay.
    """
    wanted = {ipaddress.ip_interface(cidr) for cidr in cidrs}
    with _netlink(namespace, f"set addresses of {name}") as ipr:
        index = _index(ipr, name, namespace)
        current = {
            _interface_of(message): _is_global_permanent(message)
            for message in ipr.get_addr(index=index)
        }
        missing = sorted(wanted - current.keys(), key=str)
        unwanted = [i for i, removable in current.items() if removable and i not in wanted]
        for interface in missing:
            ipr.addr(
                "add", index=index, address=str(interface.ip), prefixlen=interface.network.prefixlen
            )
        for interface in unwanted:
            ipr.addr(
                "del", index=index, address=str(interface.ip), prefixlen=interface.network.prefixlen
            )
    return bool(missing or unwanted)
