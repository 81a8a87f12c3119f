"""Removing everything a single-host installation made on this host.

Stopping single-host mode leaves the appliances, the host's ports and the
uplink NAT in place on purpose (routing goes on, the next start verifies
them). To get the host back as it was, stop Astara, then run

    python -m astara.singlehost.teardown --state-dir ./state

which destroys every appliance recorded in the state dir (namespace, veths,
agent, dnsmasq...), the bridges the provisioner made, the host's own ports
and bridges, and the uplink NAT. Everything is found from the state dir, so
nothing another installation made is touched. The state dir itself (the
network model, the database) is kept; delete it to start from scratch.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from astara.common.linux.interface import BridgeInterfaceDriver
from astara.provisioners import netns
from astara.provisioners.netns_records import RecordStore
from astara.singlehost import host_ports, uplink
from astara.singlehost.runner import load_config
from astara.singlehost.state import StateDir

LOG = logging.getLogger(__name__)


def teardown(state: StateDir) -> list[str]:
    """Remove the installation's appliances, bridges, host ports and NAT; return the appliances."""
    conf = load_config(["--config-file", str(state.config_file)])
    provisioner = netns.from_config(conf)
    destroyed = []
    for record in RecordStore(Path(conf.netns.state_path)).all():
        provisioner.destroy(record.name)
        destroyed.append(record.name)
    provisioner.prune_bridges(set())
    driver = BridgeInterfaceDriver()
    for network_id in list(state.read_host_ports()):
        host_ports.unplug(state, network_id, driver)
    uplink.remove(state)
    return destroyed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m astara.singlehost.teardown",
        description="Remove what a stopped single-host installation made on this host.",
    )
    parser.add_argument("--state-dir", type=Path, default=Path("state"))
    args = parser.parse_args(argv)
    state = StateDir(args.state_dir.resolve())
    if not state.config_file.exists():
        print(f"error: {state.root} is not a single-host state dir", file=sys.stderr)
        return 1
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name in teardown(state):
        print(f"removed appliance {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
