"""astara-orchestrator: the orchestrator process.

``astara-orchestrator --config-file /etc/astara/orchestrator.ini`` checks the
configuration (``--check-config`` only checks it and exits), logs every option
value (secrets masked), checks that the configured implementations exist, then
serves the control API (:mod:`astara.orchestrator.control_api`), listens on
RabbitMQ for Neutron's notifications and astara-ctl's RPC
(:mod:`~astara.orchestrator.bus_servers`), joins the management network
(:mod:`~astara.orchestrator.management_port`) and serves the appliances'
metadata requests there, signed and passed on to Nova's metadata API, and
runs the :class:`~astara.orchestrator.service.OrchestratorService` until
SIGTERM or SIGINT. It then stops cleanly within
:data:`~astara.orchestrator.service.STOP_TIMEOUT_S` and exits 0, or 1 if
queued events could not be saved. A configuration or wiring problem exits 2
with one line on stderr, never a traceback.

``astara-orchestrator --single-host --state-dir DIR`` (``make run``) runs
the whole of Astara on this host instead: see :mod:`astara.singlehost`.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import Any

from oslo_log import log as oslo_log

from astara.common import log_context
from astara.common.config import load_orchestrator_config
from astara.common.http_server import ThreadedServer
from astara.orchestrator.cli_options import CLI_OPTS, PROG
from astara.orchestrator.control_api.server import ControlApiServer
from astara.orchestrator.service import OrchestratorService
from astara.orchestrator.wiring import Wiring, WiringError, load_wiring

LOG = logging.getLogger(__name__)

#: How often the main thread wakes to let Python run a signal handler.
_SIGNAL_CHECK_S = 0.5


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``astara-orchestrator``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if "--single-host" in args:
        # Imported here: single-host mode pulls in the local API and the netns
        # provisioner, which a cloud-mode orchestrator never loads.
        from astara.singlehost.runner import run_single_host

        return run_single_host(args)
    conf = load_orchestrator_config(args, PROG, CLI_OPTS)
    oslo_log.setup(conf, "astara")
    log_context.install(conf)
    conf.log_opt_values(LOG, logging.INFO)
    try:
        wiring = load_wiring(conf.wiring, conf)
        wiring.check()
        proxy = _join_management_network(conf, wiring)
        service = OrchestratorService(conf, wiring, args)
        bus = _bus_servers(conf, service) if wiring.listens_on_bus() else None
        control = ControlApiServer(conf, service)
        control.start()
    except WiringError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    except Exception as error:
        LOG.debug("start-up failure", exc_info=True)
        print(f"{PROG}: error: could not start: {error}", file=sys.stderr)
        return 2
    stop_requested = _stop_on_signals()
    service.start()
    if bus is not None:
        bus.start()
    LOG.info("%s started", PROG)
    while not stop_requested.wait(_SIGNAL_CHECK_S):
        pass
    if bus is not None:
        bus.stop()
    control.stop()
    if proxy is not None:
        proxy.stop()
    clean = service.stop()
    LOG.info("%s stopped", PROG)
    return 0 if clean else 1


def _join_management_network(conf: Any, wiring: Wiring) -> ThreadedServer | None:
    """Plug this host's management port and start the metadata proxy on it (if the wiring
    drives real appliances). The port stays plugged at stop: appliances keep running.

    Imported here: the interface drivers pull in netlink libraries that warn
    at import about deprecations, which ``--check-config`` must not print.
    """
    network = wiring.host_network_model()
    if network is None:
        return None
    from astara.orchestrator.management_port import (
        configured_interface_driver,
        plug_management_port,
    )
    from astara.orchestrator.metadata_proxy import metadata_proxy_server, nova_metadata_url

    host = plug_management_port(conf, network, configured_interface_driver(conf))
    proxy = metadata_proxy_server(conf, network, host.orchestrator_address, nova_metadata_url(conf))
    proxy.start()
    return proxy


def _bus_servers(conf: Any, service: OrchestratorService) -> Any:
    """Imported only when used: oslo.messaging's drivers warn at import about deprecations,
    which ``--check-config`` and ``--help`` must not print."""
    from astara.orchestrator.bus_servers import BusServers

    return BusServers(conf, service)


def _stop_on_signals() -> threading.Event:
    """An event set by the first SIGTERM or SIGINT (later ones are only logged)."""
    requested = threading.Event()

    def handle(signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if requested.is_set():
            LOG.warning("%s received: already stopping", name)
        else:
            LOG.info("%s received: stopping", name)
            requested.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    return requested
