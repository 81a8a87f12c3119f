"""Interface drivers: naming, what they ask of netlink and ovs-vsctl, and their errors.

The privileged layers are replaced by a recorder, so these tests need no root;
tests/e2e/test_interface_driver.py plugs real ports.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from astara.common.linux import interface
from astara.common.linux.interface import (
    BridgeInterfaceDriver,
    InterfaceDriverError,
    InterfaceOptions,
    NullDriver,
    OVSInterfaceDriver,
    bridge_name_for_network,
    load_interface_driver,
    veth_outer_name,
)
from astara.common.linux.netlink import LinkError
from astara.common.privileged import PrivilegedCommandError

PORT_ID = "0b9e5a2c-8f1d-4f6e-9a43-5c1b2d3e4f50"
NETWORK_ID = "7d4c1f0a-2b3c-4d5e-8f90-1a2b3c4d5e6f"
MAC = "fa:16:3e:12:34:56"


class Host:
    """Records what the drivers ask of netlink and ovs-vsctl; devices live in a set."""

    def __init__(self, devices: set[tuple[str, str | None]] | None = None) -> None:
        self.devices = devices or set()
        self.calls: list[tuple[Any, ...]] = []
        self.failures: dict[str, Exception] = {}

    def _record(self, name: str, *args: Any) -> None:
        self.calls.append((name, *args))
        if name in self.failures:
            raise self.failures[name]

    def link_exists(self, name: str, namespace: str | None) -> bool:
        return (name, namespace) in self.devices

    def create_veth(self, *args: Any) -> None:
        self._record("create_veth", *args)

    def configure_link(self, *args: Any) -> None:
        self._record("configure_link", *args)

    def delete_link(self, *args: Any) -> None:
        self._record("delete_link", *args)

    def sync_addresses(self, name: str, cidrs: list[str], namespace: str | None) -> bool:
        self._record("sync_addresses", name, list(cidrs), namespace)
        return True

    def run_privileged(self, argv: list[str]) -> None:
        self._record(argv[0], *argv[1:])


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> Host:
    recorder = Host()
    for name in ("link_exists", "create_veth", "configure_link", "delete_link", "sync_addresses"):
        monkeypatch.setattr(interface.netlink, name, getattr(recorder, name))
    monkeypatch.setattr(interface, "run_privileged", recorder.run_privileged)
    return recorder


@pytest.fixture
def ovs_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(interface.shutil, "which", lambda *_a, **_k: "/usr/bin/ovs-vsctl")


def names_of(calls: list[tuple[Any, ...]]) -> list[str]:
    return [call[0] for call in calls]


# -- naming ---------------------------------------------------------------


def test_bridge_name_follows_the_linuxbridge_agent() -> None:
    name = bridge_name_for_network(NETWORK_ID)

    assert name == "brq" + NETWORK_ID[:11]
    assert len(name) <= interface.MAX_DEVICE_NAME


@pytest.mark.parametrize(
    ("make_driver", "prefix"),
    [
        (BridgeInterfaceDriver, "ns-"),
        (NullDriver, "tap"),
        (lambda: OVSInterfaceDriver(), "tap"),
        (lambda: OVSInterfaceDriver(InterfaceOptions(ovs_use_veth=True)), "ns-"),
    ],
)
@pytest.mark.usefixtures("ovs_installed")
def test_device_names_are_prefix_and_port_id_within_the_kernel_limit(
    make_driver: Callable[[], interface.InterfaceDriver], prefix: str
) -> None:
    name = make_driver().device_name_for_port(PORT_ID)

    assert name == (prefix + PORT_ID)[: interface.DEVICE_NAME_LENGTH]
    assert len(name) <= interface.MAX_DEVICE_NAME


def test_veth_host_end_is_the_tap_twin_of_the_ns_end() -> None:
    assert veth_outer_name("ns-0b9e5a2c-8f") == "tap0b9e5a2c-8f"
    for wrong in ("tap0b9e5a2c-8f", "ns-", "eth0"):
        with pytest.raises(InterfaceDriverError, match="must be named ns-<port id>"):
            veth_outer_name(wrong)


# -- Linux bridge ---------------------------------------------------------


def test_bridge_plug_creates_the_veth_on_the_networks_bridge(host: Host) -> None:
    driver = BridgeInterfaceDriver()
    device = driver.device_name_for_port(PORT_ID)
    bridge = bridge_name_for_network(NETWORK_ID)
    host.devices.add((bridge, None))

    driver.plug(NETWORK_ID, PORT_ID, device, MAC, mtu=1450, namespace="ak-router-1")

    assert host.calls == [
        ("create_veth", device, veth_outer_name(device), MAC, 1450, "ak-router-1", bridge)
    ]


def test_bridge_plug_of_an_existing_device_changes_nothing(host: Host) -> None:
    driver = BridgeInterfaceDriver()
    device = driver.device_name_for_port(PORT_ID)
    host.devices.update({(device, None), ("brq-given", None)})

    driver.plug(NETWORK_ID, PORT_ID, device, MAC, bridge="brq-given")

    assert host.calls == []


def test_bridge_plug_into_a_missing_bridge_creates_nothing(host: Host) -> None:
    driver = BridgeInterfaceDriver()

    with pytest.raises(InterfaceDriverError, match=r"bridge brq7d4c1f0a-2b .* does not exist"):
        driver.plug(NETWORK_ID, PORT_ID, driver.device_name_for_port(PORT_ID), MAC)

    assert host.calls == []


def test_bridge_unplug_deletes_the_pair_through_its_host_end(host: Host) -> None:
    driver = BridgeInterfaceDriver()
    device = driver.device_name_for_port(PORT_ID)

    driver.unplug(device, namespace="ak-router-1")

    assert host.calls == [
        ("delete_link", veth_outer_name(device), None),
        ("delete_link", device, "ak-router-1"),
    ]


def test_netlink_failure_becomes_an_interface_driver_error(host: Host) -> None:
    driver = BridgeInterfaceDriver()
    host.devices.add(("brq-given", None))
    host.failures["create_veth"] = LinkError("plug veth: Operation not permitted")

    with pytest.raises(InterfaceDriverError, match=f"plug port {PORT_ID}.*Operation not permitted"):
        driver.plug(
            NETWORK_ID, PORT_ID, driver.device_name_for_port(PORT_ID), MAC, bridge="brq-given"
        )


@pytest.mark.parametrize(
    ("device", "mac", "mtu", "error"),
    [
        ("ns-" + "x" * 13, MAC, None, "1 to 15 characters"),
        ("ns-a/b", MAC, None, "not a valid device name"),
        ("ns-ok", "fa:16:3e:12:34", None, "not a MAC address"),
        ("ns-ok", MAC, 20, "MTU 20"),
    ],
)
def test_plug_refuses_bad_arguments_before_touching_anything(
    host: Host, device: str, mac: str, mtu: int | None, error: str
) -> None:
    with pytest.raises(InterfaceDriverError, match=error):
        BridgeInterfaceDriver().plug(NETWORK_ID, PORT_ID, device, mac, bridge="br", mtu=mtu)

    assert host.calls == []


# -- init_l3 --------------------------------------------------------------


def test_init_l3_hands_normalised_addresses_to_netlink(host: Host) -> None:
    NullDriver().init_l3("tap0b9e5a2c-8f", ["fdca:3ba5:a17a:acda:0::5/64", "192.168.57.4/24"], "ns")

    assert host.calls == [
        ("sync_addresses", "tap0b9e5a2c-8f", ["fdca:3ba5:a17a:acda::5/64", "192.168.57.4/24"], "ns")
    ]


def test_init_l3_refuses_a_bad_address_and_changes_nothing(host: Host) -> None:
    with pytest.raises(InterfaceDriverError, match="'fdca::zz/64' is not an address"):
        NullDriver().init_l3("tap0b9e5a2c-8f", ["192.168.57.4/24", "fdca::zz/64"])

    assert host.calls == []


# -- Open vSwitch ---------------------------------------------------------


def test_ovs_driver_without_ovs_vsctl_names_the_option(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(interface.shutil, "which", lambda *_a, **_k: None)

    with pytest.raises(InterfaceDriverError) as raised:
        load_interface_driver("astara.common.linux.interface.OVSInterfaceDriver")

    assert "ovs-vsctl is not installed" in str(raised.value)
    assert "interface_driver = astara.common.linux.interface.BridgeInterfaceDriver" in str(
        raised.value
    )


@pytest.mark.usefixtures("ovs_installed")
def test_ovs_plug_adds_an_internal_port_with_neutrons_external_ids(host: Host) -> None:
    driver = OVSInterfaceDriver()
    device = driver.device_name_for_port(PORT_ID)

    driver.plug(NETWORK_ID, PORT_ID, device, MAC, mtu=1450, namespace="ak-router-1")

    add_port, configure = host.calls
    assert add_port[0] == "ovs-vsctl"
    assert ["--may-exist", "add-port", "br-int", device] == list(add_port[3:7])
    assert {
        "type=internal",
        f"external-ids:iface-id={PORT_ID}",
        "external-ids:iface-status=active",
        f"external-ids:attached-mac={MAC}",
    } <= set(add_port)
    assert configure == ("configure_link", device, MAC, 1450, "ak-router-1")


@pytest.mark.usefixtures("ovs_installed")
def test_ovs_plug_removes_the_port_when_the_device_cannot_be_configured(host: Host) -> None:
    driver = OVSInterfaceDriver(InterfaceOptions(ovs_integration_bridge="br-mgmt"))
    device = driver.device_name_for_port(PORT_ID)
    host.failures["configure_link"] = LinkError("namespace ak-router-1 does not exist")

    with pytest.raises(InterfaceDriverError, match="ak-router-1 does not exist"):
        driver.plug(NETWORK_ID, PORT_ID, device, MAC, namespace="ak-router-1")

    assert names_of(host.calls) == ["ovs-vsctl", "configure_link", "ovs-vsctl"]
    assert host.calls[-1][-3:] == ("del-port", "br-mgmt", device)


@pytest.mark.usefixtures("ovs_installed")
def test_ovs_veth_plug_adds_the_host_end_and_rolls_back_on_failure(host: Host) -> None:
    driver = OVSInterfaceDriver(InterfaceOptions(ovs_use_veth=True))
    device = driver.device_name_for_port(PORT_ID)
    outer = veth_outer_name(device)
    host.failures["ovs-vsctl"] = PrivilegedCommandError(["ovs-vsctl"], "exited 1: no bridge")

    with pytest.raises(InterfaceDriverError, match="no bridge"):
        driver.plug(NETWORK_ID, PORT_ID, device, MAC)

    create, add_port, delete = host.calls
    assert create == ("create_veth", device, outer, MAC, None, None, None)
    assert "type=internal" not in add_port
    assert outer in add_port
    assert delete == ("delete_link", outer, None)


@pytest.mark.usefixtures("ovs_installed")
def test_ovs_unplug_deletes_the_port(host: Host) -> None:
    OVSInterfaceDriver().unplug("tap0b9e5a2c-8f", bridge="br-x")

    assert host.calls == [
        ("ovs-vsctl", "--timeout=10", "--if-exists", "del-port", "br-x", "tap0b9e5a2c-8f")
    ]


@pytest.mark.usefixtures("ovs_installed")
def test_ovs_refuses_a_port_id_that_would_read_as_an_option(host: Host) -> None:
    with pytest.raises(InterfaceDriverError, match="cannot be passed to ovs-vsctl"):
        OVSInterfaceDriver().plug(NETWORK_ID, "--log-file=/etc/x", "tap0b9e5a2c-8f", MAC)

    assert host.calls == []


# -- NullDriver and loading -----------------------------------------------


def test_null_driver_plugs_nothing(host: Host) -> None:
    driver = NullDriver()

    driver.plug(NETWORK_ID, PORT_ID, "tap0b9e5a2c-8f", MAC, bridge="br-int")
    driver.unplug("tap0b9e5a2c-8f")

    assert host.calls == []


@pytest.mark.usefixtures("ovs_installed")
@pytest.mark.parametrize(
    ("dotted_path", "expected"),
    [
        ("astara.common.linux.interface.BridgeInterfaceDriver", BridgeInterfaceDriver),
        ("astara.common.linux.interface.OVSInterfaceDriver", OVSInterfaceDriver),
        (" astara.common.linux.interface.NullDriver ", NullDriver),
    ],
)
def test_load_accepts_the_install_guides_names(dotted_path: str, expected: type) -> None:
    options = InterfaceOptions(ovs_integration_bridge="br-mgmt", ovs_use_veth=True)

    driver = load_interface_driver(dotted_path, options)

    assert type(driver) is expected
    assert driver.options == options


@pytest.mark.parametrize(
    "dotted_path",
    ["os.system", "astara.common.linux.interface.InterfaceDriver", "", "BridgeInterfaceDriver"],
)
def test_load_refuses_anything_else_and_lists_the_choices(dotted_path: str) -> None:
    with pytest.raises(InterfaceDriverError) as raised:
        load_interface_driver(dotted_path)

    message = str(raised.value)
    assert f"interface_driver = {dotted_path!r} is not an interface driver" in message
    assert "astara.common.linux.interface.BridgeInterfaceDriver" in message
