"""Starting and stopping an oslo.messaging server the way the orchestrator needs.

The notification listener and the RPC server share one life cycle: start
once; on stop, take no new message, let the messages being handled finish
(so each is acknowledged or requeued, never dropped half-way), then close the
connections. oslo.messaging splits this into ``start``/``stop``/``wait`` and
the transport's ``cleanup``, and its ``stop`` waits forever for a ``start``
that never came; :class:`ServerRunner` hides both.

The threading executor runs the handlers (no eventlet). kombu reconnects the
server's connection by itself when RabbitMQ restarts or drops it, retrying
with ``[oslo_messaging_rabbit] rabbit_retry_interval`` / ``rabbit_retry_backoff``
/ ``rabbit_interval_max``; messages that were delivered but not acknowledged
when the connection broke are delivered again by RabbitMQ.
"""

from __future__ import annotations

import threading

import oslo_messaging

#: The executor that runs message handlers in a thread pool.
EXECUTOR = "threading"


class ServerRunner:
    """Runs one oslo.messaging server over a transport it owns."""

    def __init__(
        self,
        server: oslo_messaging.MessageHandlingServer,
        transport: oslo_messaging.Transport,
        pool_size: int | None = None,
    ) -> None:
        """``pool_size`` overrides ``executor_thread_pool_size`` for this server only."""
        self._server = server
        self._transport = transport
        self._pool_size = pool_size
        self._lock = threading.Lock()
        self._started = False
        self._stopped = False

    def start(self) -> None:
        """Connect and start handling messages.

        Returns once consuming; while RabbitMQ is unreachable it keeps
        retrying (and so does not return). A second call does nothing.
        """
        with self._lock:
            if self._started or self._stopped:
                return
            self._server.start(override_pool_size=self._pool_size)
            self._started = True

    def stop(self) -> None:
        """Stop consuming, wait for the messages in hand, close the connections.

        Safe to call before :meth:`start` and more than once.
        """
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            if self._started:
                self._server.stop()
                self._server.wait()
            self._transport.cleanup()
