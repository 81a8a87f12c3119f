"""A cloud-mode orchestrator's servers on RabbitMQ: the notification listener and the RPC server.

Neutron's notifications reach the intake through the listener (a queue of
this orchestrator's own, so every member of a cluster sees every event);
astara-ctl's commands and reports arrive through the RPC server. Both
connect in a background thread: while RabbitMQ is unreachable their start
keeps retrying, and the orchestrator must meanwhile serve its control API,
its health checks and populate.

Stopping takes no new message and lets the messages in hand finish, the
listener first (it feeds the intake, which is about to close). If RabbitMQ
never answered, nothing was consumed and there is nothing to stop.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol

from oslo_config import cfg

from astara.orchestrator.listener import NotificationListener
from astara.orchestrator.messaging_transport import broker_address
from astara.orchestrator.rpc import OrchestratorRpcServer

LOG = logging.getLogger(__name__)

#: Seconds stop waits for a start still connecting before leaving it (a daemon thread).
_START_JOIN_S = 5.0


class BusService(Protocol):
    """What the servers hand messages to (the orchestrator service)."""

    def submit(self, event_type: str, payload: Any, context: Any = None) -> int: ...

    def workers_debug(self, timeout: float = ...) -> list[dict[str, Any]]: ...


class BusServers:
    """Start both servers without blocking the caller; stop them in order."""

    def __init__(self, conf: cfg.ConfigOpts, service: BusService) -> None:
        self._broker = broker_address(conf)
        self._listener = NotificationListener(conf, service)
        self._rpc = OrchestratorRpcServer(conf, service)
        self._thread = threading.Thread(target=self._start_all, name="bus-start", daemon=True)

    def start(self) -> None:
        LOG.info("connecting to RabbitMQ at %s", self._broker)
        self._thread.start()

    def stop(self) -> None:
        self._thread.join(_START_JOIN_S)
        if self._thread.is_alive():
            LOG.warning("RabbitMQ at %s never answered: no notification was taken", self._broker)
            return
        self._listener.stop()
        self._rpc.stop()

    def _start_all(self) -> None:
        self._listener.start()
        self._rpc.start()
        LOG.info("listening for notifications and commands on RabbitMQ at %s", self._broker)
