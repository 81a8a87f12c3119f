"""build_config: typed network model in, the appliance's RouterConfig out (no I/O)."""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

import pytest

from astara.appliance.model import Allocation, RouterConfig
from astara.drivers.router_config import (
    Attachment,
    BgpSettings,
    OrchestratorEndpoint,
    build_config,
    host_name,
)
from astara.network.base import FixedIp, FloatingIp, Network, Port, Route, Router, Subnet

ROUTER_ID = "6b1c2e4a-0000-4000-8000-000000000001"
MGT_MAC = "02:00:00:00:01:00"
EXT_MAC = "02:00:00:00:01:01"
INT_MAC = "02:00:00:00:01:02"
VM_MAC = "fa:16:3e:00:02:05"
INTERFACES = {MGT_MAC: "eth0", EXT_MAC: "eth1", INT_MAC: "eth2"}
ORCHESTRATOR = OrchestratorEndpoint("fdca:3ba5:a17a:acda::1", 9697, "orch-1")
BGP = BgpSettings(asn=64512, neighbor_asn=64513)
RULES = {"labels": {"ext": ["192.168.57.0/24"]}}


def ip(text: str) -> Any:
    return ipaddress.ip_address(text)


def subnet(subnet_id: str, network_id: str, cidr: str, gateway: str | None, **kw: Any) -> Subnet:
    values: dict[str, Any] = {
        "name": "",
        "tenant_id": "tenant-1",
        "enable_dhcp": True,
        "dns_nameservers": (),
        "host_routes": (),
        "ipv6_ra_mode": None,
        "ipv6_address_mode": None,
    }
    values.update(kw)
    return Subnet(
        id=subnet_id,
        network_id=network_id,
        cidr=ipaddress.ip_network(cidr),
        gateway_ip=ip(gateway) if gateway else None,
        **values,
    )


def network(network_id: str, *subnets: Subnet, mtu: int | None = 1500) -> Network:
    return Network(
        id=network_id,
        name=network_id,
        tenant_id="tenant-1",
        mtu=mtu,
        external=network_id == "ext",
        admin_state_up=True,
        port_security_enabled=True,
        subnets=subnets,
    )


def port(
    port_id: str,
    network_id: str,
    mac: str,
    *addresses: tuple[str, str],
    name: str = "",
    device_id: str = "",
    device_owner: str = "",
) -> Port:
    return Port(
        id=port_id,
        name=name,
        network_id=network_id,
        mac_address=mac,
        device_id=device_id,
        device_owner=device_owner,
        tenant_id="tenant-1",
        fixed_ips=tuple(FixedIp(subnet_id, ip(address)) for subnet_id, address in addresses),
    )


def fip(fip_id: str, floating: str, fixed: str) -> FloatingIp:
    return FloatingIp(
        id=fip_id,
        tenant_id="tenant-1",
        floating_network_id="ext",
        floating_ip_address=ip(floating),
        fixed_ip_address=ip(fixed),
        port_id="vm",
        router_id=ROUTER_ID,
    )


MGT = network(
    "mgt",
    subnet(
        "s-mgt",
        "mgt",
        "fdca:3ba5:a17a:acda::/64",
        None,
        ipv6_ra_mode="slaac",
        ipv6_address_mode="slaac",
    ),
)
EXT = network(
    "ext",
    subnet("s-ext", "ext", "172.16.0.0/24", "172.16.0.1"),
    subnet("s-ext6", "ext", "fd00:16::/64", "fd00:16::1", enable_dhcp=False),
)
INT = network(
    "int",
    subnet(
        "s-int",
        "int",
        "10.1.0.0/24",
        "10.1.0.1",
        dns_nameservers=(ip("10.1.0.53"),),
        host_routes=(Route(ipaddress.ip_network("10.9.0.0/16"), ip("10.1.0.254")),),
    ),
    subnet("s-int3", "int", "10.3.0.0/24", "10.3.0.1", enable_dhcp=False),
    mtu=1450,
)

MGT_PORT = port(
    "mgt-port", "mgt", MGT_MAC, ("s-mgt", "fdca:3ba5:a17a:acda::5"), name="ASTARA:MGT:r"
)
GATEWAY = port(
    "gw",
    "ext",
    "fa:16:3e:00:00:01",
    ("s-ext", "172.16.0.2"),
    ("s-ext6", "fd00:16::2"),
    device_id=ROUTER_ID,
    device_owner="network:router_gateway",
)
INTERFACE_1 = port(
    "if-1",
    "int",
    "fa:16:3e:00:00:02",
    ("s-int", "10.1.0.1"),
    device_id=ROUTER_ID,
    device_owner="network:router_interface",
)
INTERFACE_3 = port(
    "if-3",
    "int",
    "fa:16:3e:00:00:03",
    ("s-int3", "10.3.0.1"),
    device_id=ROUTER_ID,
    device_owner="network:router_interface",
)
EXT_VRRP = port("ext-vrrp", "ext", EXT_MAC, name=f"ASTARA:VRRP:{ROUTER_ID}")
INT_VRRP = port("int-vrrp", "int", INT_MAC, name=f"ASTARA:VRRP:{ROUTER_ID}")
VM = port("vm", "int", VM_MAC, ("s-int3", "10.3.0.7"), ("s-int", "10.1.0.5"), device_id="vm-5")
NEIGHBOURS = (
    VM,
    INTERFACE_1,
    INTERFACE_3,
    INT_VRRP,
    port("lb", "int", "fa:16:3e:00:00:09", ("s-int", "10.1.0.9"), name="ASTARA:LB:lb-1"),
    port("bare", "int", "fa:16:3e:00:00:0a"),
)


def router(**overrides: Any) -> Router:
    values: dict[str, Any] = {
        "id": ROUTER_ID,
        "name": "r",
        "tenant_id": "tenant-1",
        "status": "ACTIVE",
        "admin_state_up": True,
        "ha": False,
        "routes": (Route(ipaddress.ip_network("10.50.0.0/16"), ip("10.1.0.254")),),
        "gateway_port": GATEWAY,
        "interface_ports": (INTERFACE_1, INTERFACE_3),
        "floating_ips": (fip("f1", "172.16.0.10", "10.1.0.5"),),
    }
    values.update(overrides)
    return Router(**values)


def build(the_router: Router | None = None, with_gateway: bool = True) -> dict[str, Any]:
    the_router = the_router or router()
    return build_config(
        the_router,
        management=Attachment(MGT, MGT_PORT, (MGT_PORT,)),
        external=Attachment(EXT, EXT_VRRP, (GATEWAY,)) if with_gateway else None,
        internal=[Attachment(INT, INT_VRRP, the_router.interfaces_on("int"), NEIGHBOURS)],
        interfaces=INTERFACES,
        provider_rules=RULES,
        bgp=BGP,
        orchestrator=ORCHESTRATOR,
    )


def networks_by_id(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["network_id"]: n for n in config["networks"]}


def test_the_appliance_accepts_the_config() -> None:
    config = RouterConfig.model_validate(build())

    assert [n.network_type for n in config.networks] == ["management", "external", "internal"]
    assert config.external_v4_address == ip("172.16.0.2")


def test_each_nic_is_the_appliance_port_carrying_the_logical_addresses() -> None:
    networks = networks_by_id(build())

    assert networks["mgt"]["interface"] == {
        "ifname": "eth0",
        "lladdr": MGT_MAC,
        "addresses": ["fdca:3ba5:a17a:acda::5/64"],
    }
    assert networks["ext"]["interface"] == {
        "ifname": "eth1",
        "lladdr": EXT_MAC,
        "addresses": ["172.16.0.2/24", "fd00:16::2/64"],
    }
    assert networks["int"]["interface"] == {
        "ifname": "eth2",
        "lladdr": INT_MAC,
        "addresses": ["10.1.0.1/24", "10.3.0.1/24"],
    }
    assert networks["int"]["mtu"] == 1450


def test_subnets_are_described_as_neutron_has_them() -> None:
    subnets = {s["id"]: s for s in networks_by_id(build())["int"]["subnets"]}

    assert subnets["s-int"] == {
        "id": "s-int",
        "cidr": "10.1.0.0/24",
        "gateway_ip": "10.1.0.1",
        "dhcp_enabled": True,
        "dns_nameservers": ["10.1.0.53"],
        "host_routes": [{"destination": "10.9.0.0/16", "nexthop": "10.1.0.254"}],
        "ipv6_ra_mode": None,
        "ipv6_address_mode": None,
    }
    assert subnets["s-int3"]["dhcp_enabled"] is False
    mgt_subnet = networks_by_id(build())["mgt"]["subnets"][0]
    assert mgt_subnet["gateway_ip"] is None
    assert mgt_subnet["ipv6_address_mode"] == "slaac"


def test_allocations_are_the_tenant_hosts_only() -> None:
    networks = networks_by_id(build())

    assert networks["int"]["allocations"] == [
        {
            "mac_address": VM_MAC,
            "ip_addresses": {"10.3.0.7": False, "10.1.0.5": True},
            "hostname": "host-10-1-0-5",
            "device_id": "vm-5",
        }
    ]
    assert "allocations" not in networks["ext"]
    assert "allocations" not in networks["mgt"]


def test_default_gateway_static_routes_and_floating_ips() -> None:
    config = build()

    assert config["default_v4_gateway"] == "172.16.0.1"
    assert config["static_routes"] == [{"destination": "10.50.0.0/16", "next_hop": "10.1.0.254"}]
    assert config["floating_ips"] == [{"floating_ip": "172.16.0.10", "fixed_ip": "10.1.0.5"}]


def test_identity_orchestrator_bgp_and_labels() -> None:
    config = build(router(ha=True))

    assert config["hostname"] == f"ak-{ROUTER_ID}"
    assert config["tenant_id"] == "tenant-1"
    assert config["orchestrator"] == {
        "address": "fdca:3ba5:a17a:acda::1",
        "metadata_port": 9697,
        "host": "orch-1",
    }
    assert (config["asn"], config["neighbor_asn"]) == (64512, 64513)
    assert config["labels"] == {"ext": ["192.168.57.0/24"]}
    assert config["ha_resource"] is True
    assert RouterConfig.model_validate(config).ha_resource is True


def test_floating_ips_the_appliance_would_refuse_are_left_out_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fips = (
        fip("good", "172.16.0.10", "10.1.0.5"),
        fip("outside", "192.0.2.10", "10.1.0.6"),
        fip("elsewhere", "172.16.0.11", "10.77.0.5"),
        fip("v6", "fd00:16::10", "10.1.0.7"),
    )
    with caplog.at_level(logging.WARNING):
        config = build(router(floating_ips=fips))

    assert config["floating_ips"] == [{"floating_ip": "172.16.0.10", "fixed_ip": "10.1.0.5"}]
    for left_out in ("outside", "elsewhere", "v6"):
        assert f"floating IP {left_out} left out" in caplog.text
    RouterConfig.model_validate(config)


def test_a_router_without_gateway_has_no_external_network() -> None:
    config = build(router(gateway_port=None, floating_ips=()), with_gateway=False)

    assert [n["network_type"] for n in config["networks"]] == ["management", "internal"]
    assert config["default_v4_gateway"] is None
    RouterConfig.model_validate(config)


def test_an_address_on_a_foreign_subnet_is_left_out() -> None:
    odd = port("odd", "int", "fa:16:3e:00:00:04", ("s-elsewhere", "10.8.0.1"), device_id=ROUTER_ID)
    config = build(router(interface_ports=(INTERFACE_1, odd)))

    internal = networks_by_id(config)["int"]
    assert internal["interface"]["addresses"] == ["10.1.0.1/24"]


def test_an_interface_the_appliance_does_not_report_has_no_name() -> None:
    config = build_config(
        router(gateway_port=None, floating_ips=()),
        management=Attachment(MGT, MGT_PORT, (MGT_PORT,)),
        external=None,
        internal=[],
        interfaces={},
        provider_rules={},
        bgp=BGP,
        orchestrator=ORCHESTRATOR,
    )

    assert config["networks"][0]["interface"]["ifname"] is None
    assert "labels" not in config


@pytest.mark.parametrize(
    ("addresses", "expected"),
    [
        (["10.1.0.5"], "host-10-1-0-5"),
        (["fd00:1::5", "10.1.0.9"], "host-10-1-0-9"),
        (["10.1.0.9", "10.1.0.10"], "host-10-1-0-9"),
        (["fd00:1::5"], "host-fd00-1--5"),
    ],
)
def test_host_names_come_from_the_lowest_address(addresses: list[str], expected: str) -> None:
    name = host_name([ip(a) for a in addresses])

    assert name == expected
    assert Allocation.model_validate({"mac_address": VM_MAC, "hostname": name}).hostname == name
