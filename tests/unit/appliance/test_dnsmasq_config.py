"""dnsmasq's files for a configuration."""

from __future__ import annotations

import tempfile
from pathlib import Path

from astara.appliance.dnsmasq_config import MAIN_FILE, render
from astara.appliance.services.dhcp import decide, traversable_by_others

from .configs import VM_MAC, modified, router_body, target

DIR = Path("/state/dnsmasq")


def _files(body: dict | None = None) -> dict[str, str]:
    return render(target(body), DIR)


def test_one_file_set_per_tenant_interface_with_dhcp() -> None:
    files = _files()
    assert set(files) == {
        MAIN_FILE,
        *(f"{i}.{s}" for i in ("eth2", "eth3") for s in ("conf", "hosts", "opts")),
    }
    main = files[MAIN_FILE].splitlines()
    assert f"conf-file={DIR}/eth2.conf" in main
    assert f"pid-file={DIR}/dnsmasq.pid" in main
    assert "except-interface=lo" in main


def test_dnsmasq_drops_privileges_unless_told_to_keep_root() -> None:
    assert not any(line.startswith("user=") for line in _files()[MAIN_FILE].splitlines())
    kept = render(target(), DIR, keep_root=True)[MAIN_FILE].splitlines()
    assert "user=root" in kept


def test_a_directory_under_a_private_parent_is_not_traversable_by_others() -> None:
    # Under /tmp rather than pytest's tmp_path, whose own parents are private (0700).
    with tempfile.TemporaryDirectory(prefix="astt-", dir="/tmp") as top:
        private = Path(top)
        inner = private / "dnsmasq"
        inner.mkdir(mode=0o755)
        private.chmod(0o700)
        assert not traversable_by_others(inner)
        private.chmod(0o711)
        assert traversable_by_others(inner)


def test_static_lease_per_allocation_with_all_its_dhcp_addresses() -> None:
    assert _files()["eth2.hosts"] == f"{VM_MAC},10.1.0.5,[fd00:1::5],10-1-0-5\n"


def test_addresses_without_dhcp_get_no_lease() -> None:
    body = router_body()
    body["networks"][2]["allocations"][0]["ip_addresses"] = {"10.1.0.5": False, "fd00:1::5": True}
    assert _files(body)["eth2.hosts"] == f"{VM_MAC},[fd00:1::5],10-1-0-5\n"


def test_ranges_and_ra_modes() -> None:
    conf = _files()["eth2.conf"].splitlines()
    assert "interface=eth2" in conf
    assert "dhcp-range=set:eth2_0,10.1.0.0,static,255.255.255.0,86400s" in conf
    assert "dhcp-range=set:eth2_1,fd00:1::,static,64,86400s" in conf
    assert "enable-ra" in _files()[MAIN_FILE].splitlines()


def test_slaac_and_stateless_modes() -> None:
    body = router_body()
    subnet = body["networks"][2]["subnets"][1]
    subnet.update(ipv6_ra_mode="slaac", ipv6_address_mode="slaac", dhcp_enabled=False)
    assert "dhcp-range=set:eth2_1,fd00:1::,ra-only,64,86400s" in _files(body)["eth2.conf"]
    subnet.update(
        ipv6_ra_mode="dhcpv6-stateless", ipv6_address_mode="dhcpv6-stateless", dhcp_enabled=True
    )
    assert "dhcp-range=set:eth2_1,fd00:1::,ra-stateless,64,86400s" in _files(body)["eth2.conf"]


def test_options_gateway_dns_mtu_and_classless_routes() -> None:
    opts = _files()["eth2.opts"].splitlines()
    assert "tag:eth2_0,option:router,10.1.0.1" in opts
    assert "tag:eth2_0,option:dns-server,10.1.0.53" in opts
    assert "tag:eth2_0,option:mtu,1450" in opts
    # RFC 3442 clients ignore the router option once they get classless routes.
    assert (
        "tag:eth2_0,option:classless-static-route,0.0.0.0/0,10.1.0.1,10.9.0.0/16,10.1.0.254" in opts
    )


def test_subnet_without_gateway_offers_no_router() -> None:
    opts = _files()["eth3.opts"].splitlines()
    assert opts == ["tag:eth3_0,option:router"]


def test_no_dhcp_anywhere_means_no_dnsmasq() -> None:
    body = router_body()
    for net in body["networks"]:
        for subnet in net["subnets"]:
            subnet["dhcp_enabled"] = False
            subnet.pop("ipv6_ra_mode", None)
            subnet.pop("ipv6_address_mode", None)
    assert _files(body) == {}


def test_removed_allocation_only_changes_the_hosts_file() -> None:
    before = _files()
    body = router_body()
    body["networks"][2]["allocations"] = []
    body["floating_ips"] = []
    after = _files(body)
    assert [n for n in before if before[n] != after[n]] == ["eth2.hosts"]


def test_restart_only_when_more_than_leases_or_options_changed() -> None:
    assert decide(needed=True, running=True, changed=[]) == "none"
    assert decide(needed=True, running=True, changed=["eth2.hosts", "eth2.opts"]) == "reload"
    assert decide(needed=True, running=True, changed=["eth2.conf"]) == "restart"
    assert decide(needed=True, running=True, changed=[MAIN_FILE, "eth3.hosts"]) == "restart"
    assert decide(needed=True, running=False, changed=[]) == "start"
    assert decide(needed=False, running=True, changed=[MAIN_FILE]) == "stop"
    assert decide(needed=False, running=False, changed=[]) == "none"


def test_network_removed_drops_its_files() -> None:
    body = modified(networks=router_body()["networks"][:3])
    assert not any(name.startswith("eth3") for name in _files(body))
