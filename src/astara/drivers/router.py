"""The router driver: a Neutron router, served by a router appliance.

Ports. An appliance cannot be plugged into the router's own ports (the gateway
and interface ports belong to the router, and Nova attaches a port to one
device only), so the driver creates ports of its own and the appliance
answers on them with the router's addresses:

- ``ASTARA:MGT:<router id>`` on the management network (``device_owner``
  ``network:astara``), with an address from the management subnet (on an
  IPv6 SLAAC subnet, the EUI-64 address of the port's MAC);
- ``ASTARA:VRRP:<router id>`` on each network the router is on (its gateway
  network and each internal network), without addresses and without port
  security, because the appliance carries addresses Neutron gave other ports.

One port per *network*, however many interfaces the router has there (the
original made one per interface, and its appliances then never matched their
ports). Ports that exist are reused; nothing is created twice. The second
member of an HA pair has its own ports, ``ASTARA:HA1:MGT:<id>`` and
``ASTARA:HA1:VRRP:<id>``, because a port plugs into one appliance only;
member 0 keeps the original names, so ports made before an upgrade are reused.

None of these ports gets a ``device_id``: Nova refuses to attach a port that
already names a device.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from oslo_config import cfg
from pydantic import ValidationError

from astara.appliance.model import RouterConfig
from astara.common.config_check import ConfigError, config_files
from astara.common.management_address import orchestrator_address
from astara.drivers import router_config, router_events
from astara.drivers.base import DriverFactory, PortSpec, ResourceDriver
from astara.drivers.router_config import (
    APPLIANCE_PORT_PREFIX,
    Attachment,
    BgpSettings,
    OrchestratorEndpoint,
)
from astara.network.base import AddressRequest, NetworkModel, Port, Router, RouterStatus
from astara.network.errors import ResourceGone
from astara.network.resource_lister import RouterLister
from astara.orchestrator.event import Resource
from astara.orchestrator.instance_state import InstanceState

LOG = logging.getLogger(__name__)

#: ``device_owner`` of the ports Astara creates for its appliances.
APPLIANCE_PORT_OWNER = "network:astara"
#: Members an appliance group can have: one, or an HA pair.
MAX_MEMBERS = 2
#: The fields of provider_rules.json the appliance config carries.
PROVIDER_RULE_FIELDS = ("labels", "prerules", "postrules")

#: The router status Neutron shows for each appliance state; GONE is not reported
#: (the router no longer exists to carry a status).
STATUS_OF_STATE: Mapping[InstanceState, RouterStatus | None] = {
    InstanceState.DOWN: RouterStatus.DOWN,
    InstanceState.BOOTING: RouterStatus.BUILD,
    InstanceState.UP: RouterStatus.BUILD,
    InstanceState.DEGRADED: RouterStatus.BUILD,
    InstanceState.REPLUG: RouterStatus.BUILD,
    InstanceState.RESTART: RouterStatus.BUILD,
    InstanceState.CONFIGURED: RouterStatus.ACTIVE,
    InstanceState.ERROR: RouterStatus.ERROR,
    InstanceState.GONE: None,
}


@dataclass(frozen=True, slots=True)
class RouterDriverSettings:
    """What the router driver reads from the configuration, checked once at start."""

    management_network_id: str
    management_subnet_id: str | None
    provider_rules_path: str
    bgp: BgpSettings
    orchestrator: OrchestratorEndpoint
    image_uuid: str | None = None
    flavor: str | None = None

    @classmethod
    def from_config(cls, conf: cfg.ConfigOpts) -> RouterDriverSettings:
        """The settings in ``conf``; ConfigError when the management network is not set.

        The orchestrator's address is the first of ``management_prefix``
        (:func:`~astara.common.management_address.orchestrator_address`).
        """
        if not conf.management_network_id:
            source = ", ".join(config_files(conf)) or "configuration"
            raise ConfigError(
                source, None, "management_network_id", "must be set for the router driver"
            )
        return cls(
            management_network_id=conf.management_network_id,
            management_subnet_id=conf.management_subnet_id,
            provider_rules_path=conf.provider_rules_path,
            bgp=BgpSettings(asn=conf.asn, neighbor_asn=conf.neighbor_asn),
            orchestrator=OrchestratorEndpoint(
                address=orchestrator_address(conf),
                metadata_port=conf.astara_metadata_port,
                host=conf.host,
            ),
            image_uuid=conf.router.image_uuid,
            flavor=conf.router.instance_flavor,
        )


class ManagementAddressMissing(RuntimeError):
    """The management port has no address, so the orchestrator could never reach the appliance."""


class ApplianceNotRecognised(RuntimeError):
    """The appliance reports none of the router's management ports: it is not this router's."""


def port_name(label: str, router_id: str, member: int) -> str:
    """``ASTARA:<label>:<router id>``, with ``HA<n>:`` before the label for member n > 0."""
    member_part = f"HA{member}:" if member else ""
    return f"{APPLIANCE_PORT_PREFIX}{member_part}{label}:{router_id}"


class RouterDriver(ResourceDriver):
    """One Neutron router, seen from its appliance (see the module's docstring)."""

    def __init__(
        self, resource: Resource, network: NetworkModel, settings: RouterDriverSettings
    ) -> None:
        super().__init__(resource, image_uuid=settings.image_uuid, flavor=settings.flavor)
        self._network = network
        self._settings = settings
        self._router: Router | None = None
        #: The last status Neutron accepted from this driver (several states share one).
        self._reported: RouterStatus | None = None

    # -- the router ------------------------------------------------------------------

    @property
    def is_ha(self) -> bool:
        self.refresh()
        return self._router is not None and self._router.ha

    def _read(self) -> bool:
        self._router = self._network.get_router(self.resource.id)
        return self._router is not None

    def may_concern(self, change: Mapping[str, Any]) -> bool:
        router = self._router  # as last read; not read here, on the delivering thread
        return router is None or router_events.may_touch(router, change)

    def _current(self) -> Router:
        """The router as read since the last event; ResourceGone when it is gone."""
        if not self.refresh() or self._router is None:
            raise ResourceGone("router", self.resource.id)
        return self._router

    # -- ports -----------------------------------------------------------------------

    def ensure_ports(self, member: int = 0) -> tuple[PortSpec, list[PortSpec]]:
        router = self._current()
        existing = self._appliance_ports([member])
        management = self._ensure_management_port(member, existing)
        vrrp_name = port_name("VRRP", router.id, member)
        reusable = _by_network(p for p in existing if p.name == vrrp_name)
        data_ports = []
        for network_id, role in _networks_with_roles(router):
            port = reusable.get(network_id) or self._network.create_port(
                network_id,
                vrrp_name,
                device_owner=APPLIANCE_PORT_OWNER,
                fixed_ips=[],
                disable_port_security=True,
            )
            data_ports.append(_spec(port, role))
        return management, data_ports

    def release_ports(self) -> None:
        for port in self._appliance_ports(range(MAX_MEMBERS)):
            self._network.delete_port(port.id)

    def release_port(self, port: PortSpec) -> None:
        self._network.delete_port(port.port_id)

    def _appliance_ports(self, members: Iterable[int]) -> list[Port]:
        """This router's MGT and VRRP ports of the given members."""
        names = [
            port_name(label, self.resource.id, member)
            for member in members
            for label in ("MGT", "VRRP")
        ]
        return self._network.list_ports(name=names)

    def _ensure_management_port(self, member: int, existing: list[Port]) -> PortSpec:
        name = port_name("MGT", self.resource.id, member)
        network_id = self._settings.management_network_id
        port = next(
            (p for p in existing if p.name == name and p.network_id == network_id), None
        ) or self._network.create_port(
            network_id,
            name,
            device_owner=APPLIANCE_PORT_OWNER,
            fixed_ips=self._management_address_request(),
            disable_port_security=True,
        )
        return self._management_spec(port)

    def _management_address_request(self) -> list[AddressRequest] | None:
        subnet_id = self._settings.management_subnet_id
        return [AddressRequest(subnet_id=subnet_id)] if subnet_id else None

    def _management_spec(self, port: Port) -> PortSpec:
        """The management PortSpec, the management subnet's address first (it is dialled)."""
        subnet_id = self._settings.management_subnet_id
        ordered = sorted(port.fixed_ips, key=lambda fixed_ip: fixed_ip.subnet_id != subnet_id)
        if not ordered:
            raise ManagementAddressMissing(
                f"management port {port.id} of router {self.resource.id} has no address on "
                f"network {port.network_id}; check [DEFAULT] management_subnet_id"
            )
        return PortSpec(
            port.id,
            port.network_id,
            port.mac_address,
            "management",
            tuple(str(fixed_ip.ip_address) for fixed_ip in ordered),
        )

    # -- configuration ---------------------------------------------------------------

    def build_config(
        self, management_address: str, interfaces: Mapping[str, str]
    ) -> dict[str, Any]:
        """The appliance's config; the member it is for is the one whose MACs it reports."""
        router = self._current()
        interfaces = {mac.lower(): name for mac, name in interfaces.items()}
        management_port, vrrp_ports = self._member_ports(interfaces)
        roles = _networks_with_roles(router)
        internal_ids = [network_id for network_id, role in roles if role == "internal"]
        networks = self._network.get_networks(
            [management_port.network_id, *(network_id for network_id, _ in roles)]
        )
        neighbours = _by_network_all(self._network.list_ports(network_id=internal_ids))

        def attachment(network_id: str, logical: tuple[Port, ...]) -> Attachment:
            if network_id not in networks:
                raise ResourceGone("network", network_id)
            if network_id not in vrrp_ports:
                raise ApplianceNotRecognised(
                    f"router {router.id}: no appliance port on network {network_id} yet"
                )
            return Attachment(
                networks[network_id],
                vrrp_ports[network_id],
                logical,
                tuple(neighbours.get(network_id, ())),
            )

        if management_port.network_id not in networks:
            raise ResourceGone("network", management_port.network_id)
        gateway = router.gateway_port
        return router_config.build_config(
            router,
            management=Attachment(
                networks[management_port.network_id], management_port, (management_port,)
            ),
            external=attachment(gateway.network_id, (gateway,)) if gateway else None,
            internal=[attachment(n, router.interfaces_on(n)) for n in internal_ids],
            interfaces=interfaces,
            provider_rules=load_provider_rules(self._settings.provider_rules_path),
            bgp=self._settings.bgp,
            orchestrator=self._settings.orchestrator,
        )

    def _member_ports(self, interfaces: Mapping[str, str]) -> tuple[Port, dict[str, Port]]:
        """The management port and VRRP ports (by network) of the member at hand.

        The member is the one whose management port's MAC the appliance reports.
        """
        ports = self._appliance_ports(range(MAX_MEMBERS))
        for member in range(MAX_MEMBERS):
            management_name = port_name("MGT", self.resource.id, member)
            management = next(
                (p for p in ports if p.name == management_name and p.mac_address in interfaces),
                None,
            )
            if management is not None:
                vrrp_name = port_name("VRRP", self.resource.id, member)
                return management, _by_network(p for p in ports if p.name == vrrp_name)
        raise ApplianceNotRecognised(
            f"router {self.resource.id}: the appliance reports none of the router's "
            f"management ports (it has {', '.join(sorted(interfaces)) or 'no interfaces'})"
        )

    # -- status ----------------------------------------------------------------------

    def report_status(self, state: InstanceState) -> None:
        """Set the router's Neutron status, only when it changes (BOOTING then UP is one BUILD)."""
        status = STATUS_OF_STATE[state]
        if status is None or status == self._reported:
            return
        if self._network.update_router_status(self.resource.id, status):
            self._reported = status


def _networks_with_roles(router: Router) -> list[tuple[str, str]]:
    """Each network the appliance must be on, once, with its port role (gateway first)."""
    wanted = [(router.gateway_port.network_id, "external")] if router.gateway_port else []
    return wanted + [
        (network_id, "internal")
        for network_id in router.internal_network_ids
        if network_id not in {network for network, _ in wanted}
    ]


def _by_network(ports: Iterable[Port]) -> dict[str, Port]:
    """The first port listed on each network (a duplicate left by the original is ignored)."""
    chosen: dict[str, Port] = {}
    for port in ports:
        chosen.setdefault(port.network_id, port)
    return chosen


def _by_network_all(ports: list[Port]) -> dict[str, list[Port]]:
    grouped: dict[str, list[Port]] = {}
    for port in ports:
        grouped.setdefault(port.network_id, []).append(port)
    return grouped


def _spec(port: Port, role: str) -> PortSpec:
    return PortSpec(
        port.id,
        port.network_id,
        port.mac_address,
        role,
        tuple(str(fixed_ip.ip_address) for fixed_ip in port.fixed_ips),
    )


def load_provider_rules(path: str) -> dict[str, Any]:
    """The operator's labels and rules from ``provider_rules.json``; {} when unusable.

    Read on every config build so an edit reaches the routers without a
    restart. A missing or invalid file is a warning, not a failure: routers
    keep working, without the operator's extra rules. The rules are validated
    the way the appliance validates them (a rule naming an unknown label is
    invalid), because one bad rule would otherwise make every appliance refuse
    its configuration.
    """
    try:
        with open(path, encoding="utf-8") as rules_file:
            document = json.load(rules_file)
        if not isinstance(document, dict):
            raise ValueError("not a JSON object")
        rules = RouterConfig.model_validate(
            {key: document[key] for key in PROVIDER_RULE_FIELDS if key in document}
        )
    except FileNotFoundError:
        LOG.warning("provider rules: %s does not exist; no labels or rules are sent", path)
        return {}
    except (OSError, ValueError, ValidationError) as exc:
        LOG.warning("provider rules: %s is unusable (%s); no labels or rules are sent", path, exc)
        return {}
    return rules.model_dump(mode="json", include=set(PROVIDER_RULE_FIELDS), exclude_defaults=True)


def driver_factory(conf: cfg.ConfigOpts, network: NetworkModel) -> DriverFactory:
    """Builds the driver of each router a worker process manages (see the wiring)."""
    settings = RouterDriverSettings.from_config(conf)

    def build(resource: Resource) -> RouterDriver:
        return RouterDriver(resource, network, settings)

    return build


def resource_lister(conf: cfg.ConfigOpts, network: NetworkModel) -> RouterLister:
    """Lists every router for populate (see the wiring)."""
    return RouterLister(network)
