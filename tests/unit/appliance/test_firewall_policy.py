"""What the generated ruleset does to packets (evaluated on the rule data, not on text)."""

from __future__ import annotations

import ipaddress

import pytest

from astara.appliance.firewall.policy import AgentAccess, build_ruleset
from astara.appliance.firewall.ruleset import Masquerade, RedirectTo, Ruleset, SnatTo
from astara.appliance.services.base import NOTHING

from .configs import modified, target
from .nft_eval import Packet, verdict

API_PORT = 5000
ACCESS = AgentAccess(API_PORT, ipaddress.ip_address("fd00:aa::5"))
MGT, EXT, INT, ISO = "eth0", "eth1", "eth2", "eth3"


@pytest.fixture
def rules() -> Ruleset:
    return build_ruleset(target(), ACCESS)


@pytest.mark.parametrize(
    ("iif", "port", "expected"),
    [
        (MGT, API_PORT, "accept"),
        (MGT, 22, "accept"),
        (EXT, API_PORT, "drop"),
        (EXT, 22, "drop"),
        (INT, API_PORT, "drop"),
        (INT, 22, "drop"),
        (MGT, 9697, "drop"),
    ],
)
def test_agent_api_and_ssh_only_from_management(
    rules: Ruleset, iif: str, port: int, expected: str
) -> None:
    packet = Packet("fd00:aa::1", "fd00:aa::5", iif=iif, dport=port)
    assert verdict(rules, "input", packet) == expected


@pytest.mark.parametrize(
    ("iif", "proto", "port", "expected"),
    [
        (INT, "udp", 67, "accept"),
        (ISO, "udp", 67, "accept"),
        (INT, "udp", 53, "accept"),
        (INT, "tcp", 53, "accept"),
        (INT, "udp", 547, "accept"),
        (EXT, "udp", 67, "drop"),
        (EXT, "udp", 53, "drop"),
        (INT, "udp", 123, "drop"),
    ],
)
def test_dhcp_and_dns_only_from_tenant_networks(
    rules: Ruleset, iif: str, proto: str, port: int, expected: str
) -> None:
    packet = Packet("10.1.0.5", "10.1.0.1", iif=iif, proto=proto, dport=port)
    assert verdict(rules, "input", packet) == expected


def test_metadata_is_redirected_to_the_networks_proxy_port_and_let_in(rules: Ruleset) -> None:
    port = target().config.metadata_ports()["int"]
    request = Packet("10.1.0.5", "169.254.169.254", iif=INT, dport=80)
    assert verdict(rules, "prerouting", request) == RedirectTo(port)
    redirected = Packet("10.1.0.5", "10.1.0.1", iif=INT, dport=port)
    assert verdict(rules, "input", redirected) == "accept"
    other_network = Packet("10.2.0.5", "10.1.0.1", iif=ISO, dport=port)
    assert verdict(rules, "input", other_network) == "drop"


@pytest.mark.parametrize(
    ("packet", "expected"),
    [
        (
            Packet(
                "fd00:16::1", "fd00:16::2", iif=EXT, proto="icmpv6", icmp_type="nd-neighbor-solicit"
            ),
            "accept",
        ),
        (
            Packet(
                "fd00:1::5", "fd00:1::1", iif=INT, proto="icmpv6", icmp_type="nd-router-solicit"
            ),
            "accept",
        ),
        (
            Packet("172.16.0.1", "172.16.0.2", iif=EXT, proto="icmp", icmp_type="echo-request"),
            "accept",
        ),
        (Packet("172.16.0.1", "172.16.0.2", iif=EXT, dport=80, ct_state="established"), "accept"),
        (Packet("172.16.0.1", "172.16.0.2", iif=EXT, dport=80, ct_state="invalid"), "drop"),
        (Packet("127.0.0.1", "127.0.0.1", iif="lo", dport=9999), "accept"),
    ],
)
def test_input_basics(rules: Ruleset, packet: Packet, expected: str) -> None:
    assert verdict(rules, "input", packet) == expected


def test_bgp_only_from_the_upstream_peer(rules: Ruleset) -> None:
    peer = Packet("fd00:16::1", "fd00:16::2", iif=EXT, dport=179)
    stranger = Packet("fd00:16::7", "fd00:16::2", iif=EXT, dport=179)
    assert verdict(rules, "input", peer) == "accept"
    assert verdict(rules, "input", stranger) == "drop"


@pytest.mark.parametrize(
    ("packet", "expected"),
    [
        (Packet("10.1.0.6", "198.18.0.1", iif=INT, oif=EXT), "accept"),
        (Packet("198.18.0.1", "10.1.0.5", iif=EXT, oif=INT), "drop"),
        (Packet("198.18.0.1", "10.1.0.5", iif=EXT, oif=INT, dnat=True), "accept"),
        (Packet("198.18.0.1", "10.1.0.5", iif=EXT, oif=INT, ct_state="established"), "accept"),
        (Packet("fd00:16::9", "fd00:1::5", iif=EXT, oif=INT), "accept"),
        (Packet("10.2.0.5", "198.18.0.1", iif=ISO, oif=EXT), "drop"),
        (Packet("10.1.0.5", "10.2.0.5", iif=INT, oif=ISO), "drop"),
        (Packet("fd00:aa::9", "10.1.0.5", iif=MGT, oif=INT), "drop"),
    ],
)
def test_forwarding_policy(rules: Ruleset, packet: Packet, expected: str) -> None:
    assert verdict(rules, "forward", packet) == expected


def test_floating_ip_is_one_to_one_nat(rules: Ruleset) -> None:
    inbound = Packet("198.18.0.1", "172.16.0.10", iif=EXT)
    outbound = Packet("10.1.0.5", "198.18.0.1", iif=INT, oif=EXT)
    assert verdict(rules, "prerouting", inbound) == ("dnat", "10.1.0.5")
    assert verdict(rules, "postrouting", outbound) == ("snat", "172.16.0.10")


def test_tenant_traffic_leaves_from_the_routers_external_address(rules: Ruleset) -> None:
    outbound = Packet("10.1.0.6", "198.18.0.1", iif=INT, oif=EXT)
    assert verdict(rules, "postrouting", outbound) == SnatTo(ipaddress.IPv4Address("172.16.0.2"))


def test_addresses_that_are_not_floating_ips_are_not_translated(rules: Ruleset) -> None:
    inbound = Packet("198.18.0.1", "172.16.0.11", iif=EXT)
    assert verdict(rules, "prerouting", inbound) == "accept"


def test_east_west_and_isolated_traffic_is_not_translated(rules: Ruleset) -> None:
    east_west = Packet("10.1.0.5", "10.1.0.6", iif=INT, oif=INT)
    isolated = Packet("10.2.0.5", "198.18.0.1", iif=ISO, oif=EXT)
    assert verdict(rules, "postrouting", east_west) == "accept"
    assert verdict(rules, "postrouting", isolated) == "accept"


def test_hairpin_to_a_floating_ip_is_masqueraded(rules: Ruleset) -> None:
    to_fip = Packet("10.1.0.6", "172.16.0.10", iif=INT)
    assert verdict(rules, "prerouting", to_fip) == ("dnat", "10.1.0.5")
    back_out = Packet("10.1.0.6", "10.1.0.5", iif=INT, oif=INT, dnat=True)
    assert verdict(rules, "postrouting", back_out) == Masquerade()


def test_without_floating_ips_there_are_no_nat_maps() -> None:
    rules = build_ruleset(target(modified(floating_ips=[])), ACCESS)
    assert rules.maps == {}
    inbound = Packet("198.18.0.1", "172.16.0.10", iif=EXT)
    assert verdict(rules, "prerouting", inbound) == "accept"


def test_before_any_config_only_the_agent_api_is_open() -> None:
    rules = build_ruleset(NOTHING, ACCESS)
    api = Packet("fd00:aa::1", "fd00:aa::5", iif="eth0", dport=API_PORT)
    api_elsewhere = Packet("fd00:aa::1", "fd00:aa::6", iif="eth0", dport=API_PORT)
    ssh = Packet("fd00:aa::1", "fd00:aa::5", iif="eth0", dport=22)
    assert verdict(rules, "input", api) == "accept"
    assert verdict(rules, "input", api_elsewhere) == "drop"
    assert verdict(rules, "input", ssh) == "drop"
    assert verdict(rules, "forward", Packet("10.1.0.5", "198.18.0.1", iif="a", oif="b")) == "drop"


def test_provider_prerules_come_first_and_postrules_last() -> None:
    body = modified(
        prerules=[
            {"chain": "input", "action": "drop", "network_type": "management", "source": "ext"}
        ],
        postrules=[
            {
                "chain": "forward",
                "action": "accept",
                "network_type": "isolated",
                "destination": "198.18.0.0/15",
            }
        ],
        labels={"ext": ["192.168.57.0/24", "fd00:aa::/64"]},
    )
    rules = build_ruleset(target(body), ACCESS)
    blocked = Packet("fd00:aa::1", "fd00:aa::5", iif=MGT, dport=API_PORT)
    assert verdict(rules, "input", blocked) == "drop"
    isolated_out = Packet("10.2.0.5", "198.18.0.1", iif=ISO, oif=EXT)
    assert verdict(rules, "forward", isolated_out) == "accept"
    isolated_elsewhere = Packet("10.2.0.5", "203.0.113.1", iif=ISO, oif=EXT)
    assert verdict(rules, "forward", isolated_elsewhere) == "drop"


def test_provider_rule_for_an_absent_network_type_is_left_out() -> None:
    body = modified(
        prerules=[{"chain": "forward", "action": "drop", "network_type": "loadbalancer"}]
    )
    assert build_ruleset(target(body), ACCESS) == build_ruleset(target(), ACCESS)
