"""Router configurations for the appliance unit tests, built as the orchestrator sends them."""

from __future__ import annotations

import copy
from typing import Any

from astara.appliance.model import RouterConfig
from astara.appliance.services.base import Target

MGT_MAC = "02:00:00:00:01:00"
EXT_MAC = "02:00:00:00:01:01"
INT_MAC = "02:00:00:00:01:02"
ISO_MAC = "02:00:00:00:01:03"
VM_MAC = "02:00:00:00:02:05"

IFNAMES = {"mgt": "eth0", "ext": "eth1", "int": "eth2", "iso": "eth3"}


def router_body() -> dict[str, Any]:
    """A router with management, external, internal and isolated networks and one FIP."""
    return {
        "asn": 64512,
        "neighbor_asn": 64512,
        "tenant_id": "tenant-1",
        "hostname": "ak-tenant-1",
        "default_v4_gateway": "172.16.0.1",
        "orchestrator": {"address": "fd00:aa::1", "metadata_port": 9697, "host": "orch"},
        "networks": [
            {
                "network_id": "mgt",
                "network_type": "management",
                "interface": {"ifname": "ge0", "lladdr": MGT_MAC, "addresses": ["fd00:aa::5/64"]},
                "subnets": [{"id": "s-mgt", "cidr": "fd00:aa::/64", "gateway_ip": ""}],
            },
            {
                "network_id": "ext",
                "network_type": "external",
                "interface": {
                    "ifname": "ge1",
                    "lladdr": EXT_MAC,
                    "addresses": ["172.16.0.2/24", "fd00:16::2/64"],
                },
                "subnets": [
                    {"id": "s-ext", "cidr": "172.16.0.0/24", "gateway_ip": "172.16.0.1"},
                    {"id": "s-ext6", "cidr": "fd00:16::/64", "gateway_ip": "fd00:16::1"},
                ],
            },
            {
                "network_id": "int",
                "network_type": "internal",
                "mtu": 1450,
                "interface": {
                    "ifname": "ge2",
                    "lladdr": INT_MAC,
                    "addresses": ["10.1.0.1/24", "fd00:1::1/64"],
                },
                "subnets": [
                    {
                        "id": "s-int",
                        "cidr": "10.1.0.0/24",
                        "gateway_ip": "10.1.0.1",
                        "dhcp_enabled": True,
                        "dns_nameservers": ["10.1.0.53"],
                        "host_routes": [{"destination": "10.9.0.0/16", "nexthop": "10.1.0.254"}],
                    },
                    {
                        "id": "s-int6",
                        "cidr": "fd00:1::/64",
                        "gateway_ip": "fd00:1::1",
                        "dhcp_enabled": True,
                        "ipv6_ra_mode": "dhcpv6-stateful",
                        "ipv6_address_mode": "dhcpv6-stateful",
                    },
                ],
                "allocations": [
                    {
                        "mac_address": VM_MAC,
                        "ip_addresses": {"10.1.0.5": True, "fd00:1::5": True},
                        "hostname": "10-1-0-5.local",
                        "device_id": "vm-5",
                    }
                ],
            },
            {
                "network_id": "iso",
                "network_type": "isolated",
                "interface": {"ifname": "ge3", "lladdr": ISO_MAC, "addresses": ["10.2.0.1/24"]},
                "subnets": [{"id": "s-iso", "cidr": "10.2.0.0/24", "dhcp_enabled": True}],
            },
        ],
        "floating_ips": [{"floating_ip": "172.16.0.10", "fixed_ip": "10.1.0.5"}],
        "static_routes": [{"destination": "10.50.0.0/16", "next_hop": "10.1.0.254"}],
        "labels": {"ext": ["192.168.57.0/24"]},
    }


def config(body: dict[str, Any] | None = None) -> RouterConfig:
    return RouterConfig.model_validate(body if body is not None else router_body())


def target(body: dict[str, Any] | None = None) -> Target:
    cfg = config(body)
    return Target(cfg, {n.network_id: IFNAMES[n.network_id] for n in cfg.networks})


def modified(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(router_body())
    body.update(changes)
    return body
