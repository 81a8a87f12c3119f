"""Neutron's notifications, delivered only once their change is committed.

A listener that hears about a router before the row is visible would read a
network model without it and decide wrongly, so notifications are queued on
the transaction (:class:`Notification`) and handed to the callback after the
commit. A callback that fails must not undo or fail a change that is already
stored: its errors are logged and the request still succeeds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

LOG = logging.getLogger(__name__)

#: notify(event_type, payload, context), e.g. ("router.create.end", {"router": {...}}, {...}).
Notify = Callable[[str, dict[str, Any], dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class Notification:
    event_type: str
    payload: dict[str, Any]


def create_or_update(resource: str, action: str, view: dict[str, Any]) -> Notification:
    """``<resource>.<action>.end`` carrying the resource as the API shows it."""
    return Notification(f"{resource}.{action}.end", {resource: view})


def deleted(resource: str, view: dict[str, Any]) -> Notification:
    """``<resource>.delete.end``: Neutron sends the id and the last state."""
    return Notification(f"{resource}.delete.end", {f"{resource}_id": view["id"], resource: view})


def deliver(notify: Notify, notifications: Iterable[Notification], context: dict[str, Any]) -> None:
    """Call ``notify`` for each notification, logging (not raising) its failures."""
    for notification in notifications:
        try:
            notify(notification.event_type, notification.payload, context)
        except Exception:
            LOG.exception("notification callback failed for %s", notification.event_type)
