"""The nova provisioner: each appliance is a Nova server booted from the appliance image.

Every answer comes from Nova, so an orchestrator that restarts (or another
worker process) sees exactly what the last one left. The flaws of the
original it fixes:

- A server already carrying the name is reused while it boots or runs, and
  replaced when it failed (the original deleted it and returned nothing,
  which crashed the boot).
- A boot is "find by name, else create" retried as a whole, so a create whose
  answer was lost to a timeout is found on the next try instead of booting a
  second appliance.
- Nova errors and timeouts are retried with backoff, then reported as one
  :class:`ProvisionerError`; no ``assert`` guards control flow.
- Servers are listed across projects (Astara's service user is an admin) but
  only those of Astara's own project count, when the session knows it: a
  tenant can name its own server ``ak-router-<id>``, and adopting or reaping
  that server would destroy a tenant's machine.
- Servers of resources that no longer exist are found by :meth:`find_stale`
  so they can be removed; the original adopted every leftover forever.

Nova does not know what a port is for; ports are reported with role
``management`` when they are on the management network and ``internal``
otherwise, which is all the instance manager relies on.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from openstack import connection as sdk_connection
from openstack import exceptions as sdk_exceptions
from openstack.compute.v2._proxy import Proxy as ComputeProxy
from openstack.compute.v2.server import Server
from openstack.compute.v2.server_interface import ServerInterface
from oslo_config import cfg

from astara.drivers.base import PortSpec
from astara.provisioners.base import (
    InstanceInfo,
    InstanceStatus,
    Provisioner,
    ProvisionerError,
    is_member_of,
)
from astara.provisioners.nova_connection import connection_from_config
from astara.provisioners.nova_retry import RetryPolicy
from astara.provisioners.nova_servers import (
    DELETING,
    created_epoch,
    instance_status,
    name_filter,
    possible_appliance_names,
)
from astara.provisioners.nova_userdata import (
    encode_user_data,
    read_ssh_public_key,
    render_user_data,
)

LOG = logging.getLogger(__name__)

#: Every appliance name starts with this, then ``<driver>-`` (ResourceDriver.appliance_name).
APPLIANCE_NAME_PREFIX = "ak-"

#: Statuses in which a server that already carries the name is kept instead of replaced.
_REUSABLE = frozenset({InstanceStatus.BUILDING, InstanceStatus.ACTIVE})


@dataclass(frozen=True, slots=True)
class ApplianceDefaults:
    """What a driver's appliances boot from when the caller names nothing else."""

    image_uuid: str | None = None
    flavor: str | None = None


@dataclass(frozen=True, slots=True)
class ManagementNetwork:
    """How to recognise and address the management network.

    ``network_id`` identifies management ports when set; otherwise a port with
    an address in ``prefix`` is one. ``prefix`` also gives the appliance its
    management prefix length.
    """

    prefix: str
    network_id: str | None = None

    def carries(self, interface: ServerInterface) -> bool:
        if self.network_id:
            return bool(interface.net_id == self.network_id)
        network = ipaddress.ip_network(self.prefix, strict=False)
        return any(
            ipaddress.ip_address(ip["ip_address"]) in network
            for ip in interface.fixed_ips or ()
            if ip.get("ip_address")
        )


class NovaProvisioner(Provisioner):
    """Boots, lists, plugs and deletes appliance servers through Nova's compute API.

    ``defaults`` maps each driver name (``router``, ``loadbalancer``) to the
    image and flavor its appliances get when :meth:`boot` is given none; the
    driver is read from the appliance name ``ak-<driver>-<id>``. Only servers
    named after one of these drivers are ever reported by :meth:`find_stale`.
    """

    def __init__(
        self,
        connection: sdk_connection.Connection,
        management: ManagementNetwork,
        defaults: Mapping[str, ApplianceDefaults],
        *,
        ssh_public_key_path: str | None = None,
        boot_command: str = "astara-configure-management",
        retry: RetryPolicy | None = None,
    ) -> None:
        self._connection = connection
        self._management = management
        self._defaults = dict(defaults)
        self._ssh_public_key_path = ssh_public_key_path
        self._boot_command = boot_command
        self._retry = retry or RetryPolicy()
        self._project_id: str | None = None
        self._project_known = False

    # -- the Provisioner interface ---------------------------------------------------

    def list_instances(self, name_prefix: str) -> list[InstanceInfo]:
        """The members of appliance ``name_prefix`` (``<name>`` and ``<name>-ha<N>``)."""

        def listed() -> list[InstanceInfo]:
            servers = self._servers(name_prefix)
            return self._describe(s for s in servers if is_member_of(s.name, name_prefix))

        return self._retry.call(f"listing {name_prefix}", listed)

    def boot(
        self,
        name: str,
        image_uuid: str | None,
        flavor: str | None,
        management_port: PortSpec,
        ports: Sequence[PortSpec],
    ) -> InstanceInfo:
        """Boot ``name``, or return the server already booting or running under that name."""
        image_uuid, flavor = self._image_and_flavor(name, image_uuid, flavor)
        user_data = render_user_data(
            management_port,
            self._management.prefix,
            self._boot_command,
            read_ssh_public_key(self._ssh_public_key_path),
        )
        request = _BootRequest(name, image_uuid, flavor, management_port, tuple(ports), user_data)
        return self._retry.call(f"booting {name}", lambda: self._find_or_boot(request))

    def destroy(self, instance_id: str) -> None:
        """Ask Nova to delete the server; one already gone is fine."""
        self._retry.call(
            f"deleting instance {instance_id}",
            lambda: self._compute.delete_server(instance_id, ignore_missing=True),
        )

    def plug(self, instance_id: str, port: PortSpec) -> None:
        """Attach ``port`` to the server (a port already attached stays as it is)."""

        def attach() -> None:
            attached = {i.port_id for i in self._compute.server_interfaces(instance_id)}
            if port.port_id not in attached:
                self._compute.create_server_interface(instance_id, port_id=port.port_id)

        self._retry.call(f"attaching port {port.port_id} to {instance_id}", attach)

    def unplug(self, instance_id: str, port: PortSpec) -> None:
        """Detach ``port`` from the server; a port not attached is fine."""
        self._retry.call(
            f"detaching port {port.port_id} from {instance_id}",
            lambda: self._compute.delete_server_interface(
                port.port_id, server=instance_id, ignore_missing=True
            ),
        )

    # -- stale servers ---------------------------------------------------------------

    def find_stale(self, known_names: Collection[str]) -> list[InstanceInfo]:
        """Appliance servers whose resource is not among ``known_names`` (appliance names).

        Only servers named ``ak-<driver>-...`` for a driver this provisioner
        boots for are considered, so a disabled driver's appliances and
        anything else in the project are never reported.
        """
        known = set(known_names)
        owned_prefixes = tuple(f"{APPLIANCE_NAME_PREFIX}{d}-" for d in self._defaults)

        def stale() -> list[InstanceInfo]:
            return self._describe(
                server
                for server in self._servers(APPLIANCE_NAME_PREFIX)
                if server.name.startswith(owned_prefixes)
                and not known.intersection(possible_appliance_names(server.name))
            )

        return self._retry.call("looking for stale appliances", stale)

    # -- Nova ------------------------------------------------------------------------

    @property
    def _compute(self) -> ComputeProxy:
        return self._connection.compute

    def _image_and_flavor(
        self, name: str, image_uuid: str | None, flavor: str | None
    ) -> tuple[str, str]:
        """The given image and flavor, else the driver's; ProvisionerError naming what is unset."""
        driver = name.removeprefix(APPLIANCE_NAME_PREFIX).partition("-")[0]
        defaults = self._defaults.get(driver, ApplianceDefaults())
        image_uuid = image_uuid or defaults.image_uuid
        flavor = flavor or defaults.flavor
        if not image_uuid:
            raise ProvisionerError(f"cannot boot {name}: no image; set [{driver}] image_uuid")
        if not flavor:
            raise ProvisionerError(f"cannot boot {name}: no flavor; set [{driver}] instance_flavor")
        return image_uuid, flavor

    def _owner_project(self) -> str | None:
        """Astara's own project, None when the session is not project-scoped (noauth)."""
        if not self._project_known:
            self._project_id = self._connection.current_project_id
            self._project_known = True
        return self._project_id

    def _servers(self, name_prefix: str) -> list[Server]:
        """Astara's live servers whose name starts with ``name_prefix``."""
        owner = self._owner_project()
        servers: Iterable[Server] = self._compute.servers(
            details=True, all_projects=True, name=name_filter(name_prefix)
        )
        return [
            server
            for server in servers
            if server.name.startswith(name_prefix)
            and instance_status(server.status) is not None
            and (owner is None or server.project_id == owner)
        ]

    def _find_or_boot(self, request: _BootRequest) -> InstanceInfo:
        """Reuse a healthy server called ``request.name``, replacing failed ones, or boot it.

        A server already being deleted is left to finish: Nova allows two
        servers with one name, and the instance manager tells them apart by id.
        """
        for server in self._servers(request.name):
            if server.name != request.name or server.task_state == DELETING:
                continue
            if instance_status(server.status) in _REUSABLE:
                for reused in self._describe([server]):
                    LOG.info("%s: server %s is already %s; not booting another",
                             request.name, server.id, server.status)
                    return reused
                continue  # deleted meanwhile
            LOG.warning("%s: replacing server %s, which is %s",
                        request.name, server.id, server.status)
            self._compute.delete_server(server.id, ignore_missing=True)
        siblings = self._sibling_ids(request.name)
        hints = {"scheduler_hints": {"different_host": siblings}} if siblings else {}
        created = self._compute.create_server(
            name=request.name,
            image_id=request.image_uuid,
            flavor_id=request.flavor,
            networks=[{"port": port.port_id} for port in request.all_ports],
            config_drive=True,
            user_data=encode_user_data(request.user_data),
            **hints,
        )
        server = self._compute.get_server(created.id)
        return self._info(server, request.all_ports)

    def _sibling_ids(self, name: str) -> list[str]:
        """The other live members of ``name``'s HA pair, which it must not share a host with.

        Nova's ``different_host`` hint keeps one compute node's failure from
        taking both members; a non-HA appliance has no siblings.
        """
        appliance = possible_appliance_names(name)[-1]  # the shortest: member 0's name
        return [
            server.id
            for server in self._servers(appliance)
            if server.name != name
            and is_member_of(server.name, appliance)
            and server.task_state != DELETING
        ]

    def _describe(self, servers: Iterable[Server]) -> list[InstanceInfo]:
        """The servers as InstanceInfo, with their ports as Nova lists them.

        A server deleted between the listing and the look at its ports is
        left out, as a listing made a moment later would have.
        """
        described = []
        for server in servers:
            try:
                interfaces = list(self._compute.server_interfaces(server.id))
            except sdk_exceptions.NotFoundException:
                continue
            ports = tuple(self._port_spec(i) for i in interfaces)
            described.append(self._info(server, ports))
        return described

    def _port_spec(self, interface: ServerInterface) -> PortSpec:
        role = "management" if self._management.carries(interface) else "internal"
        return PortSpec(
            port_id=interface.port_id,
            network_id=interface.net_id,
            mac_address=interface.mac_addr,
            role=role,
            fixed_ips=tuple(ip["ip_address"] for ip in interface.fixed_ips or ()),
        )

    @staticmethod
    def _info(server: Server, ports: Sequence[PortSpec]) -> InstanceInfo:
        management = next((p for p in ports if p.role == "management"), None)
        return InstanceInfo(
            id=server.id,
            name=server.name,
            status=instance_status(server.status) or InstanceStatus.ERROR,
            management_address=management.fixed_ips[0] if management and management.fixed_ips
            else None,
            ports=tuple(ports),
            created_at=created_epoch(server.created_at),
            image_uuid=getattr(server.image, "id", None),
        )


@dataclass(frozen=True, slots=True)
class _BootRequest:
    """Everything one boot sends to Nova, computed once and reused by every retry."""

    name: str
    image_uuid: str
    flavor: str
    management_port: PortSpec
    ports: tuple[PortSpec, ...]
    user_data: str

    @property
    def all_ports(self) -> tuple[PortSpec, ...]:
        """The management port first: the appliance's first interface is its management one."""
        return (self.management_port, *self.ports)


def from_config(conf: cfg.ConfigOpts) -> NovaProvisioner:
    """The provisioner ``[DEFAULT] provisioner = nova`` selects (see orchestrator.wiring)."""
    return NovaProvisioner(
        connection_from_config(conf),
        ManagementNetwork(conf.management_prefix, conf.management_network_id),
        {
            driver: ApplianceDefaults(conf[driver].image_uuid, conf[driver].instance_flavor)
            for driver in conf.enabled_drivers
        },
        ssh_public_key_path=conf.ssh_public_key,
        boot_command=conf.astara_boot_command,
    )
