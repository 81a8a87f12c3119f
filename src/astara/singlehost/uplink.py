"""Letting external networks out through the host's uplink (``[singlehost] uplink_nat``).

The appliances' external networks end at the host (its port carries each
external subnet's gateway address), so the host is their way out. Two changes
make that work, and nothing more is changed on the host:

- IPv4 forwarding on the host's external ports and on its uplink (the device
  of its IPv4 default route) only, never the global ``ip_forward``; the
  uplink's previous setting is kept in the state dir and restored by teardown;
- one nftables table, ``ip astara_singlehost``, masquerading traffic from the
  external subnets that leaves through any other device than its own
  external port.

Without ``uplink_nat`` the external networks reach this host and nothing else.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
from collections.abc import Mapping, Sequence
from typing import Any

from pyroute2 import IPRoute

from astara.common.privileged import PrivilegedCommandError, run_privileged
from astara.singlehost.state import StateDir

LOG = logging.getLogger(__name__)

TABLE = {"family": "ip", "name": "astara_singlehost"}
_UPLINK_FILE = "uplink.json"


def uplink_device() -> str | None:
    """The device of the host's IPv4 default route (None: no default route)."""
    with IPRoute() as ipr:
        for route in ipr.get_default_routes(family=socket.AF_INET):
            index = route.get("RTA_OIF")
            if index is not None:
                return str(ipr.get_links(index)[0].get("IFLA_IFNAME"))
    return None


def _forwarding(device: str) -> str:
    return f"net.ipv4.conf.{device}.forwarding"


def _enable_forwarding(device: str) -> None:
    run_privileged(["sysctl", "-q", "-w", f"{_forwarding(device)}=1"])


def _ruleset(external: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """The whole table, replaced in one transaction (``external``: device -> IPv4 subnets)."""
    chain = {"family": "ip", "table": TABLE["name"], "name": "postrouting"}
    # nft's JSON names a rule's chain "chain", where the chain object itself has "name".
    in_chain = {"family": "ip", "table": TABLE["name"], "chain": "postrouting"}
    commands: list[dict[str, Any]] = [
        {"add": {"table": TABLE}},
        {"delete": {"table": TABLE}},
        {"add": {"table": TABLE}},
        {"add": {"chain": {**chain, "type": "nat", "hook": "postrouting", "prio": 100,
                           "policy": "accept"}}},
    ]  # fmt: skip
    for device, subnets in sorted(external.items()):
        for subnet in subnets:
            network = ipaddress.ip_network(subnet)
            match_source = {
                "op": "==",
                "left": {"payload": {"protocol": "ip", "field": "saddr"}},
                "right": {"prefix": {"addr": str(network.network_address),
                                     "len": network.prefixlen}},
            }  # fmt: skip
            leaves_elsewhere = {"op": "!=", "left": {"meta": {"key": "oifname"}}, "right": device}
            commands.append(
                {"add": {"rule": {**in_chain, "expr": [
                    {"match": match_source}, {"match": leaves_elsewhere}, {"masquerade": None},
                ]}}}
            )  # fmt: skip
    return {"nftables": commands}


def apply(state: StateDir, external: Mapping[str, Sequence[str]]) -> None:
    """Forward and masquerade for ``external`` (host device -> its IPv4 subnets)."""
    uplink = uplink_device()
    if uplink is None:
        LOG.warning("uplink NAT: the host has no IPv4 default route; external networks stay local")
    else:
        _remember_uplink(state, uplink)
        _enable_forwarding(uplink)
    for device in external:
        _enable_forwarding(device)
    run_privileged(["nft", "-j", "-f", "-"], input=json.dumps(_ruleset(external)).encode())
    LOG.info("uplink NAT through %s for %s", uplink, dict(external))


def remove(state: StateDir) -> None:
    """Undo :func:`apply`: drop the table, give the uplink its old forwarding setting back."""
    try:
        run_privileged(["nft", "-j", "-f", "-"], input=json.dumps(
            {"nftables": [{"add": {"table": TABLE}}, {"delete": {"table": TABLE}}]}
        ).encode())  # fmt: skip
    except PrivilegedCommandError as exc:
        LOG.warning("uplink NAT: %s", exc)
    path = state.root / _UPLINK_FILE
    try:
        saved = json.loads(path.read_text())
    except FileNotFoundError:
        return
    run_privileged(
        ["sysctl", "-q", "-w", f"{_forwarding(saved['device'])}={saved['forwarding']}"],
        check=False,
    )
    path.unlink()


def _remember_uplink(state: StateDir, device: str) -> None:
    """Keep the uplink's forwarding setting from before the first change (only then)."""
    path = state.root / _UPLINK_FILE
    if path.exists():
        return
    previous = run_privileged(["sysctl", "-n", _forwarding(device)]).stdout.decode().strip()
    path.write_text(json.dumps({"device": device, "forwarding": previous}) + "\n")
