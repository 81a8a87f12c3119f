"""Which Neutron notifications concern routers, and which router each one names.

A router's appliance serves its interfaces, its gateway, the subnets behind
them (DHCP, router advertisements), the ports on those subnets (DHCP host
entries) and its floating IPs, so a change to any of those is an UPDATE of the
router. Where the payload says which router changed (the router itself, an
interface, a port Neutron gave a router, a floating IP's router) the event
names it. Where it cannot (a subnet, a VM's port, a floating IP that moved),
the event names no router (``id=''``): the worker applies it to every router
of the tenant the change touches. The original picked the tenant's first
router instead, so tenants with several routers lost updates.

Sending such an event to every router of a tenant made each of them re-read
the model and push its config for every VM port anywhere in the tenant, which
made a tenant with many routers slow to converge. :func:`may_touch` lets each
router decline what cannot concern it (a subnet on a network it is not on,
a port that is not its own outside its internal networks, a floating IP it
neither had nor gets), judged by the router as last
read. That is safe: the router lacks a network or floating IP in that reading
only while an event that names it (the interface add, the association) is
still queued for it, and the update that event brings reads the model afresh.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from astara.network.base import ROUTER_PORT_OWNERS, Router
from astara.orchestrator.event import Crud, Event, Resource

DRIVER = "router"

#: The id of the router a notification is about ('' when the payload cannot
#: tell); raises ValueError when the payload lacks what its type must carry.
RouterOf = Callable[[Mapping[str, Any]], str]


def _text(part: object, key: str) -> str:
    """``part[key]`` when ``part`` is a mapping holding a string there, else ''."""
    if isinstance(part, Mapping):
        value = part.get(key)
        if isinstance(value, str):
            return value
    return ""


def _subject(payload: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    """The changed object of a ``<kind>.*`` notification, if the payload holds it.

    Neutron sends the object itself, and for a deletion its id as
    ``<kind>_id`` (older releases send only the id). A payload with neither is
    malformed.
    """
    subject = payload.get(kind)
    if isinstance(subject, Mapping):
        return subject
    if _text(payload, kind + "_id"):
        return None
    raise ValueError(f"payload has neither {kind} nor {kind}_id")


def _required(router_id: str, where: str) -> str:
    if not router_id:
        raise ValueError(f"payload has no router id in {where}")
    return router_id


def _the_router(payload: Mapping[str, Any]) -> str:
    return _required(_text(payload.get("router"), "id"), "router.id")


def _deleted_router(payload: Mapping[str, Any]) -> str:
    router_id = _text(payload, "router_id") or _text(payload.get("router"), "id")
    return _required(router_id, "router_id or router.id")


def _interface_router(payload: Mapping[str, Any]) -> str:
    # Neutron has sent the interface as 'router_interface' since Kilo, as
    # 'router.interface' before.
    router_id = _text(payload.get("router_interface"), "id") or _text(
        payload.get("router.interface"), "id"
    )
    return _required(router_id, "router_interface.id")


def _port_router(payload: Mapping[str, Any]) -> str:
    port = _subject(payload, "port")
    if _text(port, "device_owner") in ROUTER_PORT_OWNERS:
        return _text(port, "device_id")
    return ""


def _named_router(kind: str) -> RouterOf:
    """Read the router from a ``<kind>`` object that records it (``router_id``)."""

    def router_of(payload: Mapping[str, Any]) -> str:
        return _text(_subject(payload, kind), "router_id")

    return router_of


def _some_router(kind: str) -> RouterOf:
    """For objects that cannot name every router they touch: '' (the worker resolves)."""

    def router_of(payload: Mapping[str, Any]) -> str:
        _subject(payload, kind)
        return ""

    return router_of


def _for_each(
    kind: str, actions: tuple[str, ...], router_of: RouterOf
) -> dict[str, tuple[Crud, RouterOf]]:
    """One UPDATE rule per ``<kind>.<action>.end`` notification."""
    return {f"{kind}.{action}.end": (Crud.UPDATE, router_of) for action in actions}


# Neutron's API sends '.update.end'; the original listened for '.change.end'.
_ALL = ("create", "update", "change", "delete")
_CHANGES = ("update", "change")

_RULES: dict[str, tuple[Crud, RouterOf]] = {
    "router.create.end": (Crud.CREATE, _the_router),
    "router.update.end": (Crud.UPDATE, _the_router),
    "router.change.end": (Crud.UPDATE, _the_router),
    "router.delete.end": (Crud.DELETE, _deleted_router),
    "router.interface.create": (Crud.UPDATE, _interface_router),
    "router.interface.delete": (Crud.UPDATE, _interface_router),
    **_for_each("port", _ALL, _port_router),
    **_for_each("subnet", _ALL, _some_router("subnet")),
    # A created or deleted floating IP names the one router it is on. An
    # updated one names only the router it is on now, not the one it may have
    # left, so every router of the tenant must look.
    **_for_each("floatingip", ("create", "delete"), _named_router("floatingip")),
    **_for_each("floatingip", _CHANGES, _some_router("floatingip")),
    # VPNaaS: a VPN service belongs to one router; the connections and
    # policies reach routers only through services. Consumed whatever
    # [router] ipsec_vpn says: without VPNaaS Neutron never sends them.
    **_for_each("vpnservice", _ALL, _named_router("vpnservice")),
    **_for_each("ipsec_site_connection", _ALL, _some_router("ipsec_site_connection")),
    **_for_each("ikepolicy", _CHANGES, _some_router("ikepolicy")),
    **_for_each("ipsecpolicy", _CHANGES, _some_router("ipsecpolicy")),
}

#: Every event type this driver turns into events; the rest it ignores.
EVENT_TYPES = frozenset(_RULES)


def events_for(event_type: str, tenant_id: str, payload: Mapping[str, Any]) -> list[Event]:
    """The router events a Neutron notification means; [] for one routers ignore.

    Raises ValueError, saying what is missing, when the payload lacks what a
    notification of this type always carries.
    """
    rule = _RULES.get(event_type)
    if rule is None:
        return []
    crud, router_of = rule
    return [Event(Resource(DRIVER, router_of(payload), tenant_id), crud, payload)]


def may_touch(router: Router, payload: Mapping[str, Any]) -> bool:
    """False only when a tenant-wide change cannot concern ``router`` (as last read).

    Looks at the port, subnet or floating IP the payload carries; anything
    else (a deletion that names only an id, VPN objects, an operator's
    command) may concern it.
    """
    port = payload.get("port")
    if _text(port, "network_id"):
        # Ports matter on the router's internal networks (DHCP host entries);
        # on its external network only its own, and floating IPs, count.
        on_network = _text(port, "network_id") in router.internal_network_ids
        return on_network or _text(port, "device_id") == router.id
    network_id = _text(payload.get("subnet"), "network_id")
    if network_id:
        gateway = router.gateway_port
        on_gateway = gateway is not None and gateway.network_id == network_id
        return on_gateway or network_id in router.internal_network_ids
    floating_ip = payload.get("floatingip")
    floating_ip_id = _text(floating_ip, "id")
    if floating_ip_id:
        had_it = any(existing.id == floating_ip_id for existing in router.floating_ips)
        return had_it or _text(floating_ip, "router_id") == router.id
    return True
