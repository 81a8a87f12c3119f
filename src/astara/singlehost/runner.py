"""``astara-orchestrator --single-host``: the whole of Astara on one host, in one command.

Start order, each step needing the one before:

1. the state dir, its generated configuration and the migrated database;
2. the local API on 127.0.0.1 (``[singlehost] api_port``), publishing its
   notifications on the in-process bus;
3. the management network in that API, and the host's port on its bridge;
4. the metadata proxy on the host's management address, answered by the
   built-in metadata service;
5. the host's ports on the external networks (and, with ``uplink_nat``, the
   way out through the host's uplink), kept up to date from the bus;
6. the orchestrator, subscribed to the bus last: its populate reads every
   router at start, so nothing published before is missed.

SIGINT or SIGTERM stops them in the reverse order. Appliances, the host's
ports and the agent host keep running, so routing goes on while Astara is
stopped; the next start finds the appliances and verifies them (populate
sends each router an UPDATE) instead of rebuilding them.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

import httpx
from oslo_config import cfg
from oslo_log import log as oslo_log

from astara.common import log_context
from astara.common.config import parse_config
from astara.common.http_server import ThreadedServer
from astara.common.linux.interface import BridgeInterfaceDriver, bridge_name_for_network
from astara.db import migration
from astara.localapi import create_app
from astara.localapi.server import DEFAULT_HOST
from astara.network.session import local_connection
from astara.orchestrator.cli_options import CLI_OPTS, PROG
from astara.orchestrator.control_api.access import client_url
from astara.orchestrator.control_api.server import ControlApiServer
from astara.orchestrator.intake import IntakeClosed
from astara.orchestrator.main import _stop_on_signals
from astara.orchestrator.management_port import plug_management_port
from astara.orchestrator.metadata_proxy import metadata_proxy_server
from astara.orchestrator.service import OrchestratorService
from astara.orchestrator.wiring import load_wiring
from astara.provisioners import netns
from astara.provisioners.netns_records import RecordStore
from astara.singlehost import host_ports, options, uplink
from astara.singlehost.bus import NotificationBus
from astara.singlehost.external import ExternalPortWatcher
from astara.singlehost.management import ensure_management_network
from astara.singlehost.metadata import create_builtin_metadata_app
from astara.singlehost.state import StateDir
from astara.singlehost.wiring import SINGLE_HOST_WIRING, network_model

LOG = logging.getLogger(__name__)

#: The built-in metadata service is reached in-process; the host part is never resolved.
BUILTIN_METADATA_URL = "http://builtin-metadata"
#: How often the main thread wakes to let Python run a signal handler.
_SIGNAL_CHECK_S = 0.5


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=f"{PROG} --single-host",
        description="Run Astara on this host: local network API, netns appliances, orchestrator.",
    )
    parser.add_argument("--single-host", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path("state"),
        help="directory of everything single-host mode keeps (default: ./state)",
    )
    parser.add_argument(
        "--config-file",
        action="append",
        default=[],
        help="an orchestrator.ini whose values override single-host mode's defaults "
        "(repeatable)",
    )
    return parser.parse_args(list(argv))


def orchestrator_argv(state: StateDir, config_files: Sequence[str]) -> list[str]:
    """The orchestrator's command line, which its worker processes parse again."""
    argv = ["--config-file", str(state.config_file)]
    for path in config_files:
        argv += ["--config-file", str(Path(path).resolve())]
    return [*argv, "--wiring", SINGLE_HOST_WIRING]


def load_config(argv: Sequence[str]) -> cfg.ConfigOpts:
    conf = parse_config(argv, PROG, CLI_OPTS, default_config_files=[])
    options.register(conf)
    return conf


def run_single_host(argv: Sequence[str]) -> int:
    """Run until SIGINT/SIGTERM.

    Returns 0 after a clean stop, 1 if queued events were lost, 2 when it could not start.
    """
    args = parse_arguments(argv)
    state = StateDir(args.state_dir.resolve())
    state.create()
    secret = state.metadata_secret()
    options.write_config(state, secret, {})
    orchestrator_args = orchestrator_argv(state, args.config_file)
    conf = load_config(orchestrator_args)
    oslo_log.setup(conf, "astara")
    log_context.install(conf)
    stop_requested = _stop_on_signals()
    with ExitStack() as running:
        try:
            service = _start(conf, state, secret, orchestrator_args, running)
        except Exception as error:
            LOG.debug("start-up failure", exc_info=True)
            print(f"{PROG}: error: could not start single-host mode: {error}", file=sys.stderr)
            return 2
        while not stop_requested.wait(_SIGNAL_CHECK_S):
            pass
        LOG.info("stopping single-host mode; appliances keep running")
        clean = service.stop()
    LOG.info("single-host mode stopped")
    return 0 if clean else 1


def _start(
    conf: cfg.ConfigOpts,
    state: StateDir,
    secret: str,
    orchestrator_args: list[str],
    running: ExitStack,
) -> OrchestratorService:
    """Start everything but the wait (see the module); ``running`` stops what started."""
    migration.upgrade(conf.database.connection)
    bus = NotificationBus()
    api = ThreadedServer(
        "local network API",
        create_app(
            state.network_database_url, bus.publish, id_prefix=conf.singlehost.id_prefix
        ),
        DEFAULT_HOST,
        conf.singlehost.api_port,
    )
    api.start()
    running.callback(api.stop)

    connection = local_connection(options.api_url(conf))
    management = ensure_management_network(connection, conf.management_prefix)
    options.write_config(state, secret, management.as_options())
    conf = load_config(orchestrator_args)
    network = network_model(conf)
    driver = BridgeInterfaceDriver()
    host = plug_management_port(conf, network, driver)
    host_ports.remember(
        state, management.network_id, host_ports.MANAGEMENT, host.device, host.bridge
    )

    builtin = create_builtin_metadata_app(network, conf.neutron_metadata_proxy_shared_secret)
    proxy = metadata_proxy_server(
        conf,
        network,
        host.orchestrator_address,
        BUILTIN_METADATA_URL,
        upstream_transport=httpx.ASGITransport(app=builtin),
    )
    proxy.start()
    running.callback(proxy.stop)

    provisioner = netns.from_config(conf)
    records = RecordStore(Path(conf.netns.state_path))

    def prune_bridge(network_id: str) -> None:
        """Remove a deleted network's bridge if an appliance made it and nothing is on it."""
        bridge = bridge_name_for_network(network_id)
        provisioner.prune_bridges({b for b in records.created_bridges() if b != bridge})

    def nat(devices: dict[str, list[str]]) -> None:
        if conf.singlehost.uplink_nat:
            uplink.apply(state, devices)

    watcher = ExternalPortWatcher(connection, state, driver, nat, prune_bridge)
    watcher.start()
    running.callback(watcher.stop)
    bus.subscribe(watcher.notify)

    wiring = load_wiring(conf.wiring, conf)
    wiring.check()
    service = OrchestratorService(conf, wiring, orchestrator_args)
    control = ControlApiServer(conf, service, single_host=True)
    control.start()
    running.callback(control.stop)
    service.start()

    def submit(event_type: str, payload: dict[str, object], context: dict[str, object]) -> None:
        try:
            service.submit(event_type, payload, context)
        except IntakeClosed:
            LOG.info("not taken, the orchestrator is stopping: %s", event_type)

    bus.subscribe(submit)
    running.callback(bus.unsubscribe, submit)
    _announce(conf, state, host.orchestrator_address)
    return service


def _announce(conf: cfg.ConfigOpts, state: StateDir, orchestrator_address: str) -> None:
    """Tell the user where things are and how to start (stdout, not the log)."""
    url = options.api_url(conf)
    print(
        f"""
Astara single-host mode is running (state in {state.root}).

  Network API (Neutron v2.0, no authentication, loopback only): {url}
  Management network {conf.management_network_id} on {conf.management_prefix};
  this host is {orchestrator_address} there (metadata proxy on port {conf.astara_metadata_port}).
  Control API: {client_url(conf, single_host=True)} (token in {conf.api_token_file});
  astara-ctl --single-host --state-dir {state.root} --help lists what it can do.

Use it with the openstack CLI:

  export OS_AUTH_TYPE=none OS_ENDPOINT={url}
  openstack network create --external public
  openstack subnet create --network public --subnet-range 172.16.0.0/24 public-subnet
  openstack network create private
  openstack subnet create --network private --subnet-range 10.2.0.0/24 private-subnet
  openstack router create --external-gateway public MyRouter
  openstack router add subnet MyRouter private-subnet
  openstack router show MyRouter -c status     # ACTIVE once its appliance is configured

(or pass --os-auth-type none --os-endpoint {url} to each command).
Try an instance: openstack port create --network private vm1, then
  python -m astara.singlehost.instance --api-url {url} --state-dir {state.root} vm1
Ctrl-C stops Astara; appliances keep running and are verified at the next start.
""",
        flush=True,
    )
