"""Turning bus notifications into events: Neutron's changes and operators' commands.

Neutron's notifications and the operators' ``astara.command`` ones arrive on
the same bus. :func:`normalise` turns each into the :class:`Event` list the
scheduler shards by tenant: an operator command becomes one COMMAND or POLL
event (see :mod:`astara.orchestrator.commands`); a Neutron notification
becomes the events of every enabled driver that consumes its type (see
:mod:`astara.drivers.router_events` and :mod:`astara.drivers.loadbalancer_events`).

It never raises: a notification nobody consumes is ignored quietly, and a
malformed one is dropped with one warning naming its type and what is wrong,
so a bad message never kills the listener or blocks the messages behind it.
It runs for every message on the bus, so it does dictionary lookups and little
else.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from typing import Any

from astara.drivers import loadbalancer_events, router_events
from astara.orchestrator.commands import COMMAND_EVENT_TYPE, CommandError, command_event
from astara.orchestrator.event import WILDCARDS, Event

LOG = logging.getLogger(__name__)

EventsFor = Callable[[str, str, Mapping[str, Any]], list[Event]]

#: Per driver: the event types it consumes, and how it turns one into events.
_DRIVERS: dict[str, tuple[frozenset[str], EventsFor]] = {
    router_events.DRIVER: (router_events.EVENT_TYPES, router_events.events_for),
    loadbalancer_events.DRIVER: (loadbalancer_events.EVENT_TYPES, loadbalancer_events.events_for),
}

#: The payload parts that carry the owner of the changed object. The owner,
#: not the caller in the context, is the tenant whose appliance must change
#: (an admin may edit a tenant's router).
_OWNED_PARTS = (
    "router",
    "router_interface",
    "router.interface",
    "port",
    "subnet",
    "floatingip",
    "loadbalancer",
    "listener",
    "pool",
    "member",
    "healthmonitor",
    "vpnservice",
    "ipsec_site_connection",
    "ikepolicy",
    "ipsecpolicy",
)

#: Where a tenant id is found, newest name last: Neutron renamed tenant_id to
#: project_id and sends both during the transition.
_TENANT_KEYS = ("tenant_id", "project_id")


def normalise(
    event_type: str, payload: Any, context: Any, enabled_drivers: Collection[str]
) -> list[Event]:
    """The events a notification asks for; [] if it asks for none or is malformed."""
    if not isinstance(event_type, str):
        kind = type(event_type).__name__
        LOG.warning("Dropped a notification whose event type is a %s, not a string", kind)
        return []
    if event_type == COMMAND_EVENT_TYPE:
        try:
            return [command_event(payload)]
        except CommandError as error:
            LOG.warning("Refused %s notification: %s", COMMAND_EVENT_TYPE, error)
            return []
    consumers = [
        events_for
        for driver, (event_types, events_for) in _DRIVERS.items()
        if event_type in event_types and driver in enabled_drivers
    ]
    if not consumers:
        return []
    try:
        return _events(event_type, payload, context, consumers)
    except ValueError as error:
        LOG.warning("Dropped %s notification: %s", event_type, error)
        return []


def _events(event_type: str, payload: Any, context: Any, consumers: list[EventsFor]) -> list[Event]:
    """Run the consuming drivers; ValueError says what makes the notification unusable."""
    if not isinstance(payload, Mapping):
        raise ValueError(f"payload must be a mapping, not {type(payload).__name__}")
    tenant_id = _tenant_of(payload, context)
    events = [
        event for events_for in consumers for event in events_for(event_type, tenant_id, payload)
    ]
    for event in events:
        if event.resource.is_wildcard:
            raise ValueError(f"payload names the wildcard {event.resource.id!r} as a resource id")
    return events


def _tenant_of(payload: Mapping[str, Any], context: Any) -> str:
    """The tenant owning the changed object: from the payload, else from the context."""
    for part_name in _OWNED_PARTS:
        part = payload.get(part_name)
        if isinstance(part, Mapping):
            tenant_id = _tenant_in(part)
            if tenant_id:
                return tenant_id
    tenant_id = _tenant_in(context) if isinstance(context, Mapping) else ""
    if not tenant_id:
        raise ValueError("neither the payload nor the context names a tenant_id or project_id")
    return tenant_id


def _tenant_in(part: Mapping[Any, Any]) -> str:
    """The tenant id ``part`` records ('' if none); a wildcard can never be one."""
    for key in _TENANT_KEYS:
        tenant_id = part.get(key)
        if isinstance(tenant_id, str) and tenant_id:
            if tenant_id in WILDCARDS:
                raise ValueError(f"{key} is the wildcard {tenant_id!r}")
            return tenant_id
    return ""
