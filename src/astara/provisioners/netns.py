"""The netns provisioner: each appliance is a network namespace on this host.

An appliance ``ak-router-<id>`` is the namespace of that name with one veth
pair per port: the inner end, named by plug order (``eth0`` for management,
then ``eth1``, …), carries the port's MAC (the agent matches interfaces to
networks by MAC, never by name); the outer end ``tap<port id>`` is enslaved
to the network's Linux bridge ``brq<network id>``, made on first use, exactly
as Neutron's linuxbridge agent would name both. The appliance agent listens on
the management port's first address only, inside the namespace.

Agents run in one of two modes (``[netns] agent_mode``): ``shared``, one agent
host serving every namespace (a few MB per appliance, the default), or
``process``, one agent process per namespace (stronger isolation, 40-50 MB
each); see :mod:`astara.provisioners.netns_agents`. An appliance keeps the
mode it was booted in.

What the provisioner made is recorded under its state root
(:mod:`astara.provisioners.netns_records`), so it lists and removes only its
own namespaces and bridges, and any process can pick up where another left.
Calls for one instance are expected one at a time (the instance's state
machine makes them); calls for different instances may run concurrently.
"""

from __future__ import annotations

import ipaddress
import logging
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from oslo_config import cfg

from astara.common.linux.interface import (
    BridgeInterfaceDriver,
    InterfaceDriverError,
    bridge_name_for_network,
)
from astara.drivers.base import PortSpec
from astara.provisioners.base import InstanceInfo, InstanceStatus, Provisioner, ProvisionerError
from astara.provisioners.netns_agents import AgentSupervisor, ProcessAgents, SharedAgents
from astara.provisioners.netns_plumbing import (
    bridge_members,
    create_namespace,
    delete_bridge,
    delete_namespace,
    disable_dad,
    namespace_exists,
    plug_port,
    unplug_port,
)
from astara.provisioners.netns_records import (
    AgentMode,
    NamespaceRecord,
    PluggedPort,
    RecordStore,
    check_namespace_name,
)

LOG = logging.getLogger(__name__)

DEFAULT_STATE_ROOT = "/var/lib/astara/netns"
DEFAULT_API_PORT = 5000

NETNS_OPTS: list[cfg.Opt] = [
    cfg.StrOpt(
        "state_path",
        default=DEFAULT_STATE_ROOT,
        help="Directory of the netns provisioner's records and of each appliance's "
        "state (saved configuration, dnsmasq files, agent logs); root only.",
    ),
    cfg.StrOpt(
        "agent_mode",
        default=str(AgentMode.SHARED),
        choices=[
            (str(AgentMode.SHARED), "one agent host process serves every appliance namespace"),
            (str(AgentMode.PROCESS), "one agent process per appliance namespace"),
        ],
        help="How the appliance agents of netns appliances run.",
    ),
    cfg.StrOpt(
        "agent_log_level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="Log level of the appliance agents.",
    ),
]


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    """The ``[netns]`` options, for oslo-config-generator."""
    return [("netns", NETNS_OPTS)]


def _no_mtu(network_id: str) -> int | None:
    return None


class NetnsProvisioner(Provisioner):
    """Appliances as network namespaces plugged into one Linux bridge per network.

    ``management_prefix`` gives the management address its prefix length;
    ``api_ports`` maps a driver name (``router``) to its agent's port, for
    appliances named ``ak-<driver>-…``; ``network_mtu`` returns a network's
    MTU (None: the kernel default) for the bridges and veths.
    """

    def __init__(
        self,
        state_root: Path,
        management_prefix: str,
        *,
        agent_mode: AgentMode = AgentMode.SHARED,
        api_ports: Mapping[str, int] | None = None,
        network_mtu: Callable[[str], int | None] = _no_mtu,
        agent_log_level: str = "info",
    ) -> None:
        self._store = RecordStore(state_root)
        self._management_prefix = ipaddress.ip_network(management_prefix)
        self._agent_mode = agent_mode
        self._api_ports = dict(api_ports or {})
        self._network_mtu = network_mtu
        self._driver = BridgeInterfaceDriver()
        self._agents: dict[AgentMode, AgentSupervisor] = {
            AgentMode.PROCESS: ProcessAgents(self._store, agent_log_level),
            AgentMode.SHARED: SharedAgents(self._store, agent_log_level),
        }

    # -- Provisioner

    def list_instances(self, name_prefix: str) -> list[InstanceInfo]:
        records = [
            r for r in self._store.all() if r.name.startswith(name_prefix) and not r.deleting
        ]
        statuses: dict[str, InstanceStatus] = {}
        for mode, agents in self._agents.items():
            statuses |= agents.statuses([r for r in records if r.agent_mode is mode])
        return [
            _info(r, statuses[r.name] if namespace_exists(r.name) else InstanceStatus.ERROR)
            for r in records
        ]

    def boot(
        self,
        name: str,
        image_uuid: str | None,
        flavor: str | None,
        management_port: PortSpec,
        ports: Sequence[PortSpec],
    ) -> InstanceInfo:
        LOG.debug("%s: image %s and flavor %s do not apply to namespaces", name, image_uuid, flavor)
        check_namespace_name(name)
        leftover = self._store.load(name)
        if leftover is not None and leftover.deleting:
            self.destroy(name)  # an interrupted destroy: finish it first
        address = self._management_address(name, management_port)
        if self._store.load(name) is not None or namespace_exists(name):
            raise ProvisionerError(f"{name}: an appliance namespace of that name already exists")
        record = NamespaceRecord(
            name=name,
            management_address=str(address.ip),
            api_port=self._api_port(name),
            agent_mode=self._agent_mode,
            created_at=time.time(),
            plumbed=False,
        )
        self._store.save(record)
        try:
            create_namespace(name)
            for port in _unique((management_port, *ports)):
                record = self._plug(record, port)
            if address.version == 6:
                disable_dad(record.plugged[0].ifname, name)
            self._driver.init_l3(record.plugged[0].ifname, [str(address)], namespace=name)
            record = replace(record, plumbed=True)
            self._store.save(record)
            record = self._agents[record.agent_mode].start(record)
            self._store.save(record)
        except (ProvisionerError, InterfaceDriverError, OSError) as exc:
            LOG.error("%s: boot failed, removing what was made: %s", name, exc)
            try:
                self.destroy(name)
            except ProvisionerError as cleanup:
                LOG.error("%s: cleanup after the failed boot failed too: %s", name, cleanup)
            raise ProvisionerError(f"{name}: boot failed: {exc}") from exc
        LOG.info("%s: booted (management address %s)", name, address.ip)
        return _info(record, InstanceStatus.BUILDING)

    def destroy(self, instance_id: str) -> None:
        record = self._store.load(instance_id)
        if record is not None:
            record = replace(record, deleting=True)
            self._store.save(record)
            self._agents[record.agent_mode].stop(record)
            for plugged in record.plugged:
                unplug_port(instance_id, plugged)
        delete_namespace(instance_id)
        shutil.rmtree(self._store.appliance_dir(instance_id), ignore_errors=True)
        self._store.delete(instance_id)
        if record is not None:
            LOG.info("%s: destroyed", instance_id)

    def plug(self, instance_id: str, port: PortSpec) -> None:
        record = self._existing(instance_id)
        if record.find(port.port_id) is None:
            self._plug(record, port)

    def unplug(self, instance_id: str, port: PortSpec) -> None:
        record = self._existing(instance_id)
        plugged = record.find(port.port_id)
        if plugged is None:
            return
        if plugged is record.plugged[0]:
            raise ProvisionerError(
                f"{instance_id}: the management port {port.port_id} cannot be unplugged"
            )
        unplug_port(instance_id, plugged)
        self._store.save(record.without_port(port.port_id))

    # -- beyond the Provisioner interface

    def agent_pid(self, instance_id: str) -> int | None:
        """The process serving the instance's API (the shared host's, in shared mode)."""
        record = self._existing(instance_id)
        return self._agents[record.agent_mode].pid(record)

    def prune_bridges(self, in_use: set[str]) -> list[str]:
        """Remove the bridges this provisioner made that nothing uses any more.

        ``in_use`` names bridges to keep whatever their state (e.g. the host's
        own management and external bridges). A bridge is also kept while any
        recorded port belongs to its network or any link is enslaved to it.
        Returns the bridges removed.
        """
        recorded = {
            bridge_name_for_network(port.network_id)
            for record in self._store.all()
            for port in record.ports
        }
        removed = []
        for bridge in self._store.created_bridges():
            if bridge in in_use or bridge in recorded or bridge_members(bridge):
                continue
            delete_bridge(bridge)
            self._store.forget_bridge(bridge)
            removed.append(bridge)
            LOG.info("removed bridge %s: no appliance uses it", bridge)
        return removed

    # -- helpers

    def _plug(self, record: NamespaceRecord, port: PortSpec) -> NamespaceRecord:
        plugged = PluggedPort(port, record.next_ifname())
        if plug_port(record.name, plugged, self._network_mtu(port.network_id)):
            self._store.remember_bridge(bridge_name_for_network(port.network_id))
        record = record.with_port(port, plugged.ifname)
        self._store.save(record)
        return record

    def _existing(self, instance_id: str) -> NamespaceRecord:
        record = self._store.load(instance_id)
        if record is None or record.deleting:
            raise ProvisionerError(f"no netns appliance {instance_id}")
        return record

    def _management_address(
        self, name: str, port: PortSpec
    ) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
        """The management port's first address, with the management prefix's length."""
        if not port.fixed_ips:
            raise ProvisionerError(f"{name}: management port {port.port_id} has no address")
        try:
            ip = ipaddress.ip_address(port.fixed_ips[0])
        except ValueError:
            raise ProvisionerError(
                f"{name}: management address {port.fixed_ips[0]!r} is not an IP address"
            ) from None
        if ip not in self._management_prefix:
            raise ProvisionerError(
                f"{name}: management address {ip} is outside the management prefix "
                f"{self._management_prefix}"
            )
        return ipaddress.ip_interface(f"{ip}/{self._management_prefix.prefixlen}")

    def _api_port(self, name: str) -> int:
        for driver, port in self._api_ports.items():
            if name.startswith(f"ak-{driver}-"):
                return port
        return DEFAULT_API_PORT


def _unique(ports: Sequence[PortSpec]) -> list[PortSpec]:
    """``ports`` without repeats (a caller may list the management port among the others)."""
    unique: dict[str, PortSpec] = {}
    for port in ports:
        unique.setdefault(port.port_id, port)
    return list(unique.values())


def _info(record: NamespaceRecord, status: InstanceStatus) -> InstanceInfo:
    return InstanceInfo(
        id=record.name,
        name=record.name,
        status=status,
        management_address=record.management_address,
        ports=record.ports,
        created_at=record.created_at,
    )


def from_config(conf: cfg.ConfigOpts) -> NetnsProvisioner:
    """The provisioner ``[DEFAULT] provisioner = netns`` selects, from ``[netns]`` options."""
    conf.register_opts(NETNS_OPTS, group="netns")
    return NetnsProvisioner(
        Path(conf.netns.state_path),
        conf.management_prefix,
        agent_mode=AgentMode(conf.netns.agent_mode),
        api_ports={driver: conf[driver].mgt_service_port for driver in conf.enabled_drivers},
        agent_log_level=conf.netns.agent_log_level,
    )
