"""keepalived and conntrackd configuration for HA pairs."""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

from astara.appliance.services.base import Target
from astara.appliance.services.conntrack_sync import (
    SyncLink,
    render_conntrackd,
    render_failover_script,
    sync_links,
)
from astara.appliance.services.vrrp import render, virtual_router_id

from .configs import config, router_body, target


def _ha_body(peers: list[str], priority: int = 100, v4_management: bool = True) -> dict[str, Any]:
    body = router_body()
    if v4_management:
        body["networks"][0]["interface"]["addresses"] = ["192.168.1.5/24"]
        body["networks"][0]["subnets"][0]["cidr"] = "192.168.1.0/24"
    body.update(ha_resource=True, ha_config={"peers": peers, "priority": priority})
    return body


def _render(body: dict[str, Any], script: Path | None = None) -> str:
    text = render(target(body), script)
    assert text is not None
    return text


def test_no_keepalived_without_ha_or_peers() -> None:
    assert render(target(), None) is None
    assert render(target(_ha_body([])), None) is None
    body = _ha_body(["192.168.1.6"])
    body["ha_resource"] = False
    assert render(target(body), None) is None


def test_every_router_address_is_virtual_and_management_is_not() -> None:
    text = _render(_ha_body(["192.168.1.6"]))
    for vip in (
        "172.16.0.2/24 dev eth1",
        "172.16.0.10/24 dev eth1",
        "10.1.0.1/24 dev eth2",
        "fd00:1::1/64 dev eth2",
        "10.2.0.1/24 dev eth3",
    ):
        assert vip in text
    assert "192.168.1.5/24" not in text
    assert "unicast_src_ip 192.168.1.5" in text
    assert "0.0.0.0/0 via 172.16.0.1 dev eth1" in text
    assert "10.9.0.0/16 via 10.1.0.254 dev eth2" in text


def test_pair_settings_priority_nopreempt_and_authentication() -> None:
    text = _render(_ha_body(["192.168.1.6", "192.168.1.7"], priority=50))
    assert "priority 50" in text
    assert "state BACKUP" in text
    assert "nopreempt" in text
    assert "auth_type PASS" in text
    assert "\t\t192.168.1.6\n\t\t192.168.1.7\n" in text
    assert "track_interface {\n\t\teth1\n\t\teth2\n\t\teth3\n\t}" in text


def test_v6_management_uses_vrrp3_without_password() -> None:
    text = _render(_ha_body(["fd00:aa::6"], v4_management=False))
    assert "vrrp_version 3" in text
    assert "authentication" not in text
    assert "virtual_ipaddress {\n\t\tfd00:16::2/64 dev eth1\n\t}" in text


def test_virtual_router_id_depends_on_networks_not_their_order() -> None:
    body = _ha_body(["192.168.1.6"])
    shuffled = copy.deepcopy(body)
    random.Random(4).shuffle(shuffled["networks"])
    assert virtual_router_id(target(body)) == virtual_router_id(target(shuffled))
    assert _render(body) == _render(shuffled)
    body["networks"][2]["network_id"] = "another-int"
    ifnames = {"mgt": "eth0", "ext": "eth1", "another-int": "eth2", "iso": "eth3"}
    other = Target(config(body), ifnames)
    assert 1 <= virtual_router_id(other) <= 255
    assert virtual_router_id(other) != virtual_router_id(target(shuffled))


def test_removed_floating_ip_disappears_from_the_file() -> None:
    body = _ha_body(["192.168.1.6"])
    body["floating_ips"] = []
    assert "172.16.0.10" not in _render(body)


def test_notify_script_is_run_on_every_transition() -> None:
    text = _render(_ha_body(["192.168.1.6"]), Path("/state/failover.sh"))
    assert 'notify_master "/state/failover.sh primary"' in text
    assert 'notify_backup "/state/failover.sh backup"' in text
    assert 'notify_fault "/state/failover.sh fault"' in text


def test_one_sync_link_per_peer_with_ports_both_ends_agree_on() -> None:
    members = ["192.168.1.5", "192.168.1.6", "192.168.1.7"]

    def links_of(own: str) -> dict[str, int]:
        body = _ha_body([m for m in members if m != own])
        body["networks"][0]["interface"]["addresses"] = [f"{own}/24"]
        return {str(link.peer): link.port for link in sync_links(target(body))}

    views = {own: links_of(own) for own in members}
    for own, links in views.items():
        assert sorted(links) == sorted(m for m in members if m != own)
        assert len(set(links.values())) == len(links)
        for peer, port in links.items():
            assert views[peer][own] == port


def test_conntrackd_syncs_tcp_udp_and_icmp_with_its_peer(tmp_path: Path) -> None:
    link = sync_links(target(_ha_body(["192.168.1.6"])))[0]
    assert link == SyncLink(link.local, link.peer, link.port, "eth0")
    text = render_conntrackd(link, tmp_path, config(_ha_body(["192.168.1.6"])))
    for protocol in ("TCP", "UDP", "ICMP", "IPv6-ICMP"):
        assert f"\t\t\t{protocol}\n" in text
    assert "IPv4_address 192.168.1.5" in text
    assert "IPv4_Destination_Address 192.168.1.6" in text
    assert f"Path {tmp_path}/conntrackd-192.168.1.6.ctl" in text


def test_failover_script_commits_on_primary(tmp_path: Path) -> None:
    script = render_failover_script([tmp_path / "a b.conf"])
    assert f"for conf in '{tmp_path}/a b.conf'; do" in script
    assert 'conntrackd -C "$conf" -c' in script
