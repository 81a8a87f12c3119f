"""Transactional apply: all services reach the new configuration, or none keeps it.

The services run in the registry's order (firewall first, so the appliance is
never reachable through an interface before the rules for it exist).  When
one fails, every service it already ran, the failing one included, is rolled
back to the last good configuration, newest first, and the caller learns
which step failed and why.  Applies are serialised by a lock: the API may
receive several PUTs at once but the appliance only ever moves between whole
configurations.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from astara.appliance.links import resolve_ifnames
from astara.appliance.model import RouterConfig
from astara.appliance.netns import Namespace
from astara.appliance.services.base import NOTHING, Service, Target
from astara.appliance.state import ConfigStore

LOG = logging.getLogger(__name__)


class ApplyError(RuntimeError):
    """A step failed; ``rollback_failures`` lists the steps that could not be undone."""

    def __init__(self, step: str, reason: str, rollback_failures: Sequence[str] = ()) -> None:
        self.step = step
        self.reason = reason
        self.rollback_failures = list(rollback_failures)
        outcome = (
            "rolled back to the last good configuration"
            if not self.rollback_failures
            else "rollback failed at " + "; ".join(self.rollback_failures)
        )
        super().__init__(f"apply failed at step {step}: {reason}; {outcome}")


def describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


class Manager:
    def __init__(self, ns: Namespace, services: Sequence[Service], store: ConfigStore) -> None:
        self._ns = ns
        self._services = list(services)
        self._store = store
        self._lock = threading.Lock()
        self._current = NOTHING

    @property
    def current(self) -> Target:
        return self._current

    def apply(self, config: RouterConfig, save: bool = True) -> None:
        """Apply ``config``; raise ApplyError (after rolling back) if a step fails.

        Raises UnknownInterfaceError, before changing anything, when a network's
        MAC matches no NIC.  ``save=False`` leaves the saved configuration alone
        (used to close the appliance down when the saved one cannot be restored).
        """
        with self._lock:
            target = Target(config, resolve_ifnames(self._ns, config))
            done: list[Service] = []
            for service in self._services:
                done.append(service)
                try:
                    service.apply(self._current, target)
                except Exception as exc:
                    LOG.error("%s: step %s failed: %s", self._ns, service.name, describe(exc))
                    raise ApplyError(
                        service.name, describe(exc), self._roll_back(done, target)
                    ) from exc
            try:
                if save:
                    self._store.save(config)
            except OSError as exc:
                raise ApplyError("save", describe(exc), self._roll_back(done, target)) from exc
            self._current = target
            LOG.info("%s: configuration applied (%d networks)", self._ns, len(config.networks))

    def _roll_back(self, done: list[Service], attempted: Target) -> list[str]:
        failures = []
        for service in reversed(done):
            try:
                service.rollback(attempted, self._current)
            except Exception as exc:
                LOG.error("%s: rollback of %s failed: %s", self._ns, service.name, describe(exc))
                failures.append(f"{service.name}: {describe(exc)}")
        return failures
