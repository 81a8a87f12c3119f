"""The single host's own ports on the netns appliances' bridges.

In single-host mode nothing but the orchestrator host can reach an appliance:
the orchestrator reaches each appliance API through one port on the
management network's bridge (that is the only place those APIs listen), and
the routers' external gateway is the host itself, through one port on the
external network's bridge with the external subnet's gateway address, so
traffic to and from floating IPs is answered by the host.

Both ports are plugged by the configured interface driver like any other
host port (a veth ``ns-…`` / ``tap…`` on the network's ``brq…`` bridge); the
bridge is made first when no appliance has made it yet.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from astara.common.linux import netlink
from astara.common.linux.interface import (
    BridgeInterfaceDriver,
    InterfaceDriverError,
    bridge_name_for_network,
)
from astara.provisioners.base import ProvisionerError
from astara.provisioners.netns_plumbing import disable_dad, ensure_bridge, stable_mac


def plug_host_management_port(
    management_network_id: str,
    cidrs: Sequence[str],
    *,
    driver: BridgeInterfaceDriver | None = None,
    port_id: str | None = None,
    mtu: int | None = None,
) -> str:
    """Put the host on the management bridge with ``cidrs``; return the device name.

    ``cidrs`` are in ``management_prefix`` (e.g. ``fdca:3ba5:a17a:acda::1/64``).
    """
    return _plug_host_port(
        management_network_id,
        cidrs,
        port_id or f"mgmt-{management_network_id}",
        driver,
        mtu,
    )


def plug_host_external_port(
    external_network_id: str,
    gateway_cidrs: Sequence[str],
    *,
    driver: BridgeInterfaceDriver | None = None,
    port_id: str | None = None,
    mtu: int | None = None,
) -> str:
    """Give the host ``gateway_cidrs`` on the external network's bridge; return the device name."""
    return _plug_host_port(
        external_network_id, gateway_cidrs, port_id or f"ext-{external_network_id}", driver, mtu
    )


def _interface_address(cidr: str) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    try:
        return ipaddress.ip_interface(cidr)
    except ValueError:
        raise InterfaceDriverError(f"{cidr!r} is not an address with a prefix length") from None


def _plug_host_port(
    network_id: str,
    cidrs: Sequence[str],
    port_id: str,
    driver: BridgeInterfaceDriver | None,
    mtu: int | None,
) -> str:
    """Plug the port and give it exactly ``cidrs``, in one address sync: setting them one
    by one would remove the others each time (init_l3 keeps only what it is given)."""
    driver = driver or BridgeInterfaceDriver()
    addresses = [_interface_address(cidr) for cidr in cidrs]
    bridge = bridge_name_for_network(network_id)
    device = driver.device_name_for_port(port_id)
    try:
        ensure_bridge(bridge, mtu)
    except netlink.LinkError as exc:
        raise InterfaceDriverError(str(exc)) from exc
    driver.plug(network_id, port_id, device, stable_mac(port_id), bridge=bridge, mtu=mtu)
    if any(address.version == 6 for address in addresses):
        try:
            disable_dad(device, None)
        except ProvisionerError as exc:
            raise InterfaceDriverError(str(exc)) from exc
    driver.init_l3(device, [str(address) for address in addresses])
    return device
