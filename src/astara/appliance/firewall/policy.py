"""What the appliance lets through: the ruleset for one configuration.

Input is default-deny: loopback, replies to what the appliance started, the
ICMP(v6) that IPv4/IPv6 need (ND, RA, echo), DHCP, DNS and the metadata proxy
from tenant networks, the agent API and SSH from the management network only,
BGP from the upstream peers, and from the other appliances of an HA pair,
on the management network only, their VRRP advertisements and conntrackd's
state sync.  Forwarding is default-deny too: internal
networks may reach the outside (through SNAT or their floating IP) and each
other; from the outside only connections to a floating IP (IPv4, DNATed) and
routed IPv6 come in, the latter filtered by the security groups at the ports.
Isolated networks get DHCP, DNS and metadata but are not routed.

The operator's ``prerules`` come before the generated rules of their chain
and ``postrules`` after them, both behind the connection-tracking shortcut.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from astara.appliance.firewall.ruleset import (
    Address,
    Chain,
    Masquerade,
    NatMap,
    RedirectTo,
    Rule,
    Ruleset,
    SnatTo,
)
from astara.appliance.model import (
    METADATA_ADDRESS,
    Network,
    NetworkType,
    ProviderRule,
    RouterConfig,
)
from astara.appliance.services.base import Target
from astara.appliance.services.conntrack_sync import ha_management, sync_links

SSH_PORT = 22
DNS_PORT = 53
DHCPV4_SERVER_PORT = 67
DHCPV6_SERVER_PORT = 547
BGP_PORT = 179
HTTP_PORT = 80
FIP_DNAT_MAP = "fip_dnat"
FIP_SNAT_MAP = "fip_snat"

ICMPV6_NEEDED = (
    "echo-request",
    "nd-router-solicit",
    "nd-router-advert",
    "nd-neighbor-solicit",
    "nd-neighbor-advert",
    "mld-listener-query",
    "mld-listener-report",
    "mld2-listener-report",
)


@dataclass(frozen=True)
class AgentAccess:
    """How the orchestrator reaches the agent; kept open whatever the config says."""

    api_port: int
    listen_address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None


def build_ruleset(target: Target, access: AgentAccess) -> Ruleset:
    cfg = target.config
    names = _Names(target)
    fips = {f.floating_ip: f.fixed_ip for f in cfg.floating_ips}
    maps = {FIP_DNAT_MAP: fips, FIP_SNAT_MAP: {v: k for k, v in fips.items()}} if fips else {}
    chains: dict[Chain, tuple[Rule, ...]] = {
        "input": (
            *_conntrack_shortcut(loopback=True),
            *_provider_rules(cfg, cfg.prerules, "input", names),
            *_input_rules(cfg, names, access),
            *_ha_pair_rules(target),
            *_provider_rules(cfg, cfg.postrules, "input", names),
        ),
        "forward": (
            *_conntrack_shortcut(loopback=False),
            *_provider_rules(cfg, cfg.prerules, "forward", names),
            *_forward_rules(names),
            *_provider_rules(cfg, cfg.postrules, "forward", names),
        ),
        "prerouting": _prerouting_rules(cfg, names, bool(fips)),
        "postrouting": _postrouting_rules(cfg, names, bool(fips)),
    }
    return Ruleset(chains=chains, maps=maps)


class _Names:
    """Kernel interface names of the configuration's networks, by role."""

    def __init__(self, target: Target) -> None:
        self._target = target
        self.by_type: dict[NetworkType, tuple[str, ...]] = {}
        for net in target.config.networks:
            names = self.by_type.get(net.network_type, ())
            self.by_type[net.network_type] = (*names, target.ifname(net))
        self.external = self.by_type.get("external", ())
        self.management = self.by_type.get("management", ())
        self.internal = self.by_type.get("internal", ())

    def of(self, network: Network) -> str:
        return self._target.ifname(network)


def _conntrack_shortcut(loopback: bool) -> list[Rule]:
    rules = [Rule("accept", iif=("lo",))] if loopback else []
    return [
        *rules,
        Rule("accept", ct_state=("established", "related")),
        Rule("drop", ct_state=("invalid",)),
    ]


def _input_rules(cfg: RouterConfig, names: _Names, access: AgentAccess) -> list[Rule]:
    rules = [
        Rule("accept", l4proto="icmp", icmp_types=("echo-request",)),
        Rule("accept", l4proto="icmpv6", icmp_types=ICMPV6_NEEDED),
    ]
    if names.management:
        rules.append(
            Rule(
                "accept",
                iif=names.management,
                l4proto="tcp",
                dport=(SSH_PORT, access.api_port),
                comment="ssh and agent API from management",
            )
        )
    else:
        listen = access.listen_address
        daddr: tuple[Address, ...] = (listen,) if listen and not listen.is_unspecified else ()
        rules.append(
            Rule(
                "accept",
                daddr=daddr,
                l4proto="tcp",
                dport=(access.api_port,),
                comment="agent API until a management network is configured",
            )
        )
    ports = cfg.metadata_ports()
    for net in cfg.tenant_networks:
        iif = names.of(net)
        rules += [
            Rule(
                "accept",
                iif=(iif,),
                l4proto="udp",
                dport=(DHCPV4_SERVER_PORT, DHCPV6_SERVER_PORT, DNS_PORT),
            ),
            Rule("accept", iif=(iif,), l4proto="tcp", dport=(DNS_PORT, ports[net.network_id])),
        ]
    peers = cfg.bgp_peers()
    if names.external and peers:
        rules.append(
            Rule("accept", iif=names.external, saddr=tuple(peers), l4proto="tcp", dport=(BGP_PORT,))
        )
    return rules


def _ha_pair_rules(target: Target) -> list[Rule]:
    """VRRP and conntrackd sync from the pair's peers; anyone else could steal the router."""
    ha = ha_management(target)
    if ha is None:
        return []
    _own, mgt_ifname, peers = ha
    ports = tuple(sorted({link.port for link in sync_links(target)}))
    return [
        Rule("accept", iif=(mgt_ifname,), saddr=tuple(peers), l4proto="vrrp", comment="VRRP"),
        Rule(
            "accept",
            iif=(mgt_ifname,),
            saddr=tuple(peers),
            l4proto="udp",
            dport=ports,
            comment="conntrack sync",
        ),
    ]


def _forward_rules(names: _Names) -> list[Rule]:
    if not names.internal:
        return []
    rules = [Rule("accept", iif=names.internal, oif=names.internal, comment="east-west")]
    if names.external:
        rules += [
            Rule("accept", iif=names.internal, oif=names.external, comment="outbound"),
            Rule(
                "accept",
                iif=names.external,
                oif=names.internal,
                ct_status_dnat=True,
                comment="inbound to floating IPs",
            ),
            Rule(
                "accept",
                iif=names.external,
                oif=names.internal,
                nfproto=6,
                comment="routed IPv6",
            ),
        ]
    return rules


def _internal_v4_subnets(cfg: RouterConfig) -> tuple[Address, ...]:
    return tuple(
        s.cidr for n in cfg.networks_of_type("internal") for s in n.subnets if s.cidr.version == 4
    )


def _prerouting_rules(cfg: RouterConfig, names: _Names, has_fips: bool) -> tuple[Rule, ...]:
    ports = cfg.metadata_ports()
    rules = [
        Rule(
            RedirectTo(ports[net.network_id]),
            iif=(names.of(net),),
            daddr=(METADATA_ADDRESS,),
            l4proto="tcp",
            dport=(HTTP_PORT,),
            comment="metadata",
        )
        for net in cfg.tenant_networks
        if net.first_address(4)
    ]
    if has_fips and names.external:
        rules.append(
            Rule(
                NatMap("dnat", FIP_DNAT_MAP),
                iif=(*names.external, *names.internal),
                nfproto=4,
                comment="floating IPs",
            )
        )
    return tuple(rules)


def _postrouting_rules(cfg: RouterConfig, names: _Names, has_fips: bool) -> tuple[Rule, ...]:
    external_v4 = cfg.external_v4_address
    subnets = _internal_v4_subnets(cfg)
    rules = []
    if has_fips and names.external:
        rules.append(
            Rule(
                NatMap("snat", FIP_SNAT_MAP), oif=names.external, nfproto=4, comment="floating IPs"
            )
        )
    if names.external and external_v4 and subnets:
        rules.append(
            Rule(SnatTo(external_v4), oif=names.external, saddr=subnets, comment="tenant SNAT")
        )
    if has_fips and subnets:
        rules.append(
            Rule(
                Masquerade(),
                oif=names.internal,
                saddr=subnets,
                ct_status_dnat=True,
                comment="hairpin to floating IPs",
            )
        )
    return tuple(rules)


def _provider_rules(
    cfg: RouterConfig, rules: tuple[ProviderRule, ...], chain: Chain, names: _Names
) -> list[Rule]:
    result = []
    for rule in rules:
        iif = names.by_type.get(rule.network_type, ()) if rule.network_type else ()
        if rule.chain != chain or (rule.network_type and not iif):
            continue
        sources = _resolve(cfg, rule.source)
        destinations = _resolve(cfg, rule.destination)
        for version in _versions(rule, sources, destinations):
            result.append(
                Rule(
                    rule.action,
                    iif=iif,
                    saddr=tuple(a for a in sources or () if a.version == version),
                    daddr=tuple(a for a in destinations or () if a.version == version),
                    l4proto=rule.protocol,
                    dport=(rule.destination_port,) if rule.destination_port else (),
                    comment=rule.comment,
                )
            )
    return result


def _versions(
    rule: ProviderRule,
    sources: tuple[Address, ...] | None,
    destinations: tuple[Address, ...] | None,
) -> list[int | None]:
    """The IP versions a provider rule is rendered for (None: one rule for both).

    A label may hold networks of both versions, and nft matches one version per
    rule, so such a rule becomes one rule per version.
    """
    versions: set[int | None] = {4, 6}
    for ends in (sources, destinations):
        if ends is not None:
            versions &= {a.version for a in ends}
    if rule.protocol == "icmp":
        versions &= {4}
    elif rule.protocol == "icmpv6":
        versions &= {6}
    elif sources is None and destinations is None:
        versions = {None}
    return sorted(versions, key=lambda v: v or 0)


def _resolve(cfg: RouterConfig, value: str | None) -> tuple[Address, ...] | None:
    """A CIDR or label name as networks; None when the rule does not match on it."""
    if value is None:
        return None
    if value in cfg.labels:
        return cfg.labels[value]
    return (ipaddress.ip_network(value),)
