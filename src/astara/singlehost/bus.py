"""The in-process event bus: the local API's notifications, handed to whoever listens.

In cloud mode Neutron's notifications travel over RabbitMQ; here the local
API calls :meth:`NotificationBus.publish` after each commit, in commit order,
and every subscriber is called in turn from that request's thread. So a
subscriber must return quickly (the orchestrator's intake only queues; the
host-port watcher only wakes its own thread). A notification published while
nobody listens is dropped on purpose: the orchestrator's populate reads the
whole network model when it starts, so nothing is lost by missing it.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from astara.localapi.notifications import Notify

LOG = logging.getLogger(__name__)


class NotificationBus:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: tuple[Notify, ...] = ()

    def subscribe(self, subscriber: Notify) -> None:
        with self._lock:
            self._subscribers = (*self._subscribers, subscriber)

    def unsubscribe(self, subscriber: Notify) -> None:
        with self._lock:
            self._subscribers = tuple(s for s in self._subscribers if s is not subscriber)

    def publish(self, event_type: str, payload: dict[str, Any], context: dict[str, Any]) -> None:
        """Give the notification to every subscriber; one that fails does not stop the rest."""
        for subscriber in self._subscribers:
            try:
                subscriber(event_type, payload, context)
            except Exception:
                LOG.exception("subscriber %r failed on %s", subscriber, event_type)
