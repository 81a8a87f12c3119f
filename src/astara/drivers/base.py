"""What the orchestrator needs from a resource driver (a router, a load balancer).

A driver knows one resource in the network model: whether it still exists,
which ports its appliance must be plugged into, and what configuration the
appliance must serve. It knows nothing of how appliances are booted (that is
the provisioner's job) nor of when (that is the state machine's), so a new kind
of resource is one new driver and nothing else.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from astara.orchestrator.event import Resource
from astara.orchestrator.instance_state import InstanceState

#: What a port is for inside the appliance. The appliance agent configures a
#: port by its role, and the instance manager finds the management port by it.
PORT_ROLES = frozenset({"management", "external", "internal", "loadbalancer"})


@dataclass(frozen=True, slots=True)
class PortSpec:
    """One port of an appliance, as created in the network model.

    ``fixed_ips`` are address strings ("10.0.0.1", "fdca::5"); the management
    port's first one is the address the orchestrator reaches the appliance at.
    """

    port_id: str
    network_id: str
    mac_address: str
    role: str
    fixed_ips: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.role not in PORT_ROLES:
            known = ", ".join(sorted(PORT_ROLES))
            raise ValueError(f"port {self.port_id}: unknown role {self.role!r} (one of {known})")


class ResourceDriver(ABC):
    """One resource of the network model, seen from its appliance.

    A driver object lives as long as its resource's state machine; ``refresh``
    reads the network model so every other method works on fresh data, once
    per event (see :meth:`refresh`). Methods that talk to the network model may
    raise; the state machine logs the error and tries again on the next event.
    """

    def __init__(
        self, resource: Resource, *, image_uuid: str | None = None, flavor: str | None = None
    ) -> None:
        self.resource = resource
        #: The image appliances of this resource boot from (None: the provisioner's default).
        self.image_uuid = image_uuid
        #: The flavor (size) appliances of this resource boot with.
        self.flavor = flavor
        #: Events delivered for the resource so far, and how many had been at the last read.
        self._news = 0
        self._read_at_news: int | None = None
        self._exists = False

    @property
    def appliance_name(self) -> str:
        """The name the provisioner gives this resource's appliance (``ak-router-<id>``).

        HA members derive their names from it with
        :func:`astara.provisioners.base.member_name`.
        """
        return f"ak-{self.resource.driver}-{self.resource.id}"

    @property
    @abstractmethod
    def is_ha(self) -> bool:
        """True when the resource is served by an active/standby pair of appliances."""

    def news(self) -> None:
        """An event about the resource arrived: the next :meth:`refresh` reads it again.

        Called by the state machine as it queues the event (on the delivering thread).
        """
        self._news += 1

    def refresh(self) -> bool:
        """Whether the resource exists (False: GONE), read again only if an event came since.

        One event takes a machine through several states (ALIVE then CONFIGURE,
        or ALIVE, CREATE and CHECK_BOOT), each of which needs the resource as it
        is. Nothing but an event says it changed, so one read per event serves
        them all: a router read is three requests to Neutron, and reading it per
        state made Neutron's CPU the limit on how fast hundreds of routers
        converge. An event that arrives during a read counts for the next one,
        since the read may have been answered before its change.
        """
        news = self._news
        if self._read_at_news != news:
            self._exists = self._read()
            self._read_at_news = news
        return self._exists

    @abstractmethod
    def _read(self) -> bool:
        """Read the resource from the network model; False means it is GONE."""

    @abstractmethod
    def ensure_ports(self, member: int = 0) -> tuple[PortSpec, list[PortSpec]]:
        """Return (management port, data ports) for appliance ``member``.

        The ports are created in the network model when missing and reused
        when present: one data port per network the resource is attached to,
        never two on the same network. Each HA member (0 or 1) gets its own
        ports, because one port can be plugged into one appliance only.
        """

    @abstractmethod
    def release_ports(self) -> None:
        """Delete every port ``ensure_ports`` created, for every member."""

    @abstractmethod
    def release_port(self, port: PortSpec) -> None:
        """Delete one port ``ensure_ports`` created that the resource no longer needs.

        Called after the port was hot-unplugged from its appliance because the
        resource left that network; a port already gone is not an error.
        """

    @abstractmethod
    def build_config(
        self, management_address: str, interfaces: Mapping[str, str]
    ) -> dict[str, Any]:
        """Build the configuration document for the appliance at ``management_address``.

        ``interfaces`` maps each MAC address the appliance reports to its
        interface name there, so the config can name the interface that
        carries each network.
        """

    def may_concern(self, change: Mapping[str, Any]) -> bool:
        """False only when a change sent to every resource of the tenant cannot touch this one.

        ``change`` is the event's body (a notification payload). Declining
        spares the resource a refresh and a config push; a driver that
        cannot tell keeps the default and takes every such change.
        """
        return True

    @abstractmethod
    def report_status(self, state: InstanceState) -> None:
        """Publish the appliance's state to the network model (e.g. the router's status)."""


#: Builds the driver of a resource; the worker holds one per enabled driver name.
DriverFactory = Callable[[Resource], ResourceDriver]
