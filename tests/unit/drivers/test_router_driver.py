"""RouterDriver against the real local API: ports, config, release and status."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from astara.appliance.model import RouterConfig
from astara.drivers.base import PortSpec
from astara.drivers.router import (
    STATUS_OF_STATE,
    ApplianceNotRecognised,
    RouterDriver,
    RouterDriverSettings,
)
from astara.drivers.router_config import BgpSettings, OrchestratorEndpoint
from astara.network.base import RouterStatus
from astara.network.errors import ResourceGone
from astara.network.neutron_api import NeutronNetworkModel
from astara.orchestrator.event import Resource
from astara.orchestrator.instance_state import InstanceState
from tests.unit.network.local_api import Api, bound_socket, local_api, model_for, serve, url_of

MANAGEMENT_PREFIX = ipaddress.ip_network("fdca:3ba5:a17a:acda::/64")


@dataclass
class Cloud:
    """The install guide's layout plus a management network, a VM and a floating IP."""

    management: dict[str, Any]
    management_subnet: dict[str, Any]
    public: dict[str, Any]
    private: dict[str, Any]
    router: dict[str, Any]
    vm_port: dict[str, Any]
    floating_ip: dict[str, Any]
    settings: RouterDriverSettings

    @property
    def resource(self) -> Resource:
        return Resource("router", self.router["id"], self.router["project_id"])


@pytest.fixture
def cloud(api: Api, tmp_path: Path) -> Cloud:
    management = api.network(name="mgt")
    management_subnet = api.subnet(
        management["id"],
        str(MANAGEMENT_PREFIX),
        ip_version=6,
        ipv6_ra_mode="slaac",
        ipv6_address_mode="slaac",
    )
    public = api.network(name="public", **{"router:external": True})
    api.subnet(public["id"], "172.16.0.0/24")
    private = api.network(name="private")
    first = api.subnet(private["id"], "10.2.0.0/24")
    second = api.subnet(private["id"], "10.3.0.0/24", enable_dhcp=False)
    router = api.router(name="r1", external_gateway_info={"network_id": public["id"]})
    api.add_interface(router["id"], subnet_id=first["id"])
    api.add_interface(router["id"], subnet_id=second["id"])
    vm_port = api.port(private["id"], name="vm", device_id="vm-1", device_owner="compute:nova")
    floating_ip = api.floating_ip(public["id"], port_id=vm_port["id"])
    rules = tmp_path / "provider_rules.json"
    rules.write_text(json.dumps({"labels": {"ext": ["192.168.57.0/24"]}}))
    settings = RouterDriverSettings(
        management_network_id=management["id"],
        management_subnet_id=management_subnet["id"],
        provider_rules_path=str(rules),
        bgp=BgpSettings(64512, 64512),
        orchestrator=OrchestratorEndpoint("fdca:3ba5:a17a:acda::1", 9697, "orch-1"),
        image_uuid="image-1",
        flavor="flavor-1",
    )
    return Cloud(
        management, management_subnet, public, private, router, vm_port, floating_ip, settings
    )


@pytest.fixture
def driver(model: NeutronNetworkModel, cloud: Cloud) -> RouterDriver:
    return RouterDriver(cloud.resource, model, cloud.settings)


def appliance_ports(api: Api, router_id: str) -> list[dict[str, Any]]:
    return [p for p in api.ports() if p["name"].startswith("ASTARA:") and router_id in p["name"]]


def interfaces_of(management: PortSpec, ports: list[PortSpec]) -> dict[str, str]:
    """What the appliance reports: its NICs' MACs and names (management first)."""
    return {port.mac_address.upper(): f"eth{i}" for i, port in enumerate([management, *ports])}


def eui64(prefix: ipaddress.IPv6Network, mac: str) -> ipaddress.IPv6Address:
    value = int(mac.replace(":", ""), 16)
    interface_id = ((value >> 24) << 40 | 0xFFFE << 24 | (value & 0xFFFFFF)) ^ (1 << 57)
    return ipaddress.IPv6Address(int(prefix.network_address) | interface_id)


def test_refresh_reads_the_router(driver: RouterDriver) -> None:
    assert driver.refresh() is True
    assert driver.is_ha is False
    assert (driver.image_uuid, driver.flavor) == ("image-1", "flavor-1")


def test_the_router_is_read_again_only_after_news_of_it(
    driver: RouterDriver, api: Api, cloud: Cloud
) -> None:
    _, before = driver.ensure_ports()
    extra = api.network(name="extra")
    api.add_interface(cloud.router["id"], subnet_id=api.subnet(extra["id"], "10.9.0.0/24")["id"])

    assert driver.refresh() is True
    _, unchanged = driver.ensure_ports()
    driver.news()
    _, after = driver.ensure_ports()

    assert unchanged == before
    assert extra["id"] in {port.network_id for port in after} - {p.network_id for p in before}


def test_a_missing_router_is_gone(model: NeutronNetworkModel, cloud: Cloud) -> None:
    driver = RouterDriver(Resource("router", "no-such-router", "t"), model, cloud.settings)

    assert driver.refresh() is False
    assert driver.is_ha is False
    with pytest.raises(ResourceGone):
        driver.ensure_ports()


def test_is_ha_follows_the_router(api: Api, model: NeutronNetworkModel, cloud: Cloud) -> None:
    router = api.router(ha=True)
    driver = RouterDriver(Resource("router", router["id"], "t"), model, cloud.settings)

    assert driver.is_ha is True


def test_ensure_ports_makes_one_port_per_network(
    driver: RouterDriver, api: Api, cloud: Cloud
) -> None:
    management, ports = driver.ensure_ports()

    router_id = cloud.router["id"]
    assert management.role == "management"
    assert management.network_id == cloud.management["id"]
    assert management.fixed_ips == (str(eui64(MANAGEMENT_PREFIX, management.mac_address)),)
    assert [(p.network_id, p.role) for p in ports] == [
        (cloud.public["id"], "external"),
        (cloud.private["id"], "internal"),
    ]
    created = {p["id"]: p for p in appliance_ports(api, router_id)}
    assert set(created) == {management.port_id, *(p.port_id for p in ports)}
    mgt = created[management.port_id]
    assert mgt["name"] == f"ASTARA:MGT:{router_id}"
    assert mgt["device_owner"] == "network:astara"
    assert mgt["device_id"] == ""
    for port in ports:
        vrrp = created[port.port_id]
        assert vrrp["name"] == f"ASTARA:VRRP:{router_id}"
        assert vrrp["fixed_ips"] == []
        assert vrrp["port_security_enabled"] is False
        assert vrrp["device_id"] == ""
        assert port.mac_address == vrrp["mac_address"]


def test_ensure_ports_twice_creates_nothing(driver: RouterDriver, api: Api, cloud: Cloud) -> None:
    first = driver.ensure_ports()
    before = appliance_ports(api, cloud.router["id"])

    second = driver.ensure_ports()

    assert second == first
    assert appliance_ports(api, cloud.router["id"]) == before


def test_a_new_network_gets_a_port_and_the_others_are_reused(
    driver: RouterDriver, api: Api, cloud: Cloud
) -> None:
    _, before = driver.ensure_ports()
    extra = api.network(name="extra")
    extra_subnet = api.subnet(extra["id"], "10.9.0.0/24")
    api.add_interface(cloud.router["id"], subnet_id=extra_subnet["id"])

    driver.news()  # the interface's notification
    driver.refresh()
    _, after = driver.ensure_ports()

    assert set(before) <= set(after)
    assert {p.network_id for p in after} == {
        cloud.public["id"],
        cloud.private["id"],
        extra["id"],
    }
    assert len(appliance_ports(api, cloud.router["id"])) == 1 + 3


def test_the_second_ha_member_has_ports_of_its_own(
    driver: RouterDriver, api: Api, cloud: Cloud
) -> None:
    management_0, ports_0 = driver.ensure_ports(0)
    management_1, ports_1 = driver.ensure_ports(1)

    router_id = cloud.router["id"]
    assert management_1.port_id != management_0.port_id
    assert {p.port_id for p in ports_1}.isdisjoint({p.port_id for p in ports_0})
    names = {p["id"]: p["name"] for p in appliance_ports(api, router_id)}
    assert names[management_1.port_id] == f"ASTARA:HA1:MGT:{router_id}"
    assert {names[p.port_id] for p in ports_1} == {f"ASTARA:HA1:VRRP:{router_id}"}


def test_build_config_is_accepted_by_the_appliance(driver: RouterDriver, cloud: Cloud) -> None:
    management, ports = driver.ensure_ports()
    interfaces = interfaces_of(management, ports)

    config = driver.build_config(management.fixed_ips[0], interfaces)

    parsed = RouterConfig.model_validate(config)
    networks = {n.network_id: n for n in parsed.networks}
    internal = networks[cloud.private["id"]]
    assert internal.network_type == "internal"
    assert internal.interface.lladdr == ports[1].mac_address
    assert internal.interface.ifname == "eth2"
    assert [str(a) for a in internal.interface.addresses] == ["10.2.0.1/24", "10.3.0.1/24"]
    assert [a.device_id for a in internal.allocations] == ["vm-1"]
    vm_address = cloud.vm_port["fixed_ips"][0]["ip_address"]
    assert {str(ip): dhcp for ip, dhcp in internal.allocations[0].ip_addresses.items()} == {
        vm_address: True
    }
    external = networks[cloud.public["id"]]
    assert external.interface.lladdr == ports[0].mac_address
    assert [str(a) for a in external.interface.addresses] == [
        f"{cloud.router['external_gateway_info']['external_fixed_ips'][0]['ip_address']}/24"
    ]
    mgt = networks[cloud.management["id"]]
    assert [str(a) for a in mgt.interface.addresses] == [f"{management.fixed_ips[0]}/64"]
    assert str(parsed.default_v4_gateway) == "172.16.0.1"
    assert [(str(f.floating_ip), str(f.fixed_ip)) for f in parsed.floating_ips] == [
        (cloud.floating_ip["floating_ip_address"], vm_address)
    ]
    assert {name: [str(c) for c in cidrs] for name, cidrs in parsed.labels.items()} == {
        "ext": ["192.168.57.0/24"]
    }
    assert parsed.hostname == f"ak-{cloud.router['id']}"
    assert parsed.tenant_id == cloud.router["project_id"]


def test_build_config_of_a_router_with_only_a_gateway(
    model: NeutronNetworkModel, api: Api, cloud: Cloud
) -> None:
    router = api.router(external_gateway_info={"network_id": cloud.public["id"]})
    driver = RouterDriver(Resource("router", router["id"], "t"), model, cloud.settings)
    management, ports = driver.ensure_ports()

    config = driver.build_config(management.fixed_ips[0], interfaces_of(management, ports))

    parsed = RouterConfig.model_validate(config)
    assert [n.network_type for n in parsed.networks] == ["management", "external"]
    assert parsed.floating_ips == ()


def test_build_config_uses_the_ports_of_the_member_it_is_for(
    driver: RouterDriver, cloud: Cloud
) -> None:
    driver.ensure_ports(0)
    management, ports = driver.ensure_ports(1)

    config = driver.build_config(management.fixed_ips[0], interfaces_of(management, ports))

    lladdrs = {n["network_id"]: n["interface"]["lladdr"] for n in config["networks"]}
    assert lladdrs == {
        cloud.management["id"]: management.mac_address,
        cloud.public["id"]: ports[0].mac_address,
        cloud.private["id"]: ports[1].mac_address,
    }


def test_build_config_for_an_appliance_that_is_not_this_routers(driver: RouterDriver) -> None:
    driver.ensure_ports()

    with pytest.raises(ApplianceNotRecognised, match="none of the router's management ports"):
        driver.build_config("fdca:3ba5:a17a:acda::99", {"02:00:00:00:00:99": "eth0"})


def test_release_ports_deletes_every_appliance_port_of_the_router(
    driver: RouterDriver, model: NeutronNetworkModel, api: Api, cloud: Cloud
) -> None:
    other = api.router(name="other", external_gateway_info={"network_id": cloud.public["id"]})
    other_driver = RouterDriver(Resource("router", other["id"], "t"), model, cloud.settings)
    other_driver.ensure_ports()
    driver.ensure_ports(0)
    driver.ensure_ports(1)

    driver.release_ports()

    assert appliance_ports(api, cloud.router["id"]) == []
    assert len(appliance_ports(api, other["id"])) == 2
    router = model.get_router(cloud.router["id"])
    assert router is not None and len(router.interface_ports) == 2


def test_release_port_deletes_one_and_tolerates_a_second_time(
    driver: RouterDriver, api: Api, cloud: Cloud
) -> None:
    _, ports = driver.ensure_ports()

    driver.release_port(ports[0])
    driver.release_port(ports[0])

    remaining = {p["id"] for p in appliance_ports(api, cloud.router["id"])}
    assert ports[0].port_id not in remaining
    assert ports[1].port_id in remaining


@pytest.mark.parametrize(
    ("state", "status"),
    [
        (InstanceState.DOWN, "DOWN"),
        (InstanceState.BOOTING, "BUILD"),
        (InstanceState.UP, "BUILD"),
        (InstanceState.DEGRADED, "BUILD"),
        (InstanceState.REPLUG, "BUILD"),
        (InstanceState.RESTART, "BUILD"),
        (InstanceState.CONFIGURED, "ACTIVE"),
        (InstanceState.ERROR, "ERROR"),
    ],
)
def test_report_status_sets_the_routers_status(
    driver: RouterDriver,
    model: NeutronNetworkModel,
    api: Api,
    cloud: Cloud,
    state: InstanceState,
    status: str,
) -> None:
    other = RouterStatus.DOWN if status != "DOWN" else RouterStatus.ERROR
    model.update_router_status(cloud.router["id"], other)

    driver.report_status(state)

    assert api.show("routers", "router", cloud.router["id"])["status"] == status


def test_every_state_has_a_status_or_none() -> None:
    assert set(STATUS_OF_STATE) == set(InstanceState)


def test_gone_is_not_reported(driver: RouterDriver, api: Api, cloud: Cloud) -> None:
    driver.report_status(InstanceState.ERROR)

    driver.report_status(InstanceState.GONE)

    assert api.show("routers", "router", cloud.router["id"])["status"] == "ERROR"


def test_a_state_with_the_same_status_is_not_reported_again(
    driver: RouterDriver, model: NeutronNetworkModel, api: Api, cloud: Cloud
) -> None:
    driver.report_status(InstanceState.BOOTING)
    model.update_router_status(cloud.router["id"], RouterStatus.DOWN)  # someone else's write

    driver.report_status(InstanceState.UP)  # still BUILD: nothing to send

    assert api.show("routers", "router", cloud.router["id"])["status"] == "DOWN"
    driver.report_status(InstanceState.CONFIGURED)
    assert api.show("routers", "router", cloud.router["id"])["status"] == "ACTIVE"


def test_a_failed_report_is_not_raised_and_is_sent_again(
    api: Api, cloud: Cloud, tmp_path: Path
) -> None:
    listener = bound_socket()  # the API is down: connections are refused
    driver = RouterDriver(cloud.resource, model_for(url_of(listener), attempts=1), cloud.settings)
    driver.report_status(InstanceState.ERROR)

    with serve(local_api(tmp_path / "network.db"), listener):  # back, over the same store
        driver.report_status(InstanceState.ERROR)

    assert api.show("routers", "router", cloud.router["id"])["status"] == "ERROR"


def test_before_its_first_read_a_router_takes_every_tenant_wide_change(
    driver: RouterDriver,
) -> None:
    assert driver.may_concern({"port": {"id": "p", "network_id": "somewhere-else"}})


def test_a_port_or_subnet_concerns_the_routers_on_its_network_only(
    driver: RouterDriver, api: Api, cloud: Cloud
) -> None:
    other = api.network(name="other")
    driver.refresh()

    assert driver.may_concern({"port": cloud.vm_port})  # on the router's private network
    assert driver.may_concern({"subnet": {"id": "s", "network_id": cloud.public["id"]}})
    assert not driver.may_concern({"port": api.port(other["id"], device_owner="compute:nova")})
    assert not driver.may_concern({"subnet": {"id": "s", "network_id": other["id"]}})
    # On the external network only the router's own ports count (another
    # router's gateway or appliance port changes nothing here).
    assert not driver.may_concern({"port": {"id": "p", "network_id": cloud.public["id"]}})
    # A port the router is given on a network it is joining names it.
    assert driver.may_concern(
        {"port": {"id": "p", "network_id": other["id"], "device_id": cloud.router["id"]}}
    )


def test_a_moved_floating_ip_concerns_the_router_it_left_and_the_one_it_joins(
    driver: RouterDriver, cloud: Cloud
) -> None:
    driver.refresh()
    had = {**cloud.floating_ip, "router_id": "another-router", "port_id": "another-port"}
    joins = {"id": "new-fip", "router_id": cloud.router["id"]}
    unrelated = {"id": "new-fip", "router_id": "another-router"}

    assert driver.may_concern({"floatingip": had})
    assert driver.may_concern({"floatingip": joins})
    assert not driver.may_concern({"floatingip": unrelated})


def test_changes_that_name_only_an_id_reach_every_router(driver: RouterDriver) -> None:
    driver.refresh()
    assert driver.may_concern({"port_id": "gone-port"})
    assert driver.may_concern({"ipsec_site_connection": {"id": "c"}})
    assert driver.may_concern({})
