"""The configuration model: what it accepts, what it refuses and where it says the error is."""

from __future__ import annotations

import copy
import ipaddress
from typing import Any

import pytest
from pydantic import ValidationError

from astara.appliance.model import EMPTY_CONFIG, METADATA_BASE_PORT, RouterConfig

from .configs import EXT_MAC, config, router_body


def _error_locs(body: dict[str, Any]) -> list[tuple[str | int, ...]]:
    with pytest.raises(ValidationError) as info:
        RouterConfig.model_validate(body)
    return [tuple(e["loc"]) for e in info.value.errors()]


def test_full_router_body_parses_into_typed_values() -> None:
    cfg = config()
    assert cfg.external_network is not None
    assert cfg.external_network.interface.lladdr == EXT_MAC
    assert cfg.external_v4_address == ipaddress.IPv4Address("172.16.0.2")
    assert cfg.floating_ips[0].fixed_ip == ipaddress.IPv4Address("10.1.0.5")
    assert cfg.networks[0].subnets[0].gateway_ip is None  # "" means no gateway


def test_parsing_does_not_touch_the_input() -> None:
    body = router_body()
    snapshot = copy.deepcopy(body)
    config(body)
    assert body == snapshot


def test_mac_addresses_are_normalised_for_matching() -> None:
    body = router_body()
    body["networks"][1]["interface"]["lladdr"] = EXT_MAC.upper().replace(":", "-")
    assert config(body).networks[1].interface.lladdr == EXT_MAC


def test_unknown_keys_are_ignored_for_newer_orchestrators() -> None:
    body = router_body()
    body["vpn"] = {"ipsec": []}
    body["networks"][0]["v4_conf_service"] = "static"
    assert config(body) == config()


def test_neighbor_asn_defaults_to_asn() -> None:
    body = router_body()
    del body["neighbor_asn"]
    body["asn"] = 65001
    assert config(body).effective_neighbor_asn == 65001


def test_serialised_config_parses_back_to_the_same_config() -> None:
    cfg = config()
    assert RouterConfig.model_validate(cfg.model_dump(mode="json")) == cfg


def test_empty_config_is_valid() -> None:
    assert EMPTY_CONFIG.networks == ()
    assert RouterConfig.model_validate({}) == EMPTY_CONFIG


def _set(body: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    node: Any = body
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return body


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("networks", 1, "interface", "lladdr"), "02:00:00:00:01"),
        (("networks", 1, "interface", "addresses", 0), "172.16.0.300/24"),
        (("networks", 1, "network_type"), "public"),
        (("networks", 1, "subnets", 0, "cidr"), "172.16.0.1/24"),
        (("networks", 2, "subnets", 0, "dns_nameservers", 0), "dns.example"),
        (("networks", 2, "allocations", 0, "mac_address"), "not-a-mac"),
        (("networks", 2, "allocations", 0, "hostname"), "bad,name\ninjected"),
        (("networks", 2, "mtu"), 10),
        (("floating_ips", 0, "floating_ip"), "fd00:16::10"),
        (("static_routes", 0, "destination"), "10.50.0.0/33"),
        (("asn",), 0),
    ],
)
def test_invalid_field_is_named(path: tuple[str | int, ...], value: Any) -> None:
    locs = _error_locs(_set(router_body(), path, value))
    assert any(loc[: len(path)] == path for loc in locs), locs


@pytest.mark.parametrize(
    ("path", "value", "expected_loc"),
    [
        (("floating_ips", 0, "floating_ip"), "192.168.9.9", ("floating_ips", 0, "floating_ip")),
        (("floating_ips", 0, "fixed_ip"), "10.2.0.5", ("floating_ips", 0, "fixed_ip")),
        (("floating_ips", 0, "floating_ip"), "172.16.0.2", ("floating_ips", 0, "floating_ip")),
        (("static_routes", 0, "next_hop"), "10.77.0.1", ("static_routes", 0, "next_hop")),
        (("default_v4_gateway",), "10.1.0.1", ("default_v4_gateway",)),
        (("networks", 3, "interface", "lladdr"), EXT_MAC, ("networks", 3, "interface", "lladdr")),
        (("networks", 3, "network_id"), "int", ("networks", 3, "network_id")),
        (("networks", 3, "network_type"), "external", ("networks", 3, "network_type")),
    ],
)
def test_inconsistent_config_names_the_field_to_fix(
    path: tuple[str | int, ...], value: Any, expected_loc: tuple[str | int, ...]
) -> None:
    assert expected_loc in _error_locs(_set(router_body(), path, value))


def test_a_fixed_ip_with_two_floating_ips_is_refused() -> None:
    body = router_body()
    body["floating_ips"].append({"floating_ip": "172.16.0.11", "fixed_ip": "10.1.0.5"})
    assert ("floating_ips", 1, "fixed_ip") in _error_locs(body)


def test_provider_rule_must_name_a_label_or_cidr() -> None:
    body = router_body()
    body["prerules"] = [{"chain": "input", "action": "drop", "source": "nolabel"}]
    assert ("prerules", 0, "source") in _error_locs(body)


def test_provider_rule_port_needs_tcp_or_udp() -> None:
    body = router_body()
    body["postrules"] = [{"chain": "forward", "action": "drop", "destination_port": 22}]
    assert any(loc[:2] == ("postrules", 0) for loc in _error_locs(body))


def test_ipv6_modes_must_agree() -> None:
    body = router_body()
    body["networks"][2]["subnets"][1]["ipv6_address_mode"] = "slaac"
    assert any(loc[:4] == ("networks", 2, "subnets", 1) for loc in _error_locs(body))


def test_metadata_ports_follow_network_ids_not_list_order() -> None:
    body = router_body()
    ports = config(body).metadata_ports()
    body["networks"].reverse()
    assert config(body).metadata_ports() == ports
    assert sorted(ports.values()) == [METADATA_BASE_PORT + 1, METADATA_BASE_PORT + 2]
    assert set(ports) == {"int", "iso"}


def test_floating_ips_take_the_prefix_of_their_external_subnet() -> None:
    assert config().floating_ip_interfaces() == [ipaddress.IPv4Interface("172.16.0.10/24")]


def test_bgp_peers_are_the_external_ipv6_gateways() -> None:
    assert config().bgp_peers() == [ipaddress.IPv6Address("fd00:16::1")]


def test_config_is_immutable() -> None:
    cfg = config()
    with pytest.raises(ValidationError):
        cfg.hostname = "other"  # type: ignore[misc]
