"""A tiny evaluator of the ruleset data model, so tests can ask what happens to a packet.

It walks one chain the way nftables does: the first rule whose matches all
hold decides; a NAT-map rule whose lookup misses does not match; a packet no
rule decides gets the chain's policy.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from astara.appliance.firewall.ruleset import CHAINS, Chain, NatMap, Rule, Ruleset, Statement


@dataclass(frozen=True)
class Packet:
    saddr: str
    daddr: str
    iif: str = ""
    oif: str = ""
    proto: str = "tcp"
    dport: int | None = None
    icmp_type: str | None = None
    ct_state: str = "new"
    dnat: bool = False


def verdict(ruleset: Ruleset, chain: Chain, packet: Packet) -> Statement | tuple[str, str]:
    for rule in ruleset.chains.get(chain, ()):
        if not _matches(rule, packet):
            continue
        if isinstance(rule.statement, NatMap):
            key = ipaddress.IPv4Address(
                packet.daddr if rule.statement.kind == "dnat" else packet.saddr
            )
            translated = ruleset.maps[rule.statement.map_name].get(key)
            if translated is None:
                continue
            return (rule.statement.kind, str(translated))
        return rule.statement
    return CHAINS[chain].policy


def _in(address: str, candidates: tuple[object, ...]) -> bool:
    ip = ipaddress.ip_address(address)
    for candidate in candidates:
        if isinstance(candidate, ipaddress.IPv4Network | ipaddress.IPv6Network):
            if ip.version == candidate.version and ip in candidate:
                return True
        elif ip == candidate:
            return True
    return False


def _matches(rule: Rule, p: Packet) -> bool:
    version = ipaddress.ip_address(p.saddr).version
    checks = [
        not rule.iif or p.iif in rule.iif,
        not rule.oif or p.oif in rule.oif,
        rule.ip_version is None or rule.ip_version == version,
        not rule.saddr or _in(p.saddr, rule.saddr),
        not rule.daddr or _in(p.daddr, rule.daddr),
        rule.l4proto is None or rule.l4proto == p.proto,
        not rule.dport or p.dport in rule.dport,
        not rule.icmp_types or p.icmp_type in rule.icmp_types,
        not rule.ct_state or p.ct_state in rule.ct_state,
        not rule.ct_status_dnat or p.dnat,
    ]
    return all(checks)
