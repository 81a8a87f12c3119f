"""NeutronNetworkModel against the real local API (served by uvicorn on loopback)."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from astara.network.base import AddressRequest, RouterStatus
from astara.network.errors import NetworkModelUnavailable, RequestRefused, ResourceGone
from astara.network.neutron_api import NeutronNetworkModel
from astara.network.resource_lister import RouterLister

from .local_api import Api, bound_socket, local_api, model_for, serve, url_of


@dataclass
class Topology:
    public: dict[str, Any]
    public_subnet: dict[str, Any]
    private: dict[str, Any]
    private_subnet: dict[str, Any]
    second_subnet: dict[str, Any]
    router: dict[str, Any]
    vm_port: dict[str, Any]
    floating_ip: dict[str, Any]


@pytest.fixture
def topology(api: Api) -> Topology:
    """A router with a gateway, two interfaces on one private network, and a floating IP."""
    public = api.network(name="public", **{"router:external": True})
    public_subnet = api.subnet(public["id"], "172.16.0.0/24")
    private = api.network(name="private", mtu=1450)
    private_subnet = api.subnet(private["id"], "10.2.0.0/24")
    second_subnet = api.subnet(private["id"], "10.3.0.0/24")
    router = api.router(
        name="r1",
        external_gateway_info={"network_id": public["id"]},
    )
    api.add_interface(router["id"], subnet_id=private_subnet["id"])
    api.add_interface(router["id"], subnet_id=second_subnet["id"])
    vm_port = api.port(private["id"], name="vm", device_id="vm-1", device_owner="compute:nova")
    floating_ip = api.floating_ip(public["id"], port_id=vm_port["id"])
    return Topology(
        public,
        public_subnet,
        private,
        private_subnet,
        second_subnet,
        router,
        vm_port,
        floating_ip,
    )


def test_get_router_splits_its_ports_and_keeps_its_floating_ip(
    model: NeutronNetworkModel, topology: Topology
) -> None:
    router = model.get_router(topology.router["id"])

    assert router is not None
    assert router.gateway_port is not None
    assert router.gateway_port.network_id == topology.public["id"]
    assert sorted(str(p.addresses[0]) for p in router.interface_ports) == [
        "10.2.0.1",
        "10.3.0.1",
    ]
    assert router.internal_network_ids == (topology.private["id"],)
    assert [f.id for f in router.floating_ips] == [topology.floating_ip["id"]]
    assert router.floating_ips[0].fixed_ip_address == ipaddress.ip_address(
        topology.vm_port["fixed_ips"][0]["ip_address"]
    )
    assert router.tenant_id == topology.router["project_id"]
    assert router.ha is False


def test_get_router_reads_routes_and_ha(model: NeutronNetworkModel, api: Api) -> None:
    net = api.network()
    subnet = api.subnet(net["id"], "10.5.0.0/24")
    router = api.router(ha=True)
    api.add_interface(router["id"], subnet_id=subnet["id"])
    response = api.http.put(
        f"/routers/{router['id']}",
        json={"router": {"routes": [{"destination": "10.50.0.0/16", "nexthop": "10.5.0.9"}]}},
    )
    assert response.status_code == 200, response.text

    read = model.get_router(router["id"])

    assert read is not None and read.ha is True
    assert [(str(r.destination), str(r.nexthop)) for r in read.routes] == [
        ("10.50.0.0/16", "10.5.0.9")
    ]
    assert read.gateway_port is None


def test_a_missing_router_is_none(model: NeutronNetworkModel) -> None:
    assert model.get_router("no-such-router") is None


def test_list_routers_gives_each_router_its_own_ports(
    model: NeutronNetworkModel, api: Api, topology: Topology
) -> None:
    other_net = api.network()
    other_subnet = api.subnet(other_net["id"], "10.9.0.0/24")
    other = api.router(name="r2", project_id="tenant-2")
    api.add_interface(other["id"], subnet_id=other_subnet["id"])

    routers = {router.id: router for router in model.list_routers()}

    assert set(routers) == {topology.router["id"], other["id"]}
    assert routers[other["id"]].internal_network_ids == (other_net["id"],)
    assert routers[other["id"]].floating_ips == ()
    assert len(routers[topology.router["id"]].interface_ports) == 2
    assert len(routers[topology.router["id"]].floating_ips) == 1


def test_router_lister_names_every_router_with_its_tenant(
    model: NeutronNetworkModel, api: Api
) -> None:
    first = api.router(project_id="tenant-1")
    second = api.router(project_id="tenant-2")

    resources = RouterLister(model).list_resources()

    assert {(r.driver, r.id, r.tenant_id) for r in resources} == {
        ("router", first["id"], "tenant-1"),
        ("router", second["id"], "tenant-2"),
    }


def test_get_networks_with_subnets_ignores_missing_ids(
    model: NeutronNetworkModel, topology: Topology
) -> None:
    networks = model.get_networks([topology.private["id"], topology.public["id"], "gone"])

    assert set(networks) == {topology.private["id"], topology.public["id"]}
    private = networks[topology.private["id"]]
    assert private.mtu == 1450
    assert {s.id for s in private.subnets} == {
        topology.private_subnet["id"],
        topology.second_subnet["id"],
    }
    assert networks[topology.public["id"]].external is True


def test_get_network_of_a_missing_id_is_resource_gone(model: NeutronNetworkModel) -> None:
    with pytest.raises(ResourceGone, match="network gone does not exist"):
        model.get_network("gone")


def test_list_ports_filters_with_alternatives(
    model: NeutronNetworkModel, api: Api, topology: Topology
) -> None:
    net = topology.private["id"]
    a = api.port(net, name="a")
    b = api.port(net, name="b")
    api.port(net, name="c")

    ports = model.list_ports(name=["a", "b"], network_id=net)

    assert {p.id for p in ports} == {a["id"], b["id"]}


def test_a_filter_with_no_alternatives_matches_nothing(
    model: NeutronNetworkModel, topology: Topology
) -> None:
    assert model.list_ports(network_id=[]) == []
    assert model.list_ports(network_id=[topology.private["id"]]) != []


def test_list_ports_follows_pages(model: NeutronNetworkModel, api: Api) -> None:
    net = api.network()
    created = {api.port(net["id"], name=f"p{i}")["id"] for i in range(3)}

    ports = model.list_ports(network_id=net["id"], limit="1")

    assert {p.id for p in ports} == created


def test_create_port_without_addresses_and_port_security(
    model: NeutronNetworkModel, api: Api, topology: Topology
) -> None:
    port = model.create_port(
        topology.private["id"],
        "ASTARA:VRRP:x",
        device_owner="network:astara",
        fixed_ips=[],
        disable_port_security=True,
    )

    assert port.fixed_ips == ()
    shown = api.show("ports", "port", port.id)
    assert shown["port_security_enabled"] is False
    assert shown["security_groups"] == []
    assert shown["device_owner"] == "network:astara"
    assert shown["device_id"] == ""
    assert shown["name"] == "ASTARA:VRRP:x"


def test_create_port_lets_the_api_choose_an_address(
    model: NeutronNetworkModel, topology: Topology
) -> None:
    port = model.create_port(topology.private["id"], "chosen")

    assert len(port.fixed_ips) == 1
    assert port.fixed_ips[0].ip_address in ipaddress.ip_network("10.2.0.0/24")


def test_create_port_on_a_slaac_subnet_gets_the_eui64_address(
    model: NeutronNetworkModel, api: Api
) -> None:
    management = api.network(name="mgt")
    subnet = api.subnet(
        management["id"],
        "fdca:3ba5:a17a:acda::/64",
        ip_version=6,
        ipv6_ra_mode="slaac",
        ipv6_address_mode="slaac",
    )

    port = model.create_port(
        management["id"], "ASTARA:MGT:x", fixed_ips=[AddressRequest(subnet_id=subnet["id"])]
    )

    mac = int(port.mac_address.replace(":", ""), 16)
    interface_id = ((mac >> 24) << 40 | 0xFFFE << 24 | (mac & 0xFFFFFF)) ^ (1 << 57)
    expected = ipaddress.ip_address(
        int(ipaddress.ip_address("fdca:3ba5:a17a:acda::")) | interface_id
    )
    assert port.addresses == (expected,)


def test_port_security_is_left_alone_when_the_option_is_off(
    api_url: str, api: Api, topology: Topology
) -> None:
    model = model_for(api_url, port_security_extension=False)

    port = model.create_port(topology.private["id"], "p", disable_port_security=True)

    assert api.show("ports", "port", port.id)["port_security_enabled"] is True


def test_create_port_on_a_missing_network_is_refused(model: NeutronNetworkModel) -> None:
    with pytest.raises(RequestRefused) as caught:
        model.create_port("no-such-network", "p")

    assert caught.value.status == 404
    assert "no-such-network" in str(caught.value)


def test_delete_port_twice_is_fine(
    model: NeutronNetworkModel, api: Api, topology: Topology
) -> None:
    port = api.port(topology.private["id"])

    model.delete_port(port["id"])
    model.delete_port(port["id"])

    assert api.http.get(f"/ports/{port['id']}").status_code == 404


def test_deleting_a_router_port_is_refused(model: NeutronNetworkModel, topology: Topology) -> None:
    router = model.get_router(topology.router["id"])
    assert router is not None

    with pytest.raises(RequestRefused, match="HTTP 409"):
        model.delete_port(router.interface_ports[0].id)


def test_find_instance_port_by_address(model: NeutronNetworkModel, topology: Topology) -> None:
    address = topology.vm_port["fixed_ips"][0]["ip_address"]

    found = model.find_instance_port(topology.private["id"], address)

    assert found is not None and found.id == topology.vm_port["id"]
    assert found.device_id == "vm-1"
    assert model.find_instance_port(topology.private["id"], "10.2.0.250") is None


def test_update_router_status_is_recorded(
    model: NeutronNetworkModel, api: Api, topology: Topology
) -> None:
    assert model.update_router_status(topology.router["id"], RouterStatus.ERROR) is True

    assert api.show("routers", "router", topology.router["id"])["status"] == "ERROR"


def test_update_router_status_of_a_missing_router_is_logged_not_raised(
    model: NeutronNetworkModel, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        recorded = model.update_router_status("no-such-router", RouterStatus.ERROR)

    assert recorded is False
    assert "no-such-router" in caplog.text


def test_an_unreachable_api_is_unavailable_after_the_attempts() -> None:
    listener = bound_socket()  # bound, not listening: every connection is refused
    model = model_for(url_of(listener), attempts=2)

    with pytest.raises(NetworkModelUnavailable, match="gave up after 2 attempts"):
        model.get_router("r")
    assert model.update_router_status("r", RouterStatus.DOWN) is False
    listener.close()


def test_an_api_that_starts_later_is_used_once_it_answers(tmp_path: Path) -> None:
    listener = bound_socket()
    model = model_for(url_of(listener), attempts=1)
    with pytest.raises(NetworkModelUnavailable):
        model.list_routers()

    with serve(local_api(tmp_path / "network.db"), listener):
        assert model.list_routers() == []


class FailingFirst:
    """The local API behind a proxy that answers ``status`` to its first ``failures`` requests.

    Neutron under load answers 503 for a while; the client must retry, then
    succeed without the caller noticing.
    """

    def __init__(self, app: Callable[..., Awaitable[None]], failures: int, status: int) -> None:
        self.app = app
        self.failures = failures
        self.status = status
        self.failed = 0

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http" or self.failed >= self.failures:
            await self.app(scope, receive, send)
            return
        self.failed += 1
        await send({"type": "http.response.start", "status": self.status, "headers": []})
        await send({"type": "http.response.body", "body": b"busy"})


def test_server_errors_are_retried_until_they_stop(tmp_path: Path) -> None:
    flaky = FailingFirst(local_api(tmp_path / "network.db"), failures=0, status=503)
    with serve(flaky) as url:
        Api(url).router(name="r")
        flaky.failures = 2
        model = model_for(url, attempts=3)

        routers = model.list_routers()

    assert [r.name for r in routers] == ["r"]
    assert flaky.failed == 2


def test_server_errors_that_persist_make_the_model_unavailable(tmp_path: Path) -> None:
    always = FailingFirst(local_api(tmp_path / "network.db"), failures=0, status=502)
    with serve(always) as url:
        model = model_for(url, attempts=3)
        assert model.list_routers() == []
        always.failures = 1000

        with pytest.raises(NetworkModelUnavailable) as caught:
            model.get_router("r")

    assert "HTTP 502: busy (gave up after 3 attempts)" in str(caught.value)

    assert always.failed == 3
