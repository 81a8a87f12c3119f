"""A notification server that handles RabbitMQ's redeliveries instead of stranding them.

oslo.messaging's AMQP notification listener remembers the ``_unique_id`` of
every message it *tried* to acknowledge, and ignores (without acknowledging)
any later message with a remembered id. When RabbitMQ drops the connection,
every acknowledgement sent on it is lost, the broker delivers those messages
again on the new connection, and the listener ignores them: they stay
unacknowledged on the consumer for as long as it lives and return to the
queue when it stops, to be stranded again by the next listener that handled
them once. A busy orchestrator could end up holding hundreds of them.

Astara's workers collapse duplicate events, so a notification handled twice
costs nothing, while one that is never acknowledged fills the broker. This
server swaps the listener's duplicate cache for one that lets redeliveries
through: every delivery is dispatched and acknowledged, at least once.
"""

from __future__ import annotations

from typing import Any

from oslo_messaging.notify import dispatcher as notify_dispatcher
from oslo_messaging.notify import listener as notify_listener

#: The key oslo.messaging's publishers put each message's unique id under.
UNIQUE_ID_KEY = "_unique_id"


class RedeliveryAcceptingCache:
    """Stands in for oslo.messaging's ``_MsgIdCache``: no message is a duplicate.

    It still removes the unique id from the message, as the original does,
    so the id never reaches the payload handed to the endpoint.
    """

    def check_duplicate_message(self, message_data: dict[str, Any]) -> str | None:
        unique_id = message_data.pop(UNIQUE_ID_KEY, None)
        return str(unique_id) if unique_id is not None else None

    def add(self, msg_id: str | None) -> None:
        """Remember nothing: a redelivery must be handled, not ignored."""


def accept_redeliveries(listener: Any) -> None:
    """Give the driver's poll-style listener behind ``listener`` the accepting cache.

    ``listener`` is what a transport's ``_listen_for_notifications`` returns:
    an adapter around the driver's own listener. Drivers without a duplicate
    cache (the in-memory fake used by unit tests) are left as they are.
    """
    driver_listener = getattr(listener, "_poll_style_listener", None)
    if driver_listener is not None and hasattr(driver_listener, "msg_id_cache"):
        driver_listener.msg_id_cache = RedeliveryAcceptingCache()


class RedeliveryAcceptingServer(notify_listener.NotificationServer):
    """oslo.messaging's notification server, with redeliveries handled (see module doc)."""

    def _create_listener(self) -> Any:
        listener = super()._create_listener()
        accept_redeliveries(listener)
        return listener


def notification_server(
    transport: Any,
    targets: list[Any],
    endpoints: list[Any],
    *,
    executor: str,
    pool: str,
) -> RedeliveryAcceptingServer:
    """What ``oslo_messaging.get_notification_listener`` builds, with requeue allowed."""
    dispatcher = notify_dispatcher.NotificationDispatcher(endpoints, None)
    return RedeliveryAcceptingServer(
        transport, targets, dispatcher, executor, allow_requeue=True, pool=pool
    )
