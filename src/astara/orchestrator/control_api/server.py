"""Serving the control API from the orchestrator's main process, on each listen address."""

from __future__ import annotations

import logging

from oslo_config import cfg

from astara.common.http_server import ServerFailed, ThreadedServer
from astara.orchestrator.control_api.access import listen_addresses, server_authenticator
from astara.orchestrator.control_api.app import ControlService, create_control_app

LOG = logging.getLogger(__name__)


class ControlApiServer:
    """The control API of ``service`` on ``[DEFAULT] api_port`` of each listen address."""

    def __init__(
        self, conf: cfg.ConfigOpts, service: ControlService, *, single_host: bool = False
    ) -> None:
        app = create_control_app(service, server_authenticator(conf), conf.host)
        self._servers = [
            ThreadedServer("control API", app, address, conf.api_port)
            for address in listen_addresses(conf, single_host=single_host)
        ]

    def start(self) -> None:
        """Listen everywhere, or on nothing: ServerFailed (one line) if one address fails."""
        started: list[ThreadedServer] = []
        try:
            for server in self._servers:
                server.start()
                started.append(server)
        except ServerFailed as error:
            for server in started:
                server.stop()
            raise ServerFailed(
                f"{error} (is that address on this host, the port free? "
                f"[DEFAULT] api_listen and api_port choose them)"
            ) from None

    def stop(self) -> None:
        for server in self._servers:
            server.stop()
