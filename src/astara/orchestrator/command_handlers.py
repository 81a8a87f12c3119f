"""What a worker does with each operator command.

Commands reach every worker process. The debug/manage commands were already
written to the database once, by the main process (:mod:`~astara.orchestrator.debug_commands`);
here each worker only re-reads the flags, and after a *manage* queues again the
resources that were held with work pending. Update and rebuild become an
UPDATE or REBUILD event for the resources they name, wildcards included
(``'*'``: all of them, ``'error'``: those in ERROR), which the original
silently dropped for resource commands.

A command's body comes from outside; one that does not make sense is logged
and ignored, and nothing else changes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Protocol

from astara.orchestrator.commands import Command, PayloadKey
from astara.orchestrator.debug_flags import DebugFlags
from astara.orchestrator.event import Crud, Event

LOG = logging.getLogger(__name__)


class CommandTarget(Protocol):
    """The parts of a worker the commands act on."""

    debug: DebugFlags

    def deliver(self, event: Event) -> int: ...

    def resume_ready(self) -> int: ...

    def log_report(self) -> object: ...

    def reload_config(self) -> None: ...


def _report(worker: CommandTarget, event: Event) -> None:
    worker.log_report()


def _reload_config(worker: CommandTarget, event: Event) -> None:
    worker.reload_config()
    LOG.info("configuration files read again")


def _refresh_debug(worker: CommandTarget, event: Event) -> None:
    worker.debug.refresh()


def _manage(worker: CommandTarget, event: Event) -> None:
    if worker.debug.refresh():
        resumed = worker.resume_ready()
        if resumed:
            LOG.info("resumed %d resource(s) with pending work", resumed)


def _as(crud: Crud) -> Callable[[CommandTarget, Event], None]:
    def handler(worker: CommandTarget, event: Event) -> None:
        delivered = worker.deliver(Event(event.resource, crud, event.body))
        LOG.debug("%s reached %d resource(s) here", event.body[PayloadKey.COMMAND], delivered)

    return handler


def _global_debug(worker: CommandTarget, event: Event) -> None:
    # Switching global debug off is a manage of every resource at once.
    (_refresh_debug if event.body.get(PayloadKey.ENABLED) else _manage)(worker, event)


HANDLERS: dict[str, Callable[[CommandTarget, Event], None]] = {
    Command.WORKERS_DEBUG: _report,
    Command.CONFIG_RELOAD: _reload_config,
    Command.POLL: _as(Crud.POLL),
    Command.GLOBAL_DEBUG: _global_debug,
    Command.TENANT_DEBUG: _refresh_debug,
    Command.RESOURCE_DEBUG: _refresh_debug,
    Command.ROUTER_DEBUG: _refresh_debug,
    Command.TENANT_MANAGE: _manage,
    Command.RESOURCE_MANAGE: _manage,
    Command.ROUTER_MANAGE: _manage,
    Command.RESOURCE_UPDATE: _as(Crud.UPDATE),
    Command.ROUTER_UPDATE: _as(Crud.UPDATE),
    Command.RESOURCE_REBUILD: _as(Crud.REBUILD),
    Command.ROUTER_REBUILD: _as(Crud.REBUILD),
}


def dispatch_command(worker: CommandTarget, event: Event) -> bool:
    """Run the handler of ``event``'s command; False (logged) when there is none."""
    name = event.body.get(PayloadKey.COMMAND) if isinstance(event.body, Mapping) else None
    handler = HANDLERS.get(name) if isinstance(name, str) else None
    if handler is None:
        LOG.error("ignoring command event with unknown command %r", name)
        return False
    handler(worker, event)
    return True
