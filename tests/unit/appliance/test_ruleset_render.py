"""Rendering the ruleset data into nft input."""

from __future__ import annotations

import ipaddress

import pytest

from astara.appliance.firewall.policy import AgentAccess, build_ruleset
from astara.appliance.firewall.ruleset import NatMap, RedirectTo, Rule, Ruleset, render, render_rule

from .configs import target

V4 = ipaddress.IPv4Address


def test_table_is_replaced_in_one_transaction() -> None:
    lines = render(Ruleset(chains={})).splitlines()
    assert lines[:3] == ["table inet astara {}", "delete table inet astara", "table inet astara {"]
    assert "flush ruleset" not in lines


def test_chains_have_hooks_and_default_deny_for_filtering() -> None:
    text = render(Ruleset(chains={}))
    assert "type filter hook input priority filter; policy drop;" in text
    assert "type filter hook forward priority filter; policy drop;" in text
    assert "type nat hook prerouting priority dstnat; policy accept;" in text
    assert "type nat hook postrouting priority srcnat; policy accept;" in text


def test_nat_maps_hold_their_elements() -> None:
    text = render(
        Ruleset(
            chains={},
            maps={
                "fip_dnat": {V4("172.16.0.11"): V4("10.1.0.6"), V4("172.16.0.10"): V4("10.1.0.5")}
            },
        )
    )
    assert "elements = { 172.16.0.10 : 10.1.0.5, 172.16.0.11 : 10.1.0.6 }" in text
    empty = render(Ruleset(chains={}, maps={"fip_dnat": {}}))
    assert "elements" not in empty


@pytest.mark.parametrize(
    ("rule", "text"),
    [
        (
            Rule("accept", iif=("eth0",), l4proto="tcp", dport=(22, 5000)),
            'iifname "eth0" tcp dport { 22, 5000 } accept',
        ),
        (
            Rule(
                RedirectTo(9601),
                iif=("eth2",),
                daddr=(V4("169.254.169.254"),),
                l4proto="tcp",
                dport=(80,),
            ),
            'iifname "eth2" ip daddr 169.254.169.254 tcp dport 80 redirect to :9601',
        ),
        (
            Rule(NatMap("dnat", "fip_dnat"), iif=("eth1", "eth2"), nfproto=4),
            'iifname { "eth1", "eth2" } meta nfproto ipv4 dnat ip to ip daddr map @fip_dnat',
        ),
        (
            Rule(
                "accept",
                saddr=(ipaddress.ip_network("fd00:1::/64"),),
                ct_state=("established", "related"),
            ),
            "ip6 saddr fd00:1::/64 ct state established,related accept",
        ),
        (Rule("drop", iif=("eth3",), comment="x y"), 'iifname "eth3" drop comment "x y"'),
    ],
)
def test_rule_text(rule: Rule, text: str) -> None:
    assert render_rule(rule) == text


@pytest.mark.parametrize(
    "rule",
    [
        Rule("accept", iif=('eth0" accept; flush ruleset; "',)),
        Rule("accept", comment='"; flush ruleset'),
        Rule("accept", dport=(22,)),
        Rule("accept", l4proto="tcp", dport=(70000,)),
        Rule("accept", saddr=(V4("10.0.0.1"),), daddr=(ipaddress.ip_address("fd00::1"),)),
        Rule("accept", l4proto="icmpv6", icmp_types=("anything; drop",)),
    ],
)
def test_values_that_would_change_the_syntax_are_refused(rule: Rule) -> None:
    with pytest.raises(ValueError):
        render_rule(rule)


def test_rendering_is_deterministic() -> None:
    access = AgentAccess(5000, None)
    assert render(build_ruleset(target(), access)) == render(build_ruleset(target(), access))
