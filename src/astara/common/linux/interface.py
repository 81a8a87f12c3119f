"""Interface drivers: how a port of a Neutron network becomes a device on this host.

The orchestrator talks to appliances over the management network, so it needs
a port of its own on that network (the "local management port"); the netns
provisioner plugs appliance namespaces the same way. Which driver to use
follows the cloud's L2 agent (``[DEFAULT] interface_driver``):

* :class:`BridgeInterfaceDriver`, Linux bridge: a veth pair whose outer end
  ``tap<id>`` is enslaved to the network's bridge ``brq<id>`` and whose inner
  end ``ns-<id>`` carries the port's MAC and addresses.
* :class:`OVSInterfaceDriver`, Open vSwitch: an internal port (or, with
  ``ovs_use_veth``, a veth pair) on the integration bridge, tagged with the
  external-ids Neutron's OVS agent looks for to wire the port.
* :class:`NullDriver`: something else plugs the device; only addresses are
  managed.

Device names follow Neutron's convention, prefix plus port id cut to 14
characters, below the kernel's 15-character limit. Links and addresses are
changed through netlink (:mod:`astara.common.linux.netlink`, privsep as
non-root); only ``ovs-vsctl`` is an external command (through rootwrap).
Every failure surfaces as one :class:`InterfaceDriverError` with a message
fit for the log.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import shutil
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from oslo_privsep.daemon import FailedToDropPrivileges

from astara.common.linux import netlink
from astara.common.privileged import PrivilegedCommandError, run_privileged

LOG = logging.getLogger(__name__)

#: Longest device name the kernel accepts (IFNAMSIZ is 16 with the NUL).
MAX_DEVICE_NAME = 15
#: Neutron cuts prefix + port id here; agents and operators expect these names.
DEVICE_NAME_LENGTH = 14
#: Characters of the network id in a Linux bridge agent's bridge name.
_BRIDGE_ID_LENGTH = 11

INNER_PREFIX = "ns-"
OUTER_PREFIX = "tap"

_MAC = re.compile(r"[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}")
# ovs-vsctl arguments: nothing that could be read as an option (rootwrap's
# ovs.filters enforce the same shapes).
_OVS_TOKEN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
#: ovs-vsctl waits forever for ovsdb-server without a timeout.
_OVS_TIMEOUT = 10
#: Where ovs-vsctl is looked for besides PATH (the astara user's PATH may lack sbin).
_OVS_SEARCH_PATH = ("/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin", "/bin", "/sbin")


class InterfaceDriverError(Exception):
    """A port could not be plugged, unplugged or addressed; the message says why."""


def bridge_name_for_network(network_id: str) -> str:
    """The Linux bridge of a network, named as Neutron's linuxbridge agent names it."""
    if not network_id:
        raise InterfaceDriverError("a network id is needed to name its bridge")
    return "brq" + network_id[:_BRIDGE_ID_LENGTH]


def veth_outer_name(device_name: str) -> str:
    """The host end ``tap<id>`` of the veth pair whose port end is ``ns-<id>``."""
    if not device_name.startswith(INNER_PREFIX) or device_name == INNER_PREFIX:
        raise InterfaceDriverError(
            f"veth device {device_name!r} must be named {INNER_PREFIX}<port id> "
            f"(its host end is then {OUTER_PREFIX}<port id>)"
        )
    return OUTER_PREFIX + device_name[len(INNER_PREFIX) :]


def _check_device_name(name: str) -> None:
    if not 0 < len(name) <= MAX_DEVICE_NAME:
        raise InterfaceDriverError(
            f"device name {name!r} must have 1 to {MAX_DEVICE_NAME} characters"
        )
    if name in (".", "..") or name.startswith("-") or any(c in name for c in "/: \t\n"):
        raise InterfaceDriverError(f"{name!r} is not a valid device name")


def _check_plug_arguments(device_name: str, mac_address: str, mtu: int | None) -> None:
    _check_device_name(device_name)
    if not _MAC.fullmatch(mac_address):
        raise InterfaceDriverError(f"{mac_address!r} is not a MAC address (aa:bb:cc:dd:ee:ff)")
    if mtu is not None and not 68 <= mtu <= 65535:
        raise InterfaceDriverError(f"MTU {mtu} is outside 68..65535")


def _parse_cidrs(cidrs: Sequence[str]) -> list[str]:
    parsed = []
    for cidr in cidrs:
        try:
            parsed.append(str(ipaddress.ip_interface(cidr)))
        except ValueError:
            raise InterfaceDriverError(
                f"{cidr!r} is not an address with a prefix length (e.g. fdca::5/64)"
            ) from None
    return parsed


@contextmanager
def _failures_reported(action: str) -> Iterator[None]:
    """Turn the privileged layers' errors into one InterfaceDriverError naming ``action``."""
    try:
        yield
    except (netlink.LinkError, PrivilegedCommandError) as exc:
        raise InterfaceDriverError(f"cannot {action}: {exc}") from exc
    except FailedToDropPrivileges as exc:
        raise InterfaceDriverError(
            f"cannot {action}: the privsep daemon did not start through [AGENT] root_helper "
            f"({exc}); check sudoers and rootwrap"
        ) from exc


@dataclass(frozen=True)
class InterfaceOptions:
    """The configuration the drivers read ([DEFAULT] ovs_integration_bridge, ovs_use_veth)."""

    ovs_integration_bridge: str = "br-int"
    ovs_use_veth: bool = False


class InterfaceDriver(ABC):
    """Plugs ports into networks on this host and gives their devices addresses."""

    def __init__(self, options: InterfaceOptions | None = None) -> None:
        self.options = options or InterfaceOptions()

    @property
    def device_prefix(self) -> str:
        """What this driver's device names start with."""
        return OUTER_PREFIX

    def device_name_for_port(self, port_id: str) -> str:
        """The name of the device that carries ``port_id`` (addresses go on it)."""
        if not port_id:
            raise InterfaceDriverError("a port id is needed to name its device")
        return (self.device_prefix + port_id)[:DEVICE_NAME_LENGTH]

    @abstractmethod
    def plug(
        self,
        network_id: str,
        port_id: str,
        device_name: str,
        mac_address: str,
        bridge: str | None = None,
        mtu: int | None = None,
        namespace: str | None = None,
    ) -> None:
        """Create ``device_name`` for the port, in ``namespace``, up; no-op if it exists."""

    @abstractmethod
    def unplug(
        self, device_name: str, bridge: str | None = None, namespace: str | None = None
    ) -> None:
        """Remove what :meth:`plug` created; no-op if it is already gone."""

    def init_l3(self, device_name: str, cidrs: Sequence[str], namespace: str | None = None) -> None:
        """Make ``cidrs`` (``addr/prefixlen``) the device's global addresses.

        Missing ones are added and every other global permanent address is
        removed, so a port whose address changed converges without a replug.
        """
        _check_device_name(device_name)
        wanted = _parse_cidrs(cidrs)
        with _failures_reported(f"set the addresses of {device_name}"):
            changed = netlink.sync_addresses(device_name, wanted, namespace)
        LOG.log(
            logging.INFO if changed else logging.DEBUG,
            "addresses of %s are %s%s", device_name, ", ".join(wanted) or "none",
            " now" if changed else " (unchanged)",
        )  # fmt: skip


class BridgeInterfaceDriver(InterfaceDriver):
    """Linux bridge: a veth pair, host end on the network's ``brq`` bridge."""

    @property
    def device_prefix(self) -> str:
        return INNER_PREFIX

    def plug(
        self,
        network_id: str,
        port_id: str,
        device_name: str,
        mac_address: str,
        bridge: str | None = None,
        mtu: int | None = None,
        namespace: str | None = None,
    ) -> None:
        _check_plug_arguments(device_name, mac_address, mtu)
        outer = veth_outer_name(device_name)
        bridge = bridge or bridge_name_for_network(network_id)
        with _failures_reported(f"plug port {port_id} into bridge {bridge}"):
            if netlink.link_exists(device_name, namespace):
                LOG.debug("port %s is already plugged as %s", port_id, device_name)
                return
            if not netlink.link_exists(bridge, None):
                raise InterfaceDriverError(
                    f"cannot plug port {port_id}: bridge {bridge} of network {network_id} "
                    "does not exist (the Linux bridge agent or the netns provisioner makes it)"
                )
            netlink.create_veth(device_name, outer, mac_address, mtu, namespace, bridge)
        LOG.info("plugged port %s as %s (%s on bridge %s)", port_id, device_name, outer, bridge)

    def unplug(
        self, device_name: str, bridge: str | None = None, namespace: str | None = None
    ) -> None:
        _check_device_name(device_name)
        outer = veth_outer_name(device_name)
        with _failures_reported(f"unplug {device_name}"):
            # Deleting the host end deletes its peer, wherever that lives.
            netlink.delete_link(outer, None)
            netlink.delete_link(device_name, namespace)
        LOG.info("unplugged %s", device_name)


class OVSInterfaceDriver(InterfaceDriver):
    """Open vSwitch: a port on the integration bridge that Neutron's OVS agent wires."""

    def __init__(self, options: InterfaceOptions | None = None) -> None:
        super().__init__(options)
        search_path = os.pathsep.join([os.environ.get("PATH", ""), *_OVS_SEARCH_PATH])
        if shutil.which("ovs-vsctl", path=search_path) is None:
            raise InterfaceDriverError(
                "interface_driver = astara.common.linux.interface.OVSInterfaceDriver needs "
                "Open vSwitch, but ovs-vsctl is not installed; install openvswitch-switch or "
                "set interface_driver = astara.common.linux.interface.BridgeInterfaceDriver"
            )

    @property
    def device_prefix(self) -> str:
        return INNER_PREFIX if self.options.ovs_use_veth else OUTER_PREFIX

    def _ovs_port_name(self, device_name: str) -> str:
        return veth_outer_name(device_name) if self.options.ovs_use_veth else device_name

    def plug(
        self,
        network_id: str,
        port_id: str,
        device_name: str,
        mac_address: str,
        bridge: str | None = None,
        mtu: int | None = None,
        namespace: str | None = None,
    ) -> None:
        _check_plug_arguments(device_name, mac_address, mtu)
        bridge = bridge or self.options.ovs_integration_bridge
        for value in (bridge, port_id):
            if not _OVS_TOKEN.fullmatch(value):
                raise InterfaceDriverError(f"{value!r} cannot be passed to ovs-vsctl")
        ovs_port = self._ovs_port_name(device_name)
        with _failures_reported(f"plug port {port_id} into OVS bridge {bridge}"):
            if netlink.link_exists(device_name, namespace):
                LOG.debug("port %s is already plugged as %s", port_id, device_name)
                return
            if self.options.ovs_use_veth:
                netlink.create_veth(device_name, ovs_port, mac_address, mtu, namespace, None)
                try:
                    self._add_port(bridge, ovs_port, port_id, mac_address, internal=False)
                except PrivilegedCommandError:
                    netlink.delete_link(ovs_port, None)
                    raise
            else:
                self._add_port(bridge, ovs_port, port_id, mac_address, internal=True)
                try:
                    netlink.configure_link(device_name, mac_address, mtu, namespace)
                except (netlink.LinkError, FailedToDropPrivileges):
                    self._del_port(bridge, ovs_port)
                    raise
        LOG.info("plugged port %s as %s on OVS bridge %s", port_id, device_name, bridge)

    def unplug(
        self, device_name: str, bridge: str | None = None, namespace: str | None = None
    ) -> None:
        _check_device_name(device_name)
        bridge = bridge or self.options.ovs_integration_bridge
        ovs_port = self._ovs_port_name(device_name)
        with _failures_reported(f"unplug {device_name} from OVS bridge {bridge}"):
            self._del_port(bridge, ovs_port)
            if self.options.ovs_use_veth:
                netlink.delete_link(ovs_port, None)
        LOG.info("unplugged %s", device_name)

    @staticmethod
    def _add_port(bridge: str, port: str, port_id: str, mac: str, *, internal: bool) -> None:
        """One transaction: the port and the external-ids Neutron's OVS agent wires it by."""
        port_type = ["type=internal"] if internal else []
        run_privileged(
            [
                "ovs-vsctl", f"--timeout={_OVS_TIMEOUT}",
                "--", "--may-exist", "add-port", bridge, port,
                "--", "set", "Interface", port, *port_type,
                f"external-ids:iface-id={port_id}",
                "external-ids:iface-status=active",
                f"external-ids:attached-mac={mac}",
            ]
        )  # fmt: skip

    @staticmethod
    def _del_port(bridge: str, port: str) -> None:
        run_privileged(
            ["ovs-vsctl", f"--timeout={_OVS_TIMEOUT}", "--if-exists", "del-port", bridge, port]
        )


class NullDriver(InterfaceDriver):
    """Leaves plugging to someone else (a device that already exists); sets addresses only."""

    def plug(
        self,
        network_id: str,
        port_id: str,
        device_name: str,
        mac_address: str,
        bridge: str | None = None,
        mtu: int | None = None,
        namespace: str | None = None,
    ) -> None:
        LOG.debug("NullDriver: not plugging port %s (%s)", port_id, device_name)

    def unplug(
        self, device_name: str, bridge: str | None = None, namespace: str | None = None
    ) -> None:
        LOG.debug("NullDriver: not unplugging %s", device_name)


_DRIVERS: dict[str, type[InterfaceDriver]] = {
    f"{__name__}.{driver.__name__}": driver
    for driver in (BridgeInterfaceDriver, OVSInterfaceDriver, NullDriver)
}


def load_interface_driver(
    dotted_path: str, options: InterfaceOptions | None = None
) -> InterfaceDriver:
    """The driver ``[DEFAULT] interface_driver`` names, built with ``options``.

    Only the known drivers are accepted (no arbitrary import from a config
    value); anything else gets an error listing them.
    """
    driver = _DRIVERS.get(dotted_path.strip())
    if driver is None:
        known = ", ".join(sorted(_DRIVERS))
        raise InterfaceDriverError(
            f"interface_driver = {dotted_path!r} is not an interface driver; use one of: {known}"
        )
    return driver(options)
