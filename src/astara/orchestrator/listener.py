"""The notification listener of cloud mode: Neutron's notifications from RabbitMQ to the intake.

Neutron publishes every change at INFO priority on its control exchange
(``[DEFAULT] neutron_control_exchange``, ``neutron``) with the routing key
``notifications.info``; astara-ctl's commands travel the same way. The
listener consumes them from its own queue, ``astara.notifications.<host>``
(an oslo.messaging *pool*), and hands each to the intake; see
:mod:`~astara.orchestrator.messaging_endpoint` for when a message is
acknowledged and when it stays on the bus.

Why a queue per orchestrator, rather than the shared ``notifications.info``:

- Every orchestrator must see every notification. Each one acts only on the
  resources it owns on the hash ring, but ownership moves when an
  orchestrator joins or leaves, so the one that comes to own a resource
  must have seen its events too; a shared queue would hand each message to
  one orchestrator only.
- ``notifications.info`` belongs to Neutron's other consumers (Ceilometer);
  taking messages from it would steal theirs.

The listener hands notifications to the intake one at a time, in the order
RabbitMQ delivers them, so a resource's events are queued in the order
Neutron sent them. ``submit`` only queues, so one thread keeps up.

Nothing is lost when RabbitMQ goes away: kombu reconnects, and a message
delivered but not yet acknowledged is delivered again (so a notification may
be handled twice; the workers collapse duplicate events, and
:mod:`~astara.orchestrator.messaging_redelivery` makes sure such a
redelivery is handled and acknowledged rather than stranded). The queue itself
survives a *broker restart* only when it is durable: set
``[oslo_messaging_rabbit] amqp_durable_queues = true`` (or ``rabbit_quorum_queue``)
for Astara and Neutron alike.

Stopping (SIGTERM): stop the listener before the orchestrator's service.
:meth:`NotificationListener.stop` takes no new message and waits for the
ones being handled, so every message is either queued and acknowledged or
left on the bus.
"""

from __future__ import annotations

import oslo_messaging
from oslo_config import cfg

from astara.orchestrator.messaging_endpoint import (
    REQUEUE_PAUSE_S,
    NotificationEndpoint,
    NotificationSink,
)
from astara.orchestrator.messaging_redelivery import notification_server
from astara.orchestrator.messaging_server import EXECUTOR, ServerRunner
from astara.orchestrator.messaging_transport import notification_transport

#: The topic Neutron's notifications go to (with the priority appended).
NOTIFICATIONS_TOPIC = "notifications"


def pool_name(host: str) -> str:
    """The queue of the orchestrator ``host``: one per orchestrator, see the module doc."""
    return f"astara.notifications.{host}"


class NotificationListener:
    """Consumes INFO notifications and hands each to ``sink`` (the intake).

    ``topic``, ``exchange`` and ``pool`` default to what Neutron and the
    configuration say; tests pass their own so they never consume messages
    that belong to someone else.
    """

    def __init__(
        self,
        conf: cfg.ConfigOpts,
        sink: NotificationSink,
        *,
        topic: str = NOTIFICATIONS_TOPIC,
        exchange: str | None = None,
        pool: str | None = None,
        requeue_pause: float = REQUEUE_PAUSE_S,
    ) -> None:
        self._endpoint = NotificationEndpoint(sink, requeue_pause)
        transport = notification_transport(conf)
        target = oslo_messaging.Target(
            topic=topic, exchange=exchange or conf.neutron_control_exchange
        )
        server = notification_server(
            transport,
            [target],
            [self._endpoint],
            executor=EXECUTOR,
            pool=pool or pool_name(conf.host),
        )
        self._runner = ServerRunner(server, transport, pool_size=1)

    def start(self) -> None:
        """Start consuming (blocks while RabbitMQ is unreachable, retrying)."""
        self._runner.start()

    def stop(self) -> None:
        """Take no new message, finish the ones in hand, close the connection."""
        self._endpoint.stop_pausing()
        self._runner.stop()
