"""The router appliance with real namespaces, nftables, dnsmasq and packets."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

from .conftest import (
    DNS_SERVER,
    FLOATING_IP,
    HERE,
    HOST_ROUTE,
    OUTSIDE_IP,
    PYTHON,
    ROUTER_EXT_IP,
    ROUTER_INT2_IP,
    ROUTER_INT_IP,
    SECOND_VM_MAC,
    VM_IP,
    RouterLab,
    start_agent,
    stop_agent,
)

ECHO_PORT = 7007


def _put(lab: RouterLab, body: dict) -> None:
    status, answer = lab.api("PUT", "/v1/system/config/", body)
    assert status == 200, answer


def _bring_up_vm_from_lease(lab: RouterLab) -> dict:
    lease = lab.dhcp_lease()
    lab.run(lab.vm, "ip", "addr", "add", f"{lease['ip']}/24", "dev", lab.vm_ifname)
    lab.run(lab.vm, "ip", "route", "add", "default", "via", lease["routers"][0])
    return lease


def _source_seen_outside(lab: RouterLab) -> str:
    if not any("peer_echo" in " ".join(map(str, p.args)) for p in lab.processes):
        lab.spawn(
            lab.outside, PYTHON, str(HERE / "peer_echo.py"), "serve", OUTSIDE_IP, str(ECHO_PORT)
        )
    done = lab.run(lab.vm, PYTHON, str(HERE / "peer_echo.py"), "ask", OUTSIDE_IP, str(ECHO_PORT))
    return done.stdout.strip()


def test_vm_gets_its_lease_and_reaches_outside_through_snat(router_lab: RouterLab) -> None:
    lab = router_lab
    _put(lab, lab.config())

    lease = _bring_up_vm_from_lease(lab)
    assert lease["ip"] == VM_IP
    assert lease["mask"] == "255.255.255.0"
    assert lease["routers"] == [ROUTER_INT_IP]
    assert lease["dns"] == [DNS_SERVER]
    assert lease["hostname"] == "vm-one"
    assert lease["routes"] == [["0.0.0.0/0", ROUTER_INT_IP], list(HOST_ROUTE)]

    assert lab.ping(lab.vm, OUTSIDE_IP)
    assert _source_seen_outside(lab) == ROUTER_EXT_IP
    assert not lab.ping(lab.outside, VM_IP)  # no route, and no floating IP yet


def test_floating_ip_is_reachable_and_is_the_vms_outbound_source(router_lab: RouterLab) -> None:
    lab = router_lab
    _put(lab, lab.config(floating_ip=True))
    _bring_up_vm_from_lease(lab)

    assert lab.ping(lab.outside, FLOATING_IP)
    assert _source_seen_outside(lab) == FLOATING_IP
    assert f"{FLOATING_IP}/24" in lab.router_addresses()


def test_removing_a_floating_ip_a_network_and_a_port_leaves_nothing_behind(
    router_lab: RouterLab,
) -> None:
    lab = router_lab
    _put(lab, lab.config(floating_ip=True, second_network=True, second_vm=True))
    _bring_up_vm_from_lease(lab)
    assert lab.ping(lab.outside, FLOATING_IP)
    assert f"{ROUTER_INT2_IP}/24" in lab.router_addresses()
    hosts = (lab.state_dir / "dnsmasq" / f"{lab.ifnames['int']}.hosts").read_text()
    assert SECOND_VM_MAC in hosts

    _put(lab, lab.config())

    addresses = lab.router_addresses()
    assert f"{FLOATING_IP}/24" not in addresses
    assert f"{ROUTER_INT2_IP}/24" not in addresses
    ruleset = lab.ruleset()
    assert FLOATING_IP not in ruleset
    assert lab.ifnames["int2"] not in ruleset
    dnsmasq_files = {p.name for p in (lab.state_dir / "dnsmasq").iterdir()}
    assert not any(name.startswith(lab.ifnames["int2"]) for name in dnsmasq_files)
    hosts = (lab.state_dir / "dnsmasq" / f"{lab.ifnames['int']}.hosts").read_text()
    assert SECOND_VM_MAC not in hosts
    assert lab.vm_mac in hosts
    assert not lab.ping(lab.outside, FLOATING_IP)
    assert lab.ping(lab.vm, OUTSIDE_IP)
    assert _source_seen_outside(lab) == ROUTER_EXT_IP


def test_reapplying_the_same_config_restarts_and_reloads_nothing(router_lab: RouterLab) -> None:
    lab = router_lab
    body = lab.config(floating_ip=True)
    _put(lab, body)
    pid, ruleset = lab.dnsmasq_pid(), lab.ruleset()
    assert pid is not None

    _put(lab, body)

    assert lab.dnsmasq_pid() == pid
    assert lab.ruleset() == ruleset  # rule handles change on any reload


def test_a_lease_change_reloads_dnsmasq_without_restarting_it(router_lab: RouterLab) -> None:
    lab = router_lab
    _put(lab, lab.config())
    pid = lab.dnsmasq_pid()
    _put(lab, lab.config(second_vm=True))
    assert lab.dnsmasq_pid() == pid
    _bring_up_vm_from_lease(lab)  # still served after the SIGHUP


def test_invalid_config_is_refused_and_traffic_keeps_flowing(router_lab: RouterLab) -> None:
    lab = router_lab
    _put(lab, lab.config(floating_ip=True))
    _bring_up_vm_from_lease(lab)
    before = lab.ruleset()
    ping = subprocess.Popen(
        ["ip", "netns", "exec", lab.vm, "ping", "-n", "-c", "100", "-i", "0.01", OUTSIDE_IP],
        stdout=subprocess.PIPE,
        text=True,
    )
    lab.processes.append(ping)
    broken = lab.config(floating_ip=True)
    broken["floating_ips"][0]["floating_ip"] = "192.168.77.7"

    status, answer = lab.api("PUT", "/v1/system/config/", broken)

    assert status == 422
    assert ["body", "floating_ips", 0, "floating_ip"] in [e["loc"] for e in answer["detail"]]
    output, _ = ping.communicate(timeout=60)
    assert " 100 received, 0% packet loss" in output, output
    assert lab.ruleset() == before
    status, current = lab.api("GET", "/v1/system/config/")
    assert current["configuration"]["floating_ips"][0]["floating_ip"] == FLOATING_IP


def test_a_step_failing_half_way_rolls_everything_back(
    router_lab: RouterLab, wait_until: Callable[..., None]
) -> None:
    lab = router_lab
    _put(lab, lab.config(dhcp=False))
    lab.run(lab.vm, "ip", "addr", "add", f"{VM_IP}/24", "dev", lab.vm_ifname)
    lab.run(lab.vm, "ip", "route", "add", "default", "via", ROUTER_INT_IP)
    addresses, ruleset = lab.router_addresses(), lab.ruleset(handles=False)
    # Something else holds the DHCP port, so dnsmasq cannot start.
    squatter = lab.spawn(
        lab.router,
        PYTHON,
        "-c",
        "import socket, time; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
        "s.bind(('0.0.0.0', 67)); print('bound', flush=True); time.sleep(600)",
    )
    assert squatter.stdout is not None and squatter.stdout.readline().strip() == "bound"

    status, answer = lab.api(
        "PUT", "/v1/system/config/", lab.config(floating_ip=True, second_network=True)
    )

    assert status == 500
    assert answer["detail"].startswith("apply failed at step dhcp: ")
    assert answer["detail"].endswith("; rolled back to the last good configuration")
    assert lab.router_addresses() == addresses
    assert lab.ruleset(handles=False) == ruleset
    assert lab.dnsmasq_pid() is None
    assert lab.api("GET", "/v1/system/config/")[1]["configuration"]["floating_ips"] == []
    assert lab.ping(lab.vm, OUTSIDE_IP)
    assert not lab.ping(lab.outside, FLOATING_IP)

    squatter.kill()
    squatter.wait(5)
    _put(lab, lab.config(floating_ip=True, second_network=True))
    # The outside host's failed ARP for the floating IP (above) is cached for a
    # moment; several probes give its neighbour entry time to resolve again.
    assert lab.ping(lab.outside, FLOATING_IP, count=5)


def test_a_restarted_agent_restores_its_config_without_disturbing_anything(
    router_lab: RouterLab, wait_until: Callable[..., None]
) -> None:
    lab = router_lab
    body = lab.config(floating_ip=True)
    _put(lab, body)
    pid = lab.dnsmasq_pid()
    agent = next(p for p in lab.processes if "astara.appliance.cli" in p.args)
    stop_agent(lab, agent)

    start_agent(lab, wait_until)

    status, answer = lab.api("GET", "/v1/system/config/")
    assert status == 200
    assert answer["configuration"]["floating_ips"] == body["floating_ips"]
    assert lab.dnsmasq_pid() == pid
    assert f"{FLOATING_IP}/24" in lab.router_addresses()


def test_read_only_endpoints(router_lab: RouterLab) -> None:
    lab = router_lab
    _put(lab, lab.config())
    assert lab.api("GET", "/v1/base/") == (200, "Astara appliance API service is active")
    assert lab.api("GET", "/v1/status/") == (200, {"v4": True, "v6": False})
    status, interfaces = lab.api("GET", "/v1/system/interfaces")
    by_mac = {i["lladdr"]: i for i in interfaces["interfaces"]}
    assert by_mac[lab.macs["ext"]]["addresses"][0] == f"{ROUTER_EXT_IP}/24"
    assert by_mac[lab.macs["int"]]["state"] == "up"
    status, one = lab.api("GET", f"/v1/system/interface/{lab.ifnames['int']}/")
    assert one["interface"]["lladdr"] == lab.macs["int"]
    status, rules = lab.api("GET", "/v1/firewall/rules/")
    assert status == 200 and "table inet astara" in rules
    assert lab.ping(lab.router, OUTSIDE_IP)
    status, counters = lab.api("GET", "/v1/system/counters")
    assert counters["interfaces"][lab.ifnames["ext"]]["tx_packets"] > 0
