"""A router appliance in a namespace, wired to a VM, an outside host and an orchestrator.

::

    orchestrator ns ── mgmt bridge ── router ns (agent, dnsmasq, nftables)
    outside ns ─────── ext bridge ───┤
    vm ns ──────────── int bridge ───┤
                       int2 bridge ──┘

``ha_lab`` wires an HA pair the same way: two router namespaces (two
agents, management addresses ``HA_AGENT_IPS``) on one set of bridges, and
can add a replacement appliance to the running pair.

Only the test namespaces carry addresses (all private); the bridges have
none, so nothing here is reachable from, or routed through, the host.  The
agent runs as ``ip netns exec <router> python -m astara.appliance.cli`` and is
talked to with curl from the orchestrator namespace, as the orchestrator would.
Everything is removed by the shared fixtures and this module's finalizers,
whether the test passed or not.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from astara.appliance.namespace_thread import run_in_namespace
from astara.appliance.services.arp import ARP_REPLY, ARP_REQUEST, ETH_P_ARP, arp_frame
from tests.stopping import stop_process

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
#: Seconds an agent or helper may take to exit after SIGTERM.
AGENT_STOP_S = 5.0

AGENT_IP = "192.168.100.2"
ORCH_IP = "192.168.100.1"
API_PORT = 5000
OUTSIDE_IP = "172.16.50.1"
ROUTER_EXT_IP = "172.16.50.2"
FLOATING_IP = "172.16.50.10"
ROUTER_INT_IP = "10.60.0.1"
VM_IP = "10.60.0.5"
ROUTER_INT2_IP = "10.61.0.1"
DNS_SERVER = "10.60.0.53"
HOST_ROUTE = ("10.70.0.0/16", "10.60.0.254")
SECOND_VM_MAC = "02:00:5e:00:61:07"
HA_AGENT_IPS = {"r1": AGENT_IP, "r2": "192.168.100.3"}
HA_PRIORITIES = {"r1": 100, "r2": 50}
HA_VIPS = (f"{ROUTER_EXT_IP}/24", f"{FLOATING_IP}/24", f"{ROUTER_INT_IP}/24")
"""The addresses only the VRRP master of ``ha_lab`` holds."""


@dataclass
class RouterLab:
    router: str
    vm: str
    outside: str
    orchestrator: str
    state_dir: Path
    macs: dict[str, str]
    ifnames: dict[str, str]
    vm_ifname: str
    vm_mac: str
    processes: list[subprocess.Popen[str]] = field(default_factory=list)
    agent_ip: str = AGENT_IP

    def api(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str = "application/json",
    ) -> tuple[int, Any]:
        """Call the agent from the orchestrator namespace; return (status, JSON or text)."""
        argv = ["curl", "-sS", "-m", "60", "-o", "-", "-w", "\n%{http_code}", "-X", method]
        data = None
        if body is not None:
            data = body if isinstance(body, str) else json.dumps(body)
            argv += ["-H", f"Content-Type: {content_type}", "--data-binary", "@-"]
        argv.append(f"http://{self.agent_ip}:{API_PORT}{path}")
        done = self.run(self.orchestrator, *argv, stdin=data, check=False)
        text, _, status = done.stdout.rpartition("\n")
        if not status.isdigit():
            return 0, done.stderr
        try:
            return int(status), json.loads(text)
        except json.JSONDecodeError:
            return int(status), text

    @staticmethod
    def run(
        namespace: str, *argv: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["ip", "netns", "exec", namespace, *argv],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check and done.returncode != 0:
            pytest.fail(f"in {namespace}: {' '.join(argv)}: {done.stderr or done.stdout}")
        return done

    def spawn(self, namespace: str, *argv: str, log: str | None = None) -> subprocess.Popen[str]:
        """A background process in a namespace, stopped at teardown.

        Its output goes to ``log`` in the state directory (so a chatty process
        never blocks on a full pipe), or is captured for a short-lived one.
        """
        out: Any = subprocess.PIPE
        if log is not None:
            out = (self.state_dir / log).open("a")
        process = subprocess.Popen(
            ["ip", "netns", "exec", namespace, *argv],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.processes.append(process)
        return process

    def dhcp_lease(self) -> dict[str, Any]:
        done = self.run(self.vm, PYTHON, str(HERE / "dhcp_probe.py"), self.vm_ifname)
        line = next(ln for ln in done.stdout.splitlines() if ln.startswith("LEASE "))
        return dict(json.loads(line.removeprefix("LEASE ")))

    def dnsmasq_pid(self) -> int | None:
        path = self.state_dir / "dnsmasq" / "dnsmasq.pid"
        return int(path.read_text()) if path.exists() else None

    def router_addresses(self) -> set[str]:
        out = self.run(self.router, "ip", "-j", "addr", "show").stdout
        return {
            f"{a['local']}/{a['prefixlen']}"
            for link in json.loads(out)
            for a in link.get("addr_info", [])
            if not a["local"].startswith("fe80")
        }

    def ruleset(self, handles: bool = True) -> str:
        """The agent's table; with handles, any reload shows (new rules get new handles)."""
        flags = ["-a"] if handles else []
        return self.run(self.router, "nft", *flags, "list", "table", "inet", "astara").stdout

    def ping(self, namespace: str, address: str, count: int = 1) -> bool:
        done = self.run(namespace, "ping", "-n", "-c", str(count), "-W", "2", address, check=False)
        return done.returncode == 0

    def config(
        self,
        *,
        floating_ip: bool = False,
        second_network: bool = False,
        dhcp: bool = True,
        second_vm: bool = False,
    ) -> dict[str, Any]:
        """The router configuration the orchestrator would send for this lab."""
        allocations = [
            {
                "mac_address": self.vm_mac,
                "ip_addresses": {VM_IP: True},
                "hostname": "vm-one.local",
                "device_id": "vm-1",
            }
        ]
        if second_vm:
            allocations.append(
                {
                    "mac_address": SECOND_VM_MAC,
                    "ip_addresses": {"10.60.0.7": True},
                    "hostname": "vm-two",
                    "device_id": "vm-2",
                }
            )
        networks = [
            _network(
                "mgt", "management", self.macs["mgt"], f"{self.agent_ip}/24", "192.168.100.0/24"
            ),
            _network("ext", "external", self.macs["ext"], f"{ROUTER_EXT_IP}/24", "172.16.50.0/24"),
            {
                **_network(
                    "int", "internal", self.macs["int"], f"{ROUTER_INT_IP}/24", "10.60.0.0/24"
                ),
                "subnets": [
                    {
                        "id": "s-int",
                        "cidr": "10.60.0.0/24",
                        "gateway_ip": ROUTER_INT_IP,
                        "dhcp_enabled": dhcp,
                        "dns_nameservers": [DNS_SERVER],
                        "host_routes": [{"destination": HOST_ROUTE[0], "nexthop": HOST_ROUTE[1]}],
                    }
                ],
                "allocations": allocations,
            },
        ]
        networks[1]["subnets"][0]["gateway_ip"] = OUTSIDE_IP
        if second_network:
            net = _network(
                "int2", "internal", self.macs["int2"], f"{ROUTER_INT2_IP}/24", "10.61.0.0/24"
            )
            net["subnets"][0]["dhcp_enabled"] = dhcp
            networks.append(net)
        return {
            "asn": 64512,
            "neighbor_asn": 64512,
            "tenant_id": "tenant-e2e",
            "hostname": "ak-tenant-e2e",
            "default_v4_gateway": OUTSIDE_IP,
            "networks": networks,
            "floating_ips": [{"floating_ip": FLOATING_IP, "fixed_ip": VM_IP}]
            if floating_ip
            else [],
            "static_routes": [],
            "labels": {},
        }


def _network(net_id: str, kind: str, mac: str, address: str, cidr: str) -> dict[str, Any]:
    return {
        "network_id": net_id,
        "network_type": kind,
        "interface": {"ifname": net_id, "lladdr": mac, "addresses": [address]},
        "subnets": [{"id": f"s-{net_id}", "cidr": cidr, "gateway_ip": "", "dhcp_enabled": False}],
    }


def _mac(namespace: str, ifname: str) -> str:
    out = subprocess.run(
        ["ip", "-n", namespace, "-j", "link", "show", "dev", ifname],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return str(json.loads(out)[0]["address"])


@pytest.fixture
def router_lab(
    netns_factory: Callable[[], str],
    bridge_factory: Callable[[], str],
    veth_factory: Callable[..., Any],
    wait_until: Callable[..., None],
) -> Iterator[RouterLab]:
    router, vm, outside, orchestrator = (netns_factory() for _ in range(4))
    bridges = {role: bridge_factory() for role in ("mgt", "ext", "int", "int2")}
    inner = {
        "mgt": veth_factory(bridges["mgt"], router, [f"{AGENT_IP}/24"]).inner,
        "ext": veth_factory(bridges["ext"], router).inner,
        "int": veth_factory(bridges["int"], router).inner,
        "int2": veth_factory(bridges["int2"], router).inner,
    }
    veth_factory(bridges["mgt"], orchestrator, [f"{ORCH_IP}/24"])
    veth_factory(bridges["ext"], outside, [f"{OUTSIDE_IP}/24"])
    vm_ifname = veth_factory(bridges["int"], vm).inner
    state_dir = Path(tempfile.mkdtemp(prefix="astt-appliance-"))
    state_dir.chmod(0o755)
    lab = RouterLab(
        router=router,
        vm=vm,
        outside=outside,
        orchestrator=orchestrator,
        state_dir=state_dir,
        macs={role: _mac(router, name) for role, name in inner.items()},
        ifnames=inner,
        vm_ifname=vm_ifname,
        vm_mac=_mac(vm, vm_ifname),
    )
    try:
        start_agent(lab, wait_until)
        yield lab
    finally:
        for process in reversed(lab.processes):
            stop_process(process, AGENT_STOP_S)
        shutil.rmtree(state_dir, ignore_errors=True)


def start_agent(lab: RouterLab, wait_until: Callable[..., None]) -> subprocess.Popen[str]:
    agent = lab.spawn(
        lab.router,
        PYTHON,
        "-m",
        "astara.appliance.cli",
        "--host",
        lab.agent_ip,
        "--port",
        str(API_PORT),
        "--state-dir",
        str(lab.state_dir),
        log="agent.log",
    )
    wait_until(lambda: lab.api("GET", "/v1/base/")[0] == 200 or agent.poll() is not None, "agent")
    if agent.poll() is not None:
        pytest.fail(f"the agent exited: {(lab.state_dir / 'agent.log').read_text()}")
    return agent


def stop_agent(lab: RouterLab, agent: subprocess.Popen[str]) -> None:
    stop_process(agent, AGENT_STOP_S)
    lab.processes.remove(agent)


@dataclass
class HaLab:
    """An HA pair: appliances by name, sharing one VM, outside host and orchestrator."""

    members: dict[str, RouterLab]
    add_member: Callable[[str], RouterLab]
    """Wire a new appliance (namespace, NICs, agent) for a name of ``HA_AGENT_IPS``.

    It replaces the member of that name, which keeps its management address.
    """

    @property
    def vm(self) -> str:
        return next(iter(self.members.values())).vm

    @property
    def outside(self) -> str:
        return next(iter(self.members.values())).outside

    def ha_config(self, name: str) -> dict[str, Any]:
        """The config the orchestrator sends a member: the router with a floating IP, HA on."""
        member = self.members[name]
        peers = [m.agent_ip for n, m in self.members.items() if n != name]
        body = member.config(floating_ip=True)
        body.update(ha_resource=True, ha_config={"peers": peers, "priority": HA_PRIORITIES[name]})
        return body

    def put(self, name: str, body: dict[str, Any]) -> None:
        status, answer = self.members[name].api("PUT", "/v1/system/config/", body)
        assert status == 200, answer

    def die(self, name: str) -> None:
        """The member dies at once: its links vanish, then every process in it is killed."""
        member = self.members[name]
        for ifname in member.ifnames.values():
            member.run(member.router, "ip", "link", "del", ifname)
        pids = subprocess.run(
            ["ip", "netns", "pids", member.router], capture_output=True, text=True, check=True
        ).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)

    def holds(self, name: str) -> set[str]:
        """Which of the addresses keepalived moves the member holds."""
        return set(HA_VIPS) & self.members[name].router_addresses()


@pytest.fixture
def ha_lab(
    netns_factory: Callable[[], str],
    bridge_factory: Callable[[], str],
    veth_factory: Callable[..., Any],
    wait_until: Callable[..., None],
) -> Iterator[HaLab]:
    vm, outside, orchestrator = (netns_factory() for _ in range(3))
    bridges = {role: bridge_factory() for role in ("mgt", "ext", "int")}
    veth_factory(bridges["mgt"], orchestrator, [f"{ORCH_IP}/24"])
    veth_factory(bridges["ext"], outside, [f"{OUTSIDE_IP}/24"])
    vm_ifname = veth_factory(bridges["int"], vm).inner
    members: dict[str, RouterLab] = {}
    created: list[RouterLab] = []

    def add_member(name: str) -> RouterLab:
        agent_ip = HA_AGENT_IPS[name]
        router = netns_factory()
        inner = {
            role: veth_factory(bridge, router, [f"{agent_ip}/24"] if role == "mgt" else []).inner
            for role, bridge in bridges.items()
        }
        _announce(router, inner["mgt"], agent_ip)
        state_dir = Path(tempfile.mkdtemp(prefix=f"astt-ha-{name}-"))
        state_dir.chmod(0o755)
        member = RouterLab(
            router=router,
            vm=vm,
            outside=outside,
            orchestrator=orchestrator,
            state_dir=state_dir,
            macs={role: _mac(router, ifname) for role, ifname in inner.items()},
            ifnames=inner,
            vm_ifname=vm_ifname,
            vm_mac=_mac(vm, vm_ifname),
            agent_ip=agent_ip,
        )
        created.append(member)
        members[name] = member
        start_agent(member, wait_until)
        return member

    try:
        for name in HA_AGENT_IPS:
            add_member(name)
        yield HaLab(members, add_member)
    finally:
        for member in reversed(created):
            for process in reversed(member.processes):
                stop_process(process, AGENT_STOP_S)
            shutil.rmtree(member.state_dir, ignore_errors=True)


def _announce(namespace: str, ifname: str, address: str) -> None:
    """Announce an address with gratuitous ARP, as a booting host does.

    A replacement takes over its predecessor's management address with a
    new MAC; without the announcement its neighbours would keep sending to
    the dead MAC until their cache entries expire (up to a minute).
    """

    def send() -> None:
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP)) as raw:
            raw.bind((ifname, ETH_P_ARP))
            mac = raw.getsockname()[4]
            for opcode in (ARP_REQUEST, ARP_REPLY):
                raw.send(arp_frame(opcode, mac, ipaddress.IPv4Address(address)))

    run_in_namespace(namespace, send)
