"""Address arithmetic: default gateway and pools, pool checks, next free address, EUI-64."""

from __future__ import annotations

from ipaddress import ip_address, ip_network

import pytest

from astara.localapi import ipam
from astara.localapi.errors import BadRequest, Conflict


def test_default_pools_cut_the_gateway_out_of_the_usable_range() -> None:
    network = ip_network("10.2.0.0/24")
    gateway = ipam.default_gateway(network)
    assert str(gateway) == "10.2.0.1"
    assert ipam.default_pools(network, gateway) == [
        (ip_address("10.2.0.2"), ip_address("10.2.0.254"))
    ]


def test_a_gateway_in_the_middle_splits_the_range_in_two() -> None:
    network = ip_network("10.0.0.0/29")
    pools = ipam.default_pools(network, ip_address("10.0.0.4"))
    assert pools == [
        (ip_address("10.0.0.1"), ip_address("10.0.0.3")),
        (ip_address("10.0.0.5"), ip_address("10.0.0.6")),
    ]


def test_without_a_gateway_the_whole_range_is_allocatable() -> None:
    assert ipam.default_pools(ip_network("192.168.5.0/30"), None) == [
        (ip_address("192.168.5.1"), ip_address("192.168.5.2"))
    ]


def test_ipv6_keeps_the_last_address_but_not_the_subnet_router_anycast() -> None:
    first, last = ipam.usable_range(ip_network("fd00::/64"))
    assert (str(first), str(last)) == ("fd00::1", "fd00::ffff:ffff:ffff:ffff")


@pytest.mark.parametrize(
    ("pools", "error_type"),
    [
        ([("10.0.0.20", "10.0.0.10")], "InvalidAllocationPool"),
        ([("10.0.0.0", "10.0.0.10")], "OutOfBoundsAllocationPool"),
        ([("10.0.0.200", "10.0.1.10")], "OutOfBoundsAllocationPool"),
        ([("10.0.0.2", "10.0.0.10"), ("10.0.0.10", "10.0.0.20")], "OverlappingAllocationPools"),
        ([("fd00::2", "fd00::9")], "InvalidAllocationPool"),
    ],
)
def test_invalid_pools_are_refused(pools: list[tuple[str, str]], error_type: str) -> None:
    parsed = [(ip_address(start), ip_address(end)) for start, end in pools]
    with pytest.raises(BadRequest) as raised:
        ipam.validate_pools(ip_network("10.0.0.0/24"), parsed, ip_address("10.0.0.1"))
    assert raised.value.error_type == error_type


def test_a_pool_holding_the_gateway_conflicts() -> None:
    pools = [(ip_address("10.0.0.1"), ip_address("10.0.0.9"))]
    with pytest.raises(Conflict) as raised:
        ipam.validate_pools(ip_network("10.0.0.0/24"), pools, ip_address("10.0.0.5"))
    assert raised.value.error_type == "GatewayConflictWithAllocationPools"


def test_first_free_skips_used_addresses_and_moves_on_to_the_next_pool() -> None:
    pools = [
        (ip_address("10.0.0.2"), ip_address("10.0.0.3")),
        (ip_address("10.0.0.8"), ip_address("10.0.0.9")),
    ]
    used = {ip_address("10.0.0.2"), ip_address("10.0.0.3"), ip_address("10.0.0.8")}
    assert ipam.first_free(pools, used) == ip_address("10.0.0.9")
    assert ipam.first_free(pools, used | {ip_address("10.0.0.9")}) is None


@pytest.mark.parametrize(
    ("prefix", "mac", "expected"),
    [
        # Both taken from the install guide's sample output.
        (
            "fdca:3ba5:a17a:acda::/64",
            "fa:16:3e:3f:4f:95",
            "fdca:3ba5:a17a:acda:f816:3eff:fe3f:4f95",
        ),
        (
            "fdd6:a1fa:cfa8:f4d0::/64",
            "fa:16:3e:d6:2e:3b",
            "fdd6:a1fa:cfa8:f4d0:f816:3eff:fed6:2e3b",
        ),
    ],
)
def test_eui64_matches_what_hosts_configure(prefix: str, mac: str, expected: str) -> None:
    assert ipam.eui64(ip_network(prefix), mac) == ip_address(expected)


def test_eui64_needs_a_64_bit_prefix() -> None:
    with pytest.raises(BadRequest):
        ipam.eui64(ip_network("fd00::/80"), "fa:16:3e:00:00:01")


@pytest.mark.parametrize("cidr", ["10.0.0.0", "10.0.0.0/33", "nonsense/24", "10.0.0.0/255.0.0.0"])
def test_malformed_cidrs_are_invalid_input(cidr: str) -> None:
    with pytest.raises(BadRequest) as raised:
        ipam.parse_cidr(cidr)
    assert raised.value.error_type == "InvalidInput"


def test_a_cidr_with_host_bits_suggests_the_network_address() -> None:
    with pytest.raises(BadRequest) as raised:
        ipam.parse_cidr("10.2.0.5/24")
    assert "10.2.0.0/24" in raised.value.message
