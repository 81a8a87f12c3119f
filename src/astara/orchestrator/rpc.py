"""Operator commands over RPC: the orchestrator's server and the interface astara-ctl calls.

Each orchestrator serves ``Target(topic=ASTARA_TOPIC, server=<host>)`` with
the methods of :class:`OrchestratorEndpoint`. oslo.messaging gives that one
target three addresses, and astara-ctl uses each for what it is good at:

- **fanout cast** (every orchestrator): the commands. Each orchestrator acts
  only in its own workers (their resources, their debug-flag snapshots,
  their configuration), and a resource lives on whichever orchestrator the
  hash ring gives it to, which astara-ctl does not know. So every command
  (poll, config-reload, workers-debug, update, rebuild, debug, manage) must
  reach every orchestrator, each acting on what it owns; the debug flags
  are idempotent database writes, so writing them once per orchestrator is
  harmless and makes them take effect everywhere at once.
- **call to any** (one orchestrator, round robin): :meth:`~OrchestratorEndpoint.ping`,
  which proves an orchestrator is listening before a cast that no one would
  answer, and :meth:`~OrchestratorEndpoint.workers_debug`.
- **call to one named server**: a command or a report aimed at one host;
  the reply says how many events that orchestrator scheduled.

Only the methods marked exposed can be called (oslo.messaging's explicit
access policy), so nothing else of the endpoint is reachable from the bus.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

import oslo_messaging
from oslo_config import cfg

from astara.orchestrator.commands import COMMAND_EVENT_TYPE
from astara.orchestrator.intake import IntakeClosed
from astara.orchestrator.messaging_server import EXECUTOR, ServerRunner
from astara.orchestrator.messaging_transport import rpc_transport
from astara.orchestrator.outboxes import OutboxesClosed

LOG = logging.getLogger(__name__)

#: The RPC topic every orchestrator serves.
ASTARA_TOPIC = "astara.orchestrator"
#: The interface version; a client asking for a newer minor version is refused.
RPC_VERSION = "1.0"
#: Seconds an orchestrator waits for its workers' reports unless told otherwise.
REPORT_WAIT_S = 10.0


class CommandService(Protocol):
    """What the endpoint needs of :class:`~astara.orchestrator.service.OrchestratorService`."""

    def submit(self, event_type: str, payload: Any, context: Any = None) -> int: ...

    def workers_debug(self, timeout: float = REPORT_WAIT_S) -> list[dict[str, Any]]: ...


class OrchestratorStopping(Exception):
    """The orchestrator is stopping and takes no command; the caller should retry later."""


class OrchestratorEndpoint:
    """The methods astara-ctl calls on an orchestrator."""

    target = oslo_messaging.Target(version=RPC_VERSION)

    def __init__(self, service: CommandService, host: str) -> None:
        self._service = service
        self._host = host

    @oslo_messaging.expose
    def ping(self, ctxt: Mapping[str, Any]) -> dict[str, str]:
        """Which orchestrator answered: proof that one is listening."""
        return {"host": self._host}

    @oslo_messaging.expose
    @oslo_messaging.expected_exceptions(OrchestratorStopping)
    def command(self, ctxt: Mapping[str, Any], payload: Any) -> dict[str, Any]:
        """Schedule an ``astara.command`` payload; reply how many events it became.

        Zero means the payload was refused (the orchestrator logs why).
        """
        try:
            scheduled = self._service.submit(COMMAND_EVENT_TYPE, payload, dict(ctxt))
        except IntakeClosed:
            raise self._stopping() from None
        LOG.info("command %r over RPC: %d event(s) scheduled", _name_of(payload), scheduled)
        return {"host": self._host, "scheduled": scheduled}

    @oslo_messaging.expose
    @oslo_messaging.expected_exceptions(OrchestratorStopping)
    def workers_debug(
        self, ctxt: Mapping[str, Any], wait: float = REPORT_WAIT_S
    ) -> list[dict[str, Any]]:
        """Every worker process's report; a worker silent for ``wait`` s is listed with an error."""
        try:
            return self._service.workers_debug(wait)
        except OutboxesClosed:
            raise self._stopping() from None

    def _stopping(self) -> OrchestratorStopping:
        return OrchestratorStopping(f"orchestrator {self._host} is stopping")


def _name_of(payload: Any) -> Any:
    return payload.get("command") if isinstance(payload, Mapping) else payload


class OrchestratorRpcServer:
    """Serves :class:`OrchestratorEndpoint` for ``service`` on RabbitMQ.

    ``topic`` and ``server`` default to :data:`ASTARA_TOPIC` and
    ``[DEFAULT] host``; tests pass their own.
    """

    def __init__(
        self,
        conf: cfg.ConfigOpts,
        service: CommandService,
        *,
        topic: str = ASTARA_TOPIC,
        server: str | None = None,
    ) -> None:
        host = server or conf.host
        transport = rpc_transport(conf)
        rpc_server = oslo_messaging.get_rpc_server(
            transport,
            oslo_messaging.Target(topic=topic, server=host),
            [OrchestratorEndpoint(service, host)],
            executor=EXECUTOR,
            access_policy=oslo_messaging.ExplicitRPCAccessPolicy,
        )
        self._runner = ServerRunner(rpc_server, transport)

    def start(self) -> None:
        """Start serving (blocks while RabbitMQ is unreachable, retrying)."""
        self._runner.start()

    def stop(self) -> None:
        """Take no new call, finish the ones in hand, close the connections."""
        self._runner.stop()
