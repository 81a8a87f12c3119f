"""astara-ctl's side of cloud mode: sending commands to the orchestrators over RPC.

See :mod:`astara.orchestrator.rpc` for which address each request goes to.
Every failure an operator can meet (no orchestrator running, RabbitMQ down,
the orchestrator stopping, a payload no orchestrator would accept) becomes
one :class:`RpcClientError` whose message is a single line fit for the
terminal, never a traceback.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import oslo_messaging
from oslo_config import cfg

from astara.orchestrator.commands import CommandError, command_event
from astara.orchestrator.messaging_transport import broker_address, rpc_transport
from astara.orchestrator.rpc import ASTARA_TOPIC, RPC_VERSION

#: Seconds astara-ctl waits for an answer unless told otherwise.
DEFAULT_TIMEOUT_S = 30.0
#: Connection attempts to RabbitMQ before giving up (oslo.messaging retries forever by default).
_CONNECT_RETRIES = 2


class RpcClientError(Exception):
    """A request no orchestrator carried out; the message says why, in one line."""


@dataclass(frozen=True, slots=True)
class CommandReceipt:
    """What astara-ctl learns about a command it sent.

    ``host`` answered (the ping before a cast, or the call itself);
    ``scheduled`` is the number of events that orchestrator made of the
    command, known only for a call to one named orchestrator.
    """

    host: str
    every_orchestrator: bool
    scheduled: int | None = None


class OrchestratorRpcClient:
    """Sends commands and report requests to the orchestrators of ``conf``'s RabbitMQ."""

    def __init__(self, conf: cfg.ConfigOpts, *, topic: str = ASTARA_TOPIC) -> None:
        self._broker = broker_address(conf)
        self._transport = rpc_transport(conf)
        self._client = oslo_messaging.get_rpc_client(
            self._transport,
            oslo_messaging.Target(topic=topic, version=RPC_VERSION),
            retry=_CONNECT_RETRIES,
        )

    def command(
        self,
        payload: Mapping[str, Any],
        timeout: float = DEFAULT_TIMEOUT_S,
        server: str | None = None,
    ) -> CommandReceipt:
        """Send an ``astara.command`` payload to every orchestrator, or to ``server`` only.

        The payload is checked here first: a cast carries no answer back, so
        a payload the orchestrators would refuse must be refused now.
        """
        try:
            command_event(payload)
        except CommandError as error:
            raise RpcClientError(f"refused before sending: {error}") from None
        with self._errors(timeout, server):
            if server is not None:
                reply = self._client.prepare(server=server, timeout=timeout).call(
                    {}, "command", payload=dict(payload)
                )
                return CommandReceipt(reply["host"], False, reply["scheduled"])
            answer = self._client.prepare(timeout=timeout).call({}, "ping")
            self._client.prepare(fanout=True).cast({}, "command", payload=dict(payload))
            return CommandReceipt(answer["host"], True)

    def workers_debug(
        self, timeout: float = DEFAULT_TIMEOUT_S, server: str | None = None
    ) -> list[dict[str, Any]]:
        """The workers' reports of one orchestrator (``server``, or whichever answers first).

        The orchestrator is given half of ``timeout`` to gather them, so a
        silent worker shows up as an error in the reports, not as a timeout.
        """
        with self._errors(timeout, server):
            target = {} if server is None else {"server": server}
            reports: list[dict[str, Any]] = self._client.prepare(timeout=timeout, **target).call(
                {}, "workers_debug", wait=timeout / 2
            )
            return reports

    def close(self) -> None:
        """Close the connections to RabbitMQ."""
        self._transport.cleanup()

    def __enter__(self) -> OrchestratorRpcClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @contextlib.contextmanager
    def _errors(self, timeout: float, server: str | None) -> Iterator[None]:
        """Check RabbitMQ is reachable, then turn oslo.messaging's failures into one-line errors."""
        self._check_broker()
        silent = "no orchestrator answered" if server is None else f"{server} did not answer"
        try:
            yield
        except oslo_messaging.MessagingTimeout:
            raise RpcClientError(f"{silent} on {self._broker} within {timeout:g} s") from None
        except oslo_messaging.RemoteError as error:
            reason = str(error.value).strip().splitlines() or [str(error.exc_type)]
            raise RpcClientError(f"the orchestrator refused: {reason[0]}") from None

    def _check_broker(self) -> None:
        """Fail fast, in one line, when RabbitMQ cannot be reached.

        The check is a cast of the side-effect-free ``ping``: a cast gives up
        after ``_CONNECT_RETRIES`` attempts, whereas oslo.messaging opens the
        connection a call waits for its reply on with endless retries, so a
        call with RabbitMQ down would never return.
        """
        try:
            self._client.cast({}, "ping")
        except Exception as error:  # the driver raises its own library's errors (kombu's)
            raise RpcClientError(f"cannot reach RabbitMQ at {self._broker}: {error}") from None
