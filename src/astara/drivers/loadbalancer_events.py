"""Which LBaaS v2 notifications concern load balancers, and which one each names.

A load balancer's appliance serves its listeners, their pools, the pools'
members and health monitors, so a change to any of those is an UPDATE of the
load balancer. The load balancer is read from the payload where Neutron and
Octavia put it (the object's ``loadbalancer_id`` or ``loadbalancers`` list);
a member or health monitor usually names only its pool, so its event names no
load balancer (``id=''``) and the worker finds the tenant's load balancers the
change touches.

Only the ``*.end`` notifications are used: a ``*.start`` one is sent before
the change is committed, so acting on it races the database (the original
listened to ``listener.create.start`` and ``pool.create.start`` and missed
every listener, pool and load-balancer update).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from astara.orchestrator.event import Crud, Event, Resource

DRIVER = "loadbalancer"

#: The id of the load balancer a notification is about ('' when the payload
#: cannot tell); raises ValueError when the payload lacks what its type must carry.
LoadBalancerOf = Callable[[Mapping[str, Any]], str]


def _text(part: object, key: str) -> str:
    """``part[key]`` when ``part`` is a mapping holding a string there, else ''."""
    if isinstance(part, Mapping):
        value = part.get(key)
        if isinstance(value, str):
            return value
    return ""


def _first_id(part: object, key: str) -> str:
    """The id of the first object in the list ``part[key]`` ('' if there is none)."""
    if isinstance(part, Mapping):
        items = part.get(key)
        if isinstance(items, Sequence) and not isinstance(items, str) and items:
            return _text(items[0], "id")
    return ""


def _required(loadbalancer_id: str, where: str) -> str:
    if not loadbalancer_id:
        raise ValueError(f"payload has no load balancer id in {where}")
    return loadbalancer_id


def _the_loadbalancer(payload: Mapping[str, Any]) -> str:
    return _required(_text(payload.get("loadbalancer"), "id"), "loadbalancer.id")


def _deleted_loadbalancer(payload: Mapping[str, Any]) -> str:
    loadbalancer_id = _text(payload, "loadbalancer_id") or _text(payload.get("loadbalancer"), "id")
    return _required(loadbalancer_id, "loadbalancer_id or loadbalancer.id")


def _loadbalancer_of_part(kind: str) -> LoadBalancerOf:
    """Read the load balancer a listener, pool, member or health monitor belongs to."""
    kind_id = kind + "_id"

    def loadbalancer_of(payload: Mapping[str, Any]) -> str:
        part = payload.get(kind)
        if not isinstance(part, Mapping) and not _text(payload, kind_id):
            raise ValueError(f"payload has neither {kind} nor {kind_id}")
        return (
            _text(payload.get("loadbalancer"), "id")
            or _text(part, "loadbalancer_id")
            or _first_id(part, "loadbalancers")
            or _text(payload, "loadbalancer_id")
        )

    return loadbalancer_of


_RULES: dict[str, tuple[Crud, LoadBalancerOf]] = {
    "loadbalancer.create.end": (Crud.CREATE, _the_loadbalancer),
    "loadbalancer.update.end": (Crud.UPDATE, _the_loadbalancer),
    "loadbalancer.delete.end": (Crud.DELETE, _deleted_loadbalancer),
    **{
        f"{kind}.{action}.end": (Crud.UPDATE, _loadbalancer_of_part(kind))
        for kind in ("listener", "pool", "member", "healthmonitor")
        for action in ("create", "update", "delete")
    },
}

#: Every event type this driver turns into events; the rest it ignores.
EVENT_TYPES = frozenset(_RULES)


def events_for(event_type: str, tenant_id: str, payload: Mapping[str, Any]) -> list[Event]:
    """The load-balancer events a notification means; [] for one they ignore.

    Raises ValueError, saying what is missing, when the payload lacks what a
    notification of this type always carries.
    """
    rule = _RULES.get(event_type)
    if rule is None:
        return []
    crud, loadbalancer_of = rule
    return [Event(Resource(DRIVER, loadbalancer_of(payload), tenant_id), crud, payload)]
