"""Rows as the Neutron v2.0 API shows them.

The same dictionaries are the API's responses and the notifications' payloads,
so a listener sees exactly what a client would read. ``tenant_id`` and
``project_id`` are both present because older consumers (the original Astara
among them) still read ``tenant_id``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from astara.localapi import lookups, models


def _timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _standard(row: models.StandardAttributes) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "tenant_id": row.project_id,
        "project_id": row.project_id,
        "created_at": _timestamp(row.created_at),
        "updated_at": _timestamp(row.updated_at),
        "revision_number": row.revision_number,
    }


def network(row: models.Network) -> dict[str, Any]:
    return {
        **_standard(row),
        "admin_state_up": row.admin_state_up,
        "status": row.status,
        "shared": row.shared,
        "router:external": row.external,
        "mtu": row.mtu,
        "port_security_enabled": row.port_security_enabled,
        "subnets": [subnet.id for subnet in row.subnets],
    }


def subnet(row: models.Subnet) -> dict[str, Any]:
    return {
        **_standard(row),
        "network_id": row.network_id,
        "ip_version": row.ip_version,
        "cidr": row.cidr,
        "gateway_ip": row.gateway_ip,
        "allocation_pools": [dict(pool) for pool in row.allocation_pools],
        "dns_nameservers": list(row.dns_nameservers),
        "host_routes": [dict(route) for route in row.host_routes],
        "enable_dhcp": row.enable_dhcp,
        "ipv6_ra_mode": row.ipv6_ra_mode,
        "ipv6_address_mode": row.ipv6_address_mode,
    }


def port(row: models.Port) -> dict[str, Any]:
    return {
        **_standard(row),
        "network_id": row.network_id,
        "mac_address": row.mac_address,
        "admin_state_up": row.admin_state_up,
        "status": row.status,
        "device_id": row.device_id,
        "device_owner": row.device_owner,
        "fixed_ips": [
            {"subnet_id": allocation.subnet_id, "ip_address": allocation.ip_address}
            for allocation in row.fixed_ips
        ],
        "security_groups": list(row.security_groups),
        "port_security_enabled": row.port_security_enabled,
        "binding:host_id": row.host_id,
    }


def router(session: Session, row: models.Router) -> dict[str, Any]:
    return {
        **_standard(row),
        "admin_state_up": row.admin_state_up,
        "status": row.status,
        "external_gateway_info": external_gateway_info(session, row),
        "routes": [dict(route) for route in row.routes],
        "ha": row.ha,
    }


def external_gateway_info(session: Session, row: models.Router) -> dict[str, Any] | None:
    gateway = lookups.gateway_port(session, row.id)
    if gateway is None:
        return None
    return {
        "network_id": gateway.network_id,
        "enable_snat": row.enable_snat,
        "external_fixed_ips": port(gateway)["fixed_ips"],
    }


def floating_ip(row: models.FloatingIP) -> dict[str, Any]:
    view = _standard(row)
    del view["name"]  # floating IPs have no name in Neutron
    return {
        **view,
        "floating_network_id": row.floating_network_id,
        "floating_ip_address": row.floating_ip_address,
        "port_id": row.fixed_port_id,
        "fixed_ip_address": row.fixed_ip_address,
        "router_id": row.router_id,
        "status": row.status,
    }


_STANDARD = frozenset(
    {
        "id",
        "name",
        "description",
        "tenant_id",
        "project_id",
        "created_at",
        "updated_at",
        "revision_number",
    }
)
#: What each resource shows, which is also what a list may filter and sort on.
ATTRIBUTES: dict[str, frozenset[str]] = {
    "network": _STANDARD
    | {
        "admin_state_up",
        "status",
        "shared",
        "router:external",
        "mtu",
        "port_security_enabled",
        "subnets",
    },
    "subnet": _STANDARD
    | {
        "network_id",
        "ip_version",
        "cidr",
        "gateway_ip",
        "allocation_pools",
        "dns_nameservers",
        "host_routes",
        "enable_dhcp",
        "ipv6_ra_mode",
        "ipv6_address_mode",
    },
    "port": _STANDARD
    | {
        "network_id",
        "mac_address",
        "admin_state_up",
        "status",
        "device_id",
        "device_owner",
        "fixed_ips",
        "security_groups",
        "port_security_enabled",
        "binding:host_id",
    },
    "router": _STANDARD | {"admin_state_up", "status", "external_gateway_info", "routes", "ha"},
    "floatingip": (_STANDARD - {"name"})
    | {
        "floating_network_id",
        "floating_ip_address",
        "port_id",
        "fixed_ip_address",
        "router_id",
        "status",
    },
}
