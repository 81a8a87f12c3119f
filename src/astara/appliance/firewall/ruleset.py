"""The appliance's nftables ruleset as data, and its rendering to ``nft -f`` input.

Rules are built as values (which interface, which addresses, which verdict)
and only this module turns them into nft syntax.  Every value it prints is
either an ``ipaddress`` object, an integer, a keyword from a closed set or an
interface name checked against the kernel's naming rules, so no configuration
value can smuggle syntax into the ruleset.

The whole appliance lives in one table of its own, ``inet astara``.  The
rendered text replaces that table in a single nft transaction (declare, delete,
re-create), so packets see either the old ruleset or the new one, never a gap,
and rules other programs installed in other tables are left alone.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from astara.appliance.model import IPAddress, IPNetwork

TABLE_FAMILY = "inet"
TABLE_NAME = "astara"

L4Proto = Literal["tcp", "udp", "icmp", "icmpv6", "vrrp"]
Verdict = Literal["accept", "drop", "reject"]
Chain = Literal["input", "forward", "prerouting", "postrouting"]

_IFNAME = re.compile(r"^[A-Za-z0-9_.:@+-]{1,15}$")
_COMMENT = re.compile(r"^[A-Za-z0-9 _.,:/()-]{0,128}$")


@dataclass(frozen=True)
class ChainSpec:
    kind: Literal["filter", "nat"]
    priority: Literal["filter", "dstnat", "srcnat"]
    policy: Literal["accept", "drop"]


CHAINS: Mapping[Chain, ChainSpec] = {
    "input": ChainSpec("filter", "filter", "drop"),
    "forward": ChainSpec("filter", "filter", "drop"),
    "prerouting": ChainSpec("nat", "dstnat", "accept"),
    "postrouting": ChainSpec("nat", "srcnat", "accept"),
}


@dataclass(frozen=True)
class SnatTo:
    address: ipaddress.IPv4Address


@dataclass(frozen=True)
class NatMap:
    """Translate the destination (dnat) or source (snat) through a named map."""

    kind: Literal["dnat", "snat"]
    map_name: str


@dataclass(frozen=True)
class RedirectTo:
    port: int


@dataclass(frozen=True)
class Masquerade:
    pass


Statement = Verdict | SnatTo | NatMap | RedirectTo | Masquerade
Address = IPAddress | IPNetwork


@dataclass(frozen=True)
class Rule:
    """Matches that must all hold, then one statement.

    ``saddr``/``daddr`` hold addresses of one IP version; ``nfproto`` restricts
    a rule to one version when it matches no address.
    """

    statement: Statement
    iif: tuple[str, ...] = ()
    oif: tuple[str, ...] = ()
    nfproto: Literal[4, 6] | None = None
    saddr: tuple[Address, ...] = ()
    daddr: tuple[Address, ...] = ()
    l4proto: L4Proto | None = None
    dport: tuple[int, ...] = ()
    icmp_types: tuple[str, ...] = ()
    ct_state: tuple[str, ...] = ()
    ct_status_dnat: bool = False
    comment: str = ""

    @property
    def ip_version(self) -> int | None:
        versions = {a.version for a in (*self.saddr, *self.daddr)}
        if len(versions) > 1 or (self.nfproto and versions and versions != {self.nfproto}):
            raise ValueError(f"rule mixes IP versions: {self}")
        return versions.pop() if versions else self.nfproto


@dataclass(frozen=True)
class Ruleset:
    chains: Mapping[Chain, tuple[Rule, ...]]
    maps: Mapping[str, Mapping[ipaddress.IPv4Address, ipaddress.IPv4Address]] = field(
        default_factory=dict
    )


ICMP_TYPE_KEYWORDS = {
    "echo-request",
    "nd-router-solicit",
    "nd-router-advert",
    "nd-neighbor-solicit",
    "nd-neighbor-advert",
    "mld-listener-query",
    "mld-listener-report",
    "mld2-listener-report",
}
CT_STATE_KEYWORDS = {"established", "related", "invalid", "new"}
PROTOCOL_NUMBERS: Mapping[L4Proto, int] = {"vrrp": 112}
"""Protocols matched by number: nft would look their names up in /etc/protocols,
which an appliance image need not have."""


def render(ruleset: Ruleset) -> str:
    """The ``nft -f`` input that atomically replaces the appliance's table."""
    table = f"table {TABLE_FAMILY} {TABLE_NAME}"
    lines = [f"{table} {{}}", f"delete {table}", f"{table} {{"]
    for name, elements in sorted(ruleset.maps.items()):
        lines += _render_map(name, elements)
    for chain, spec in CHAINS.items():
        lines.append(f"\tchain {chain} {{")
        lines.append(
            f"\t\ttype {spec.kind} hook {chain} priority {spec.priority}; policy {spec.policy};"
        )
        lines += [f"\t\t{render_rule(rule)}" for rule in ruleset.chains.get(chain, ())]
        lines.append("\t}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _render_map(
    name: str, elements: Mapping[ipaddress.IPv4Address, ipaddress.IPv4Address]
) -> list[str]:
    _check(name, re.compile(r"^[a-z_]{1,32}$"), "map name")
    lines = [f"\tmap {name} {{", "\t\ttype ipv4_addr : ipv4_addr"]
    if elements:
        pairs = ", ".join(f"{k} : {v}" for k, v in sorted(elements.items()))
        lines.append(f"\t\telements = {{ {pairs} }}")
    lines.append("\t}")
    return lines


def render_rule(rule: Rule) -> str:
    family = {4: "ip", 6: "ip6", None: None}[rule.ip_version]
    parts: list[str] = []
    if rule.iif:
        parts.append(f"iifname {_set(_ifname(i) for i in rule.iif)}")
    if rule.oif:
        parts.append(f"oifname {_set(_ifname(i) for i in rule.oif)}")
    if rule.nfproto and not (rule.saddr or rule.daddr):
        parts.append(f"meta nfproto {'ipv4' if rule.nfproto == 4 else 'ipv6'}")
    if rule.saddr:
        parts.append(f"{family} saddr {_set(str(a) for a in rule.saddr)}")
    if rule.daddr:
        parts.append(f"{family} daddr {_set(str(a) for a in rule.daddr)}")
    parts += _render_l4(rule)
    if rule.ct_state:
        parts.append("ct state " + ",".join(_keyword(s, CT_STATE_KEYWORDS) for s in rule.ct_state))
    if rule.ct_status_dnat:
        parts.append("ct status dnat")
    parts.append(_render_statement(rule.statement))
    if rule.comment:
        parts.append(f'comment "{_check(rule.comment, _COMMENT, "comment")}"')
    return " ".join(parts)


def _render_l4(rule: Rule) -> list[str]:
    if rule.l4proto is None:
        if rule.dport or rule.icmp_types:
            raise ValueError(f"rule has ports or ICMP types without a protocol: {rule}")
        return []
    if rule.l4proto in PROTOCOL_NUMBERS:
        if rule.dport or rule.icmp_types:
            raise ValueError(f"{rule.l4proto} has neither ports nor types: {rule}")
        return [f"meta l4proto {PROTOCOL_NUMBERS[rule.l4proto]}"]
    if rule.dport:
        return [f"{rule.l4proto} dport {_set(str(_port(p)) for p in rule.dport)}"]
    if rule.icmp_types:
        types = _set(_keyword(t, ICMP_TYPE_KEYWORDS) for t in rule.icmp_types)
        return [f"{rule.l4proto} type {types}"]
    return [f"meta l4proto {rule.l4proto}"]


def _render_statement(statement: Statement) -> str:
    match statement:
        case "accept" | "drop" | "reject":
            return statement
        case SnatTo(address):
            return f"snat ip to {ipaddress.IPv4Address(address)}"
        case NatMap("dnat", map_name):
            return f"dnat ip to ip daddr map @{map_name}"
        case NatMap("snat", map_name):
            return f"snat ip to ip saddr map @{map_name}"
        case RedirectTo(port):
            return f"redirect to :{_port(port)}"
        case Masquerade():
            return "masquerade"
    raise ValueError(f"unknown statement {statement!r}")


def _set(items: Iterable[str]) -> str:
    values = list(dict.fromkeys(items))
    return values[0] if len(values) == 1 else "{ " + ", ".join(values) + " }"


def _ifname(name: str) -> str:
    return '"' + _check(name, _IFNAME, "interface name") + '"'


def _port(port: int) -> int:
    if not 1 <= int(port) <= 65535:
        raise ValueError(f"not a port: {port}")
    return int(port)


def _keyword(word: str, allowed: set[str]) -> str:
    if word not in allowed:
        raise ValueError(f"unexpected nft keyword {word!r}")
    return word


def _check(value: str, pattern: re.Pattern[str], what: str) -> str:
    if not pattern.match(value):
        raise ValueError(f"refusing to render {what} {value!r}")
    return value
