"""What the address and route services converge to for a configuration."""

from __future__ import annotations

import ipaddress

from astara.appliance.services.addresses import desired_addresses
from astara.appliance.services.routes import Route, desired_routes

from .configs import config, modified, router_body, target

net = ipaddress.ip_network
ip = ipaddress.ip_address


def test_external_interface_carries_the_floating_ips() -> None:
    cfg = config()
    ext = cfg.networks[1]
    assert desired_addresses(cfg, ext) == {
        ipaddress.ip_interface("172.16.0.2/24"),
        ipaddress.ip_interface("fd00:16::2/64"),
        ipaddress.ip_interface("172.16.0.10/24"),
    }
    internal = cfg.networks[2]
    assert ipaddress.ip_interface("172.16.0.10/24") not in desired_addresses(cfg, internal)


def test_removing_a_floating_ip_removes_its_address() -> None:
    cfg = config(modified(floating_ips=[]))
    assert ipaddress.ip_interface("172.16.0.10/24") not in desired_addresses(cfg, cfg.networks[1])


def test_routes_default_static_and_host() -> None:
    assert desired_routes(target()) == [
        Route(net("0.0.0.0/0"), ip("172.16.0.1"), "eth1"),
        Route(net("::/0"), ip("fd00:16::1"), "eth1"),
        Route(net("10.50.0.0/16"), ip("10.1.0.254"), "eth2"),
        Route(net("10.9.0.0/16"), ip("10.1.0.254"), "eth2"),
    ]


def test_default_v4_gateway_overrides_the_subnet_gateway() -> None:
    body = router_body()
    body["networks"][1]["subnets"][0]["gateway_ip"] = "172.16.0.254"
    routes = desired_routes(target(body))
    assert Route(net("0.0.0.0/0"), ip("172.16.0.1"), "eth1") in routes


def test_without_external_network_there_is_no_default_route() -> None:
    body = router_body()
    body["networks"] = [n for n in body["networks"] if n["network_type"] != "external"]
    body["floating_ips"] = []
    body["default_v4_gateway"] = None
    assert all(r.destination.prefixlen > 0 for r in desired_routes(target(body)))


def test_a_static_route_wins_over_a_host_route_to_the_same_destination() -> None:
    body = router_body()
    body["static_routes"] = [{"destination": "10.9.0.0/16", "next_hop": "10.2.0.7"}]
    routes = [r for r in desired_routes(target(body)) if r.destination == net("10.9.0.0/16")]
    assert routes == [Route(net("10.9.0.0/16"), ip("10.2.0.7"), "eth3")]


def test_host_routes_via_the_router_itself_are_not_installed() -> None:
    body = router_body()
    body["networks"][2]["subnets"][0]["host_routes"] = [
        {"destination": "10.9.0.0/16", "nexthop": "10.1.0.1"}
    ]
    body["static_routes"] = []
    destinations = {r.destination for r in desired_routes(target(body))}
    assert net("10.9.0.0/16") not in destinations
