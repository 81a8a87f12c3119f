"""Gratuitous ARP (what is announced, the frame) and the hostname file."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from astara.appliance.services.arp import ARP_REPLY, ARP_REQUEST, announced_addresses, arp_frame
from astara.appliance.services.base import NOTHING
from astara.appliance.services.hostname import HostnameService, read_hostname

from .configs import modified, router_body, target

MAC = bytes.fromhex("020000000101")
FIP = ipaddress.IPv4Address("172.16.0.10")


def test_external_and_tenant_v4_addresses_and_floating_ips_are_announced() -> None:
    announced = announced_addresses(target())
    assert {
        (ipaddress.IPv4Address("172.16.0.2"), "eth1"),
        (FIP, "eth1"),
        (ipaddress.IPv4Address("10.1.0.1"), "eth2"),
    } <= announced
    assert all(address.version == 4 for address, _ in announced)
    assert not any(ifname == "eth0" for _, ifname in announced)  # management: not announced
    assert announced_addresses(NOTHING) == set()


def test_only_a_new_floating_ip_is_new() -> None:
    before = target(modified(floating_ips=[]))
    assert announced_addresses(target()) - announced_addresses(before) == {(FIP, "eth1")}


def test_ha_appliances_leave_announcements_to_keepalived() -> None:
    body = router_body()
    body.update(ha_resource=True, ha_config={"peers": ["fd00:aa::6"]})
    assert announced_addresses(target(body)) == set()


def test_announcement_frame_layout() -> None:
    frame = arp_frame(ARP_REQUEST, MAC, FIP)
    assert len(frame) == 42
    assert frame[:6] == b"\xff" * 6
    assert frame[6:12] == MAC
    assert frame[12:14] == b"\x08\x06"
    assert frame[14:22] == bytes.fromhex("0001080006040001")
    assert frame[22:28] == MAC
    assert frame[28:32] == FIP.packed
    assert frame[32:38] == b"\x00" * 6
    assert frame[38:42] == FIP.packed
    reply = arp_frame(ARP_REPLY, MAC, FIP)
    assert reply[20:22] == b"\x00\x02"
    assert reply[32:38] == MAC


def test_hostname_is_written_to_the_state_dir_and_removed_with_the_config(
    tmp_path: Path,
) -> None:
    service = HostnameService(tmp_path)
    service.apply(NOTHING, target())
    assert read_hostname(tmp_path) == "ak-tenant-1"
    inode = (tmp_path / "hostname").stat().st_ino
    service.apply(target(), target())
    assert (tmp_path / "hostname").stat().st_ino == inode
    service.rollback(target(), NOTHING)
    assert read_hostname(tmp_path) is None
