"""The router configuration the orchestrator PUTs to the appliance.

Every field is parsed into a typed, immutable value here, so the services never
see a string where they need an address and never crash half way through an
apply on input that could have been refused up front.  Rules that involve
several fields (a floating IP must lie in an external subnet, a static route's
next hop on a connected subnet...) are checked after parsing and reported
against the exact field, so a 422 tells the orchestrator what to fix.

Keys this agent does not know are ignored: an orchestrator upgraded before the
appliance images (a rolling upgrade) may send more than this agent understands.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    IPvAnyAddress,
    IPvAnyInterface,
    IPvAnyNetwork,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface

DEFAULT_ASN = 64512
ORCHESTRATOR_METADATA_PORT = 9697

METADATA_ADDRESS = ipaddress.IPv4Address("169.254.169.254")
METADATA_BASE_PORT = 9600
"""Port scheme of the per-network metadata proxies.

The tenant networks (internal and isolated) are sorted by network_id; the
n-th one (counting from 1) gets port 9600 + n on the appliance.  Traffic to
169.254.169.254:80 arriving on that network's interface is redirected to the
address it arrived on at that port, where the metadata proxy for that network
listens.  The port depends only on the configuration, so the firewall and the
proxy compute the same value without sharing state, and reordering the
networks in a PUT does not move any port.
"""
MAX_TENANT_NETWORKS = 99

_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_HOSTNAME = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(\.(?!-)[A-Za-z0-9-]{1,63})*\.?$")
_LABEL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")


def _normalise_mac(value: str) -> str:
    mac = value.strip().lower().replace("-", ":")
    if not _MAC.match(mac):
        raise PydanticCustomError("mac_address", "not a MAC address: {value}", {"value": value})
    return mac


def _check_hostname(value: str) -> str:
    if len(value) > 253 or not _HOSTNAME.match(value):
        raise PydanticCustomError(
            "hostname", "not a valid host name (letters, digits, '-' and '.')"
        )
    return value


def _empty_is_none(value: Any) -> Any:
    return None if value == "" else value


MacAddress = Annotated[str, AfterValidator(_normalise_mac)]
HostName = Annotated[str, AfterValidator(_check_hostname)]
OptionalAddress = Annotated[IPvAnyAddress | None, BeforeValidator(_empty_is_none)]
Mtu = Annotated[int, Field(ge=68, le=65535)]
Port = Annotated[int, Field(ge=1, le=65535)]
NetworkType = Literal["management", "external", "internal", "isolated", "loadbalancer"]
Ipv6Mode = Literal["slaac", "dhcpv6-stateful", "dhcpv6-stateless"]


class _Model(BaseModel):
    """Immutable, so a config held by the manager can never change under it."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class HostRoute(_Model):
    destination: IPvAnyNetwork
    nexthop: IPvAnyAddress

    @model_validator(mode="after")
    def _same_family(self) -> HostRoute:
        if self.destination.version != self.nexthop.version:
            raise ValueError("destination and nexthop must be of the same IP version")
        return self


class Subnet(_Model):
    id: str = Field(min_length=1)
    cidr: IPvAnyNetwork
    gateway_ip: OptionalAddress = None
    dhcp_enabled: bool = False
    dns_nameservers: tuple[IPvAnyAddress, ...] = ()
    host_routes: tuple[HostRoute, ...] = ()
    ipv6_ra_mode: Ipv6Mode | None = None
    ipv6_address_mode: Ipv6Mode | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Subnet:
        if self.gateway_ip is not None and self.gateway_ip.version != self.cidr.version:
            raise ValueError("gateway_ip is not of the subnet's IP version")
        if any(r.destination.version != self.cidr.version for r in self.host_routes):
            raise ValueError("host_routes must be of the subnet's IP version")
        if self.cidr.version == 4 and (self.ipv6_ra_mode or self.ipv6_address_mode):
            raise ValueError("ipv6_ra_mode/ipv6_address_mode are only valid on IPv6 subnets")
        if (
            self.ipv6_ra_mode
            and self.ipv6_address_mode
            and self.ipv6_ra_mode != self.ipv6_address_mode
        ):
            raise ValueError("ipv6_ra_mode and ipv6_address_mode differ")
        return self

    @property
    def ipv6_mode(self) -> Ipv6Mode | None:
        """How hosts on this IPv6 subnet get their addresses, whoever advertises it."""
        return self.ipv6_address_mode or self.ipv6_ra_mode


class Allocation(_Model):
    """A port on a tenant network: what DHCP hands out to it."""

    mac_address: MacAddress
    ip_addresses: dict[IPvAnyAddress, bool] = Field(default_factory=dict)
    hostname: HostName | None = None
    device_id: str = ""

    @property
    def dhcp_addresses(self) -> list[IPAddress]:
        return sorted((ip for ip, dhcp in self.ip_addresses.items() if dhcp), key=_ip_sort_key)


class Interface(_Model):
    """The appliance's NIC on a network.

    It is found by ``lladdr``; ``ifname`` is what the orchestrator believes the
    name is and is only informational (kernel names depend on plug order).
    """

    ifname: str | None = None
    lladdr: MacAddress
    addresses: tuple[IPvAnyInterface, ...] = ()
    mtu: Mtu | None = None


class Network(_Model):
    network_id: str = Field(min_length=1)
    network_type: NetworkType = "isolated"
    mtu: Mtu | None = None
    interface: Interface
    subnets: tuple[Subnet, ...] = ()
    allocations: tuple[Allocation, ...] = ()

    @property
    def is_tenant(self) -> bool:
        return self.network_type in ("internal", "isolated")

    @property
    def effective_mtu(self) -> int | None:
        return self.interface.mtu or self.mtu

    def first_address(self, version: int) -> IPInterface | None:
        candidates = [a for a in self.interface.addresses if a.version == version]
        return min(candidates, key=lambda a: _ip_sort_key(a.ip), default=None)

    def subnet_containing(self, address: IPAddress) -> Subnet | None:
        return next((s for s in self.subnets if address in s.cidr), None)


class StaticRoute(_Model):
    destination: IPvAnyNetwork
    next_hop: IPvAnyAddress

    @model_validator(mode="after")
    def _same_family(self) -> StaticRoute:
        if self.destination.version != self.next_hop.version:
            raise ValueError("destination and next_hop must be of the same IP version")
        return self


class FloatingIP(_Model):
    """A 1:1 NAT between a public address and a tenant port (IPv4 only: IPv6 is routed)."""

    floating_ip: ipaddress.IPv4Address
    fixed_ip: ipaddress.IPv4Address


class Orchestrator(_Model):
    address: IPvAnyAddress
    metadata_port: Port = ORCHESTRATOR_METADATA_PORT
    host: str | None = None


class HaConfig(_Model):
    peers: tuple[IPvAnyAddress, ...] = ()
    priority: int = Field(default=50, ge=1, le=254)


class ProviderRule(_Model):
    """One operator rule from provider_rules.json ``prerules``/``postrules``.

    ``source``/``destination`` are a CIDR or the name of a label; ``network_type``
    selects the interfaces the packet arrives on by the role of their network,
    because the operator cannot know an appliance's interface names.
    """

    chain: Literal["input", "forward"]
    action: Literal["accept", "drop", "reject"]
    network_type: NetworkType | None = None
    protocol: Literal["tcp", "udp", "icmp", "icmpv6"] | None = None
    source: str | None = None
    destination: str | None = None
    destination_port: Port | None = None
    comment: str = Field(default="", max_length=128, pattern=r"^[A-Za-z0-9 _.,:/()-]*$")

    @model_validator(mode="after")
    def _port_needs_transport(self) -> ProviderRule:
        if self.destination_port is not None and self.protocol not in ("tcp", "udp"):
            raise ValueError("destination_port needs protocol tcp or udp")
        return self


Labels = dict[str, tuple[IPvAnyNetwork, ...]]


class ProviderRules(_Model):
    """The operator's provider_rules.json, as the orchestrator reads it."""

    labels: Labels = Field(default_factory=dict)
    prerules: tuple[ProviderRule, ...] = ()
    postrules: tuple[ProviderRule, ...] = ()

    @field_validator("labels")
    @classmethod
    def _label_names(cls, labels: Labels) -> Labels:
        for name in labels:
            if not _LABEL_NAME.match(name):
                raise ValueError(f"label name {name!r} must match {_LABEL_NAME.pattern}")
        return labels


class RouterConfig(ProviderRules):
    """The whole configuration of one router appliance."""

    asn: int = Field(default=DEFAULT_ASN, ge=1, le=4294967295)
    neighbor_asn: int | None = Field(default=None, ge=1, le=4294967295)
    default_v4_gateway: Annotated[ipaddress.IPv4Address | None, BeforeValidator(_empty_is_none)] = (
        None
    )
    networks: tuple[Network, ...] = ()
    static_routes: tuple[StaticRoute, ...] = ()
    floating_ips: tuple[FloatingIP, ...] = ()
    tenant_id: str | None = None
    hostname: HostName | None = None
    orchestrator: Orchestrator | None = None
    ha_resource: bool = False
    ha_config: HaConfig | None = None
    services: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Configs of advanced services keyed by service name; a service this "
        "appliance does not run is refused with 400.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> RouterConfig:
        errors = list(_consistency_errors(self))
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self

    @property
    def effective_neighbor_asn(self) -> int:
        return self.neighbor_asn or self.asn

    def networks_of_type(self, network_type: NetworkType) -> list[Network]:
        return [n for n in self.networks if n.network_type == network_type]

    @property
    def external_network(self) -> Network | None:
        return next(iter(self.networks_of_type("external")), None)

    @property
    def management_network(self) -> Network | None:
        return next(iter(self.networks_of_type("management")), None)

    @property
    def tenant_networks(self) -> list[Network]:
        return [n for n in self.networks if n.is_tenant]

    @property
    def external_v4_address(self) -> ipaddress.IPv4Address | None:
        """The router's own public v4 address: the source of SNATed tenant traffic."""
        ext = self.external_network
        first = ext.first_address(4) if ext else None
        return first.ip if isinstance(first, ipaddress.IPv4Interface) else None

    def bgp_peers(self) -> list[IPAddress]:
        """The upstream routers the appliance peers with: its external IPv6 gateways.

        Tenant IPv6 prefixes are routed, not NATed, so they are announced to
        the gateway of each external IPv6 subnet.
        """
        ext = self.external_network
        subnets = ext.subnets if ext else ()
        return [s.gateway_ip for s in subnets if s.cidr.version == 6 and s.gateway_ip]

    def metadata_ports(self) -> dict[str, int]:
        """network_id -> local metadata proxy port (see METADATA_BASE_PORT)."""
        ids = sorted(n.network_id for n in self.tenant_networks)
        return {net_id: METADATA_BASE_PORT + i for i, net_id in enumerate(ids, start=1)}

    def floating_ip_interfaces(self) -> list[ipaddress.IPv4Interface]:
        """Each floating IP with the prefix of the external subnet it belongs to."""
        ext = self.external_network
        result = []
        for fip in self.floating_ips:
            subnet = ext.subnet_containing(fip.floating_ip) if ext else None
            if subnet is not None:
                result.append(ipaddress.IPv4Interface(f"{fip.floating_ip}/{subnet.cidr.prefixlen}"))
        return result


def _ip_sort_key(address: IPAddress) -> tuple[int, int]:
    return (address.version, int(address))


def _error(loc: tuple[str | int, ...], value: Any, message: str) -> InitErrorDetails:
    return InitErrorDetails(
        type=PydanticCustomError("config_consistency", message), loc=loc, input=value
    )


def _consistency_errors(cfg: RouterConfig) -> Iterator[InitErrorDetails]:
    """Rules across fields; each error is located at the field to fix."""
    yield from _network_errors(cfg)
    yield from _floating_ip_errors(cfg)
    yield from _route_errors(cfg)
    yield from _provider_rule_errors(cfg)


def _network_errors(cfg: RouterConfig) -> Iterator[InitErrorDetails]:
    seen_ids: set[str] = set()
    seen_macs: set[str] = set()
    for i, net in enumerate(cfg.networks):
        if net.network_id in seen_ids:
            yield _error(("networks", i, "network_id"), net.network_id, "duplicate network_id")
        if net.interface.lladdr in seen_macs:
            yield _error(
                ("networks", i, "interface", "lladdr"),
                net.interface.lladdr,
                "two networks on the same interface",
            )
        seen_ids.add(net.network_id)
        seen_macs.add(net.interface.lladdr)
    for network_type in ("external", "management"):
        extra = [i for i, n in enumerate(cfg.networks) if n.network_type == network_type][1:]
        for i in extra:
            yield _error(
                ("networks", i, "network_type"),
                network_type,
                f"only one {network_type} network is supported",
            )
    if len(cfg.tenant_networks) > MAX_TENANT_NETWORKS:
        yield _error(("networks",), len(cfg.networks), "too many tenant networks")


def _floating_ip_errors(cfg: RouterConfig) -> Iterator[InitErrorDetails]:
    ext = cfg.external_network
    own = {a.ip for n in cfg.networks for a in n.interface.addresses}
    internal = cfg.networks_of_type("internal")
    seen_floating: set[ipaddress.IPv4Address] = set()
    seen_fixed: set[ipaddress.IPv4Address] = set()
    for i, fip in enumerate(cfg.floating_ips):
        loc = ("floating_ips", i)
        if ext is None or ext.subnet_containing(fip.floating_ip) is None:
            yield _error((*loc, "floating_ip"), str(fip.floating_ip), "not in any external subnet")
        elif fip.floating_ip in own:
            yield _error(
                (*loc, "floating_ip"), str(fip.floating_ip), "is an address of the router itself"
            )
        if not any(n.subnet_containing(fip.fixed_ip) for n in internal):
            yield _error((*loc, "fixed_ip"), str(fip.fixed_ip), "not in any internal subnet")
        if fip.floating_ip in seen_floating:
            yield _error((*loc, "floating_ip"), str(fip.floating_ip), "duplicate floating IP")
        if fip.fixed_ip in seen_fixed:
            yield _error((*loc, "fixed_ip"), str(fip.fixed_ip), "fixed IP has two floating IPs")
        seen_floating.add(fip.floating_ip)
        seen_fixed.add(fip.fixed_ip)


def _route_errors(cfg: RouterConfig) -> Iterator[InitErrorDetails]:
    ext = cfg.external_network
    gateway = cfg.default_v4_gateway
    if gateway is not None and (ext is None or ext.subnet_containing(gateway) is None):
        yield _error(("default_v4_gateway",), str(gateway), "not in any external subnet")
    for i, route in enumerate(cfg.static_routes):
        if not any(n.subnet_containing(route.next_hop) for n in cfg.networks):
            yield _error(
                ("static_routes", i, "next_hop"),
                str(route.next_hop),
                "not on any subnet of the router's networks",
            )


def _provider_rule_errors(cfg: RouterConfig) -> Iterator[InitErrorDetails]:
    for field in ("prerules", "postrules"):
        for i, rule in enumerate(getattr(cfg, field)):
            for end in ("source", "destination"):
                value = getattr(rule, end)
                if value is not None and value not in cfg.labels and not _is_network(value):
                    yield _error((field, i, end), value, "neither a CIDR nor a known label")


def _is_network(value: str) -> bool:
    try:
        ipaddress.ip_network(value)
    except ValueError:
        return False
    return True


EMPTY_CONFIG = RouterConfig()
"""What an appliance runs before its first configuration: no networks."""
