"""astara-ctl in cloud mode: commands go to every orchestrator over RPC, reads to one's API.

With several orchestrators on the hash ring, each drives only the resources
it owns, so a command sent to one orchestrator's control API would reach
only that one's resources. On the bus, as in the original, a command is
cast to every orchestrator (:class:`~astara.cli.rpc_client.OrchestratorRpcClient`)
and each acts on its own share; the reads (resource list and show, the
workers' reports) still come from the control API of the orchestrator the
configuration names.
"""

from __future__ import annotations

from typing import Any

from oslo_config import cfg

from astara.cli.control_client import ControlClient, ControlClientError


class CloudControl(ControlClient):
    """A :class:`ControlClient` whose commands travel on RabbitMQ."""

    def __init__(self, base_url: str, token: str | None, conf: cfg.ConfigOpts) -> None:
        super().__init__(base_url, token)
        self._conf = conf

    def send(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Cast to every orchestrator once one of them answered a ping."""
        from astara.cli.rpc_client import OrchestratorRpcClient, RpcClientError

        try:
            with OrchestratorRpcClient(self._conf) as client:
                receipt = client.command(payload)
        except RpcClientError as error:
            raise ControlClientError(str(error)) from None
        return {
            "command": payload["command"],
            "host": f"every orchestrator ({receipt.host} answered)",
            "scheduled": receipt.scheduled,
        }
