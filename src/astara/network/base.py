"""The network model as the orchestrator sees it: typed resources and one interface.

Routers, networks, subnets, ports and floating IPs are frozen dataclasses
built from Neutron's JSON (``from_neutron``), so the router driver and the
config builder work on addresses and networks, never on dictionaries whose
keys may be missing. A malformed document raises
:class:`~astara.network.errors.MalformedResource` naming the resource and
the field.

:class:`NetworkModel` is what the drivers, populate, the metadata proxy and
astara-ctl need from Neutron. Both modes (the local API and a real Neutron)
speak the same Neutron v2 REST API, so one implementation serves both
(:mod:`astara.network.neutron_api`); the interface exists so a caller's
dependency is on these operations, not on HTTP.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from astara.network.errors import ResourceGone
from astara.network.fields import Fields, IPAddress, IPNetwork

#: ``device_owner`` of a router's port on its external network.
GATEWAY_OWNER = "network:router_gateway"
#: ``device_owner`` of a router's ports on its internal networks (legacy, DVR, HA).
INTERFACE_OWNERS = frozenset(
    {
        "network:router_interface",
        "network:router_interface_distributed",
        "network:ha_router_replicated_interface",
    }
)
#: Every port Neutron makes for a router; their ``device_id`` is the router's id.
ROUTER_PORT_OWNERS = INTERFACE_OWNERS | {GATEWAY_OWNER}

#: Filter values for :meth:`NetworkModel.list_ports`: a list means "any of these".
FilterValue = str | Sequence[str]


class RouterStatus(StrEnum):
    """The router ``status`` values Neutron knows; Astara sets them from its appliance."""

    ACTIVE = "ACTIVE"
    BUILD = "BUILD"
    DOWN = "DOWN"
    ERROR = "ERROR"


@dataclass(frozen=True, slots=True)
class FixedIp:
    subnet_id: str
    ip_address: IPAddress

    @classmethod
    def from_neutron(cls, fields: Fields) -> FixedIp:
        return cls(subnet_id=fields.text("subnet_id"), ip_address=fields.address("ip_address"))


@dataclass(frozen=True, slots=True)
class Route:
    """A static route: a subnet's host route or a router's extra route."""

    destination: IPNetwork
    nexthop: IPAddress

    @classmethod
    def from_neutron(cls, fields: Fields) -> Route:
        route = cls(destination=fields.network("destination"), nexthop=fields.address("nexthop"))
        if route.destination.version != route.nexthop.version:
            raise fields.fail("nexthop", "not of the destination's IP version")
        return route


def _routes(fields: Fields, key: str) -> tuple[Route, ...]:
    return tuple(
        Route.from_neutron(fields.nested(key, i, item)) for i, item in enumerate(fields.items(key))
    )


@dataclass(frozen=True, slots=True)
class Subnet:
    id: str
    network_id: str
    name: str
    tenant_id: str
    cidr: IPNetwork
    gateway_ip: IPAddress | None
    enable_dhcp: bool
    dns_nameservers: tuple[IPAddress, ...]
    host_routes: tuple[Route, ...]
    ipv6_ra_mode: str | None
    ipv6_address_mode: str | None

    @property
    def ip_version(self) -> int:
        return self.cidr.version

    @classmethod
    def from_neutron(cls, data: object) -> Subnet:
        fields = Fields("subnet", data)
        cidr = fields.network("cidr")
        gateway_ip = fields.optional_address("gateway_ip")
        if gateway_ip is not None and gateway_ip not in cidr:
            raise fields.fail("gateway_ip", f"{gateway_ip} is not in {cidr}")
        return cls(
            id=fields.text("id"),
            network_id=fields.text("network_id"),
            name=fields.text("name", ""),
            tenant_id=fields.tenant_id(),
            cidr=cidr,
            gateway_ip=gateway_ip,
            enable_dhcp=fields.flag("enable_dhcp", True),
            dns_nameservers=fields.addresses("dns_nameservers"),
            host_routes=_routes(fields, "host_routes"),
            ipv6_ra_mode=fields.optional_text("ipv6_ra_mode"),
            ipv6_address_mode=fields.optional_text("ipv6_address_mode"),
        )


@dataclass(frozen=True, slots=True)
class Network:
    id: str
    name: str
    tenant_id: str
    mtu: int | None
    external: bool
    admin_state_up: bool
    port_security_enabled: bool
    subnets: tuple[Subnet, ...]

    def subnet(self, subnet_id: str) -> Subnet | None:
        return next((s for s in self.subnets if s.id == subnet_id), None)

    @classmethod
    def from_neutron(cls, data: object, subnets: Iterable[Subnet]) -> Network:
        """The network in ``data`` with those of ``subnets`` that belong to it."""
        fields = Fields("network", data)
        network_id = fields.text("id")
        return cls(
            id=network_id,
            name=fields.text("name", ""),
            tenant_id=fields.tenant_id(),
            mtu=fields.optional_integer("mtu"),
            external=fields.flag("router:external", False),
            admin_state_up=fields.flag("admin_state_up", True),
            port_security_enabled=fields.flag("port_security_enabled", True),
            subnets=tuple(s for s in subnets if s.network_id == network_id),
        )


@dataclass(frozen=True, slots=True)
class Port:
    id: str
    name: str
    network_id: str
    mac_address: str
    device_id: str
    device_owner: str
    tenant_id: str
    fixed_ips: tuple[FixedIp, ...]

    @property
    def addresses(self) -> tuple[IPAddress, ...]:
        return tuple(fixed_ip.ip_address for fixed_ip in self.fixed_ips)

    @classmethod
    def from_neutron(cls, data: object) -> Port:
        fields = Fields("port", data)
        return cls(
            id=fields.text("id"),
            name=fields.text("name", ""),
            network_id=fields.text("network_id"),
            mac_address=fields.text("mac_address").lower(),
            device_id=fields.text("device_id", ""),
            device_owner=fields.text("device_owner", ""),
            tenant_id=fields.tenant_id(),
            fixed_ips=tuple(
                FixedIp.from_neutron(fields.nested("fixed_ips", i, item))
                for i, item in enumerate(fields.items("fixed_ips"))
            ),
        )


@dataclass(frozen=True, slots=True)
class FloatingIp:
    id: str
    tenant_id: str
    floating_network_id: str
    floating_ip_address: IPAddress
    fixed_ip_address: IPAddress | None
    port_id: str | None
    router_id: str | None

    @classmethod
    def from_neutron(cls, data: object) -> FloatingIp:
        fields = Fields("floatingip", data)
        return cls(
            id=fields.text("id"),
            tenant_id=fields.tenant_id(),
            floating_network_id=fields.text("floating_network_id"),
            floating_ip_address=fields.address("floating_ip_address"),
            fixed_ip_address=fields.optional_address("fixed_ip_address"),
            port_id=fields.optional_text("port_id"),
            router_id=fields.optional_text("router_id"),
        )


@dataclass(frozen=True, slots=True)
class Router:
    """A router with what its appliance serves: its ports, routes and floating IPs.

    ``interface_ports`` may hold several ports on one network (one per
    subnet); :attr:`internal_network_ids` lists each network once, which is
    what the appliance is plugged into.
    """

    id: str
    name: str
    tenant_id: str
    status: str
    admin_state_up: bool
    ha: bool
    routes: tuple[Route, ...]
    gateway_port: Port | None
    interface_ports: tuple[Port, ...]
    floating_ips: tuple[FloatingIp, ...]

    @property
    def internal_network_ids(self) -> tuple[str, ...]:
        """The networks of the router's interfaces, each once, sorted (a stable order)."""
        return tuple(sorted({port.network_id for port in self.interface_ports}))

    def interfaces_on(self, network_id: str) -> tuple[Port, ...]:
        return tuple(p for p in self.interface_ports if p.network_id == network_id)

    @classmethod
    def from_neutron(
        cls, data: object, ports: Iterable[Port], floating_ips: Iterable[FloatingIp]
    ) -> Router:
        """The router in ``data``, with those ``ports`` and ``floating_ips`` that are its own.

        Only associated floating IPs count: one without a fixed address has
        nothing to translate to.
        """
        fields = Fields("router", data)
        router_id = fields.text("id")
        own_ports = [p for p in ports if p.device_id == router_id]
        return cls(
            id=router_id,
            name=fields.text("name", ""),
            tenant_id=fields.tenant_id(),
            status=fields.text("status", ""),
            admin_state_up=fields.flag("admin_state_up", True),
            ha=fields.flag("ha", False),
            routes=_routes(fields, "routes"),
            gateway_port=next((p for p in own_ports if p.device_owner == GATEWAY_OWNER), None),
            interface_ports=tuple(p for p in own_ports if p.device_owner in INTERFACE_OWNERS),
            floating_ips=tuple(
                fip
                for fip in floating_ips
                if fip.router_id == router_id and fip.fixed_ip_address is not None
            ),
        )


@dataclass(frozen=True, slots=True)
class AddressRequest:
    """One entry of a new port's ``fixed_ips``: a subnet to take an address from, or an address."""

    subnet_id: str | None = None
    ip_address: str | None = None

    def to_neutron(self) -> dict[str, Any]:
        return {
            key: value
            for key, value in (("subnet_id", self.subnet_id), ("ip_address", self.ip_address))
            if value is not None
        }


class NetworkModel(ABC):
    """The network-model operations Astara needs, whichever API serves them.

    Methods raise :class:`~astara.network.errors.NetworkModelError`
    subclasses: ``NetworkModelUnavailable`` once retries are exhausted,
    ``RequestRefused`` for a request the API rejects, ``MalformedResource``
    for an answer that does not parse.
    """

    @abstractmethod
    def get_router(self, router_id: str) -> Router | None:
        """The router with its ports and floating IPs; None when it no longer exists."""

    @abstractmethod
    def list_routers(self) -> list[Router]:
        """Every router the credentials can see."""

    @abstractmethod
    def get_networks(self, network_ids: Iterable[str]) -> dict[str, Network]:
        """The networks among ``network_ids`` that exist, by id, each with its subnets."""

    @abstractmethod
    def list_ports(self, **filters: FilterValue) -> list[Port]:
        """The ports matching every filter (Neutron's query attributes)."""

    @abstractmethod
    def create_port(
        self,
        network_id: str,
        name: str,
        *,
        device_owner: str = "",
        device_id: str = "",
        fixed_ips: Sequence[AddressRequest] | None = None,
        disable_port_security: bool = False,
    ) -> Port:
        """Create a port. ``fixed_ips=None`` lets the API choose; ``[]`` asks for no address.

        ``disable_port_security`` is honoured where the API supports port
        security at all (it is ignored otherwise).
        """

    @abstractmethod
    def delete_port(self, port_id: str) -> None:
        """Delete a port; one that is already gone is not an error."""

    @abstractmethod
    def update_router_status(self, router_id: str, status: RouterStatus) -> bool:
        """Record the router's status; False (and a log line) when it could not.

        Never raises: a status report is informational and must not make the
        state machine fail an otherwise good step.
        """

    def get_network(self, network_id: str) -> Network:
        """One network with its subnets; ResourceGone when it does not exist."""
        network = self.get_networks([network_id]).get(network_id)
        if network is None:
            raise ResourceGone("network", network_id)
        return network

    def find_instance_port(self, network_id: str, fixed_ip: str) -> Port | None:
        """The port holding ``fixed_ip`` on ``network_id`` (whose instance asks for metadata)."""
        ports = self.list_ports(network_id=network_id, fixed_ips=f"ip_address={fixed_ip}")
        return ports[0] if ports else None
