"""Which resources an operator has taken out of the orchestrator's hands.

Debug mode (global, per tenant, per resource) is stored in the database so it
survives restarts and reaches every orchestrator. Asking the database on every
event (the original made three queries per event, and one more per thread
task) would put a database round trip on the hot path, so each worker keeps an
in-memory snapshot instead, read again when a debug command arrives and every
health-check period. A database that does not answer leaves the last snapshot
in place: the worker goes on with the flags it knew.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

from astara.db.api import DebugSnapshot
from astara.orchestrator.event import Resource

LOG = logging.getLogger(__name__)


class DebugSource(Protocol):
    """Where debug flags are stored (:class:`astara.db.api.DebugStore`)."""

    def snapshot(self) -> DebugSnapshot: ...


#: The view before the first successful read: every resource is managed.
NOTHING_IN_DEBUG = DebugSnapshot(global_debug=False, global_reason=None, resources={}, tenants={})


class DebugFlags:
    """The worker's current :class:`~astara.db.api.DebugSnapshot`, refreshed on demand."""

    def __init__(self, source: DebugSource) -> None:
        self._source = source
        self._view = NOTHING_IN_DEBUG
        # The view when it holds any flag, else None: most of the time nothing
        # is in debug, and then no event needs a look-up.
        self._active: DebugSnapshot | None = None
        self._refresh_lock = threading.Lock()

    def ignores(self, resource: Resource) -> str | None:
        active = self._active
        return active.ignores(resource) if active is not None else None

    def describe(self) -> dict[str, Any]:
        """The flags as plain data, for the workers-debug report."""
        view = self._view
        return {
            "global": {"enabled": view.global_debug, "reason": view.global_reason},
            "tenants": dict(view.tenants),
            "resources": dict(view.resources),
        }

    def refresh(self) -> bool:
        """Read the flags again; False (and the old view kept) when the store fails."""
        with self._refresh_lock:
            try:
                view = self._source.snapshot()
            except Exception as error:
                LOG.warning("could not read debug flags, keeping the previous ones: %s", error)
                return False
            self._view = view
            self._active = view if view.global_debug or view.tenants or view.resources else None
            return True


class DebugRefresher:
    """A thread that re-reads the flags every ``period`` seconds, then calls ``refreshed``.

    It runs beside the worker's event intake, so a database that is slow or
    down delays only this thread, never the events. ``refreshed`` lets the
    worker resume resources a flag no longer holds.
    """

    def __init__(self, flags: DebugFlags, period: float, refreshed: Callable[[], object]) -> None:
        self._flags = flags
        self._period = period
        self._refreshed = refreshed
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="debug-refresh", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stopping.wait(self._period):
            if self._flags.refresh():
                try:
                    self._refreshed()
                except Exception:
                    LOG.exception("acting on refreshed debug flags failed")
