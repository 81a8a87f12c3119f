"""Recording the operator's debug and manage commands, once, in the main process.

The original wrote the flag from every worker process that received the
command (16 duplicate inserts, most failing on the unique key). Here the main
process writes it once, before the command is broadcast; the workers only
re-read the flags (see :mod:`~astara.orchestrator.command_handlers`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from astara.orchestrator.commands import Command, PayloadKey
from astara.orchestrator.event import Event

LOG = logging.getLogger(__name__)


class DebugWriter(Protocol):
    """The writing half of :class:`astara.db.api.DebugStore`."""

    def enable_resource_debug(self, resource_id: str, reason: str | None = None) -> None: ...

    def disable_resource_debug(self, resource_id: str) -> bool: ...

    def enable_tenant_debug(self, tenant_id: str, reason: str | None = None) -> None: ...

    def disable_tenant_debug(self, tenant_id: str) -> bool: ...

    def enable_global_debug(self, reason: str | None = None) -> None: ...

    def disable_global_debug(self) -> bool: ...


def _reason(event: Event) -> str | None:
    reason = event.body.get(PayloadKey.REASON)
    return reason if isinstance(reason, str) and reason else None


def _resource_debug(store: DebugWriter, event: Event) -> str:
    store.enable_resource_debug(event.resource.id, _reason(event))
    return f"resource {event.resource.id} is now in debug mode"


def _resource_manage(store: DebugWriter, event: Event) -> str:
    was = store.disable_resource_debug(event.resource.id)
    return f"resource {event.resource.id} is managed again" + ("" if was else " (was not in debug)")


def _tenant_debug(store: DebugWriter, event: Event) -> str:
    store.enable_tenant_debug(event.resource.tenant_id, _reason(event))
    return f"tenant {event.resource.tenant_id} is now in debug mode"


def _tenant_manage(store: DebugWriter, event: Event) -> str:
    was = store.disable_tenant_debug(event.resource.tenant_id)
    tenant = event.resource.tenant_id
    return f"tenant {tenant} is managed again" + ("" if was else " (was not in debug)")


def _global_debug(store: DebugWriter, event: Event) -> str:
    if event.body.get(PayloadKey.ENABLED):
        store.enable_global_debug(_reason(event))
        return "global debug mode is on: no resource is acted on"
    was = store.disable_global_debug()
    return "global debug mode is off" + ("" if was else " (it was not on)")


_WRITERS: dict[str, Callable[[DebugWriter, Event], str]] = {
    Command.RESOURCE_DEBUG: _resource_debug,
    Command.ROUTER_DEBUG: _resource_debug,
    Command.RESOURCE_MANAGE: _resource_manage,
    Command.ROUTER_MANAGE: _resource_manage,
    Command.TENANT_DEBUG: _tenant_debug,
    Command.TENANT_MANAGE: _tenant_manage,
    Command.GLOBAL_DEBUG: _global_debug,
}


def changes_debug_flags(event: Event) -> bool:
    """True for the commands whose effect is a debug flag in the database."""
    return _WRITERS.get(str(event.body.get(PayloadKey.COMMAND))) is not None


def record(store: DebugWriter, event: Event) -> bool:
    """Write the flag ``event`` asks for; False (logged) if the store refused or failed."""
    writer = _WRITERS[str(event.body.get(PayloadKey.COMMAND))]
    try:
        outcome = writer(store, event)
    except ValueError as error:
        LOG.error("refused %s: %s", event.body.get(PayloadKey.COMMAND), error)
        return False
    except Exception as error:
        LOG.error("could not record %s: %s", event.body.get(PayloadKey.COMMAND), error)
        return False
    LOG.info("%s", outcome)
    return True
