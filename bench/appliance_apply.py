"""How long a configuration change takes on a running router appliance.

Run as root: ``.venv/bin/python bench/appliance_apply.py``.  It creates a
namespace ``astb-<random>`` with veth NICs (nothing outside it is touched),
starts the real agent in it, and times PUT /v1/system/config/ round trips
for two workloads, each alternating between two configurations so that every
PUT is a real change:

- 10 networks: 10 internal networks with DHCP and 5 ports each; the change
  adds a port and a floating IP (firewall reload, address, dnsmasq SIGHUP);
- 1,000 floating IPs: the change swaps one floating IP for another
  (firewall reload with 1,000-element NAT maps, address add and delete,
  conntrack cleanup).

Prints p50/p95/p99 per workload, the machine, and RESULT lines.  Everything
it made is removed at the end, also on failure.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from pyroute2.netns import setns

from benchlib import machine, percentile

PORT = 5000
ROUNDS = 60
WARMUP = 3
EXT_CIDR = ipaddress.ip_network("172.16.0.0/20")


def mac(index: int) -> str:
    return f"02:00:5e:10:{index // 256:02x}:{index % 256:02x}"


def network(net_id: str, kind: str, index: int, cidr: str, dhcp: bool) -> dict[str, Any]:
    subnet = ipaddress.ip_network(cidr)
    gateway = str(next(subnet.hosts()))
    return {
        "network_id": net_id,
        "network_type": kind,
        "interface": {"lladdr": mac(index), "addresses": [f"{gateway}/{subnet.prefixlen}"]},
        "subnets": [
            {
                "id": f"s-{net_id}",
                "cidr": cidr,
                "gateway_ip": gateway if kind != "external" else "172.16.0.254",
                "dhcp_enabled": dhcp,
                "dns_nameservers": ["10.255.0.53"] if dhcp else [],
            }
        ],
        "allocations": [],
    }


def base_config(internal: int, hosts_per_net: int) -> dict[str, Any]:
    networks = [
        network("mgt", "management", 0, "192.168.200.0/24", False),
        network("ext", "external", 1, str(EXT_CIDR), False),
    ]
    for n in range(internal):
        net = network(f"int{n}", "internal", 2 + n, f"10.{100 + n}.0.0/22", True)
        net["allocations"] = [
            {
                "mac_address": f"02:00:5e:20:{n:02x}:{h:02x}",
                "ip_addresses": {f"10.{100 + n}.0.{10 + h}": True},
                "hostname": f"vm-{n}-{h}",
                "device_id": f"dev-{n}-{h}",
            }
            for h in range(hosts_per_net)
        ]
        networks.append(net)
    return {
        "asn": 64512,
        "tenant_id": "bench",
        "hostname": "ak-bench",
        "default_v4_gateway": "172.16.0.254",
        "networks": networks,
        "floating_ips": [],
    }


def ten_network_configs() -> tuple[dict[str, Any], dict[str, Any]]:
    before = base_config(internal=10, hosts_per_net=5)
    after = base_config(internal=10, hosts_per_net=5)
    after["networks"][5]["allocations"].append(
        {
            "mac_address": "02:00:5e:20:ff:01",
            "ip_addresses": {"10.103.0.99": True},
            "hostname": "new-vm",
            "device_id": "new",
        }
    )
    after["floating_ips"] = [{"floating_ip": "172.16.0.50", "fixed_ip": "10.103.0.99"}]
    return before, after


def thousand_fip_configs() -> tuple[dict[str, Any], dict[str, Any]]:
    config = base_config(internal=4, hosts_per_net=0)
    fixed = [f"10.{100 + i % 4}.{1 + (i // 4) // 250}.{1 + (i // 4) % 250}" for i in range(1001)]
    floating = [str(EXT_CIDR.network_address + 16 + i) for i in range(1001)]
    pairs = [{"floating_ip": f, "fixed_ip": x} for f, x in zip(floating, fixed, strict=True)]
    before = {**config, "floating_ips": pairs[:1000]}
    after = {**config, "floating_ips": pairs[1:]}
    return before, after


def run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, text=True)


@contextmanager
def appliance_namespace(nics: int) -> Iterator[Path]:
    """Enter a fresh namespace with ``nics`` NICs and a running agent; clean up after."""
    name = f"astb-{secrets.token_hex(4)}"
    state_dir = Path(tempfile.mkdtemp(prefix="astb-appliance-"))
    state_dir.chmod(0o755)
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    agent = None
    run("ip", "netns", "add", name)
    try:
        setns(name)
        run("ip", "link", "set", "lo", "up")
        for index in range(nics):
            # veth pairs with both ends inside: this kernel may lack the dummy driver.
            run(
                "ip",
                "link",
                "add",
                f"eth{index}",
                "address",
                mac(index),
                "type",
                "veth",
                "peer",
                "name",
                f"peer{index}",
            )
            run("ip", "link", "set", f"peer{index}", "up")
        log = (state_dir / "agent.log").open("w")
        agent = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "astara.appliance.cli",
                "--host",
                "127.0.0.1",
                "--port",
                str(PORT),
                "--state-dir",
                str(state_dir),
                "--log-level",
                "warning",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_for_agent(agent)
        yield state_dir
    finally:
        if agent is not None:
            agent.terminate()
            agent.wait(10)
        stop_dnsmasq(state_dir)
        setns(home)
        os.close(home)
        run("ip", "netns", "delete", name)
        subprocess.run(["rm", "-rf", str(state_dir)], check=False)


def wait_for_agent(agent: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and agent.poll() is None:
        try:
            httpx.get(f"http://127.0.0.1:{PORT}/v1/base/", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit("the agent did not start")


def stop_dnsmasq(state_dir: Path) -> None:
    """The agent leaves dnsmasq running on purpose (it survives agent restarts)."""
    try:
        pid = int((state_dir / "dnsmasq" / "dnsmasq.pid").read_text())
        if str(state_dir) in Path(f"/proc/{pid}/cmdline").read_text(errors="replace"):
            os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError):
        pass


def measure(configs: tuple[dict[str, Any], dict[str, Any]]) -> list[float]:
    timings = []
    with httpx.Client(base_url=f"http://127.0.0.1:{PORT}", timeout=60) as client:
        for i in range(WARMUP + ROUNDS):
            start = time.perf_counter()
            response = client.put("/v1/system/config/", json=configs[i % 2])
            elapsed = (time.perf_counter() - start) * 1000
            if response.status_code != 200:
                raise SystemExit(f"PUT failed: {response.status_code} {response.text}")
            if i >= WARMUP:
                timings.append(elapsed)
    return timings


def main() -> int:
    if os.geteuid() != 0:
        print("appliance_apply needs root (network namespaces)", file=sys.stderr)
        return 1
    print(f"machine: {machine()}")
    results = {}
    for label, configs, nics in (
        ("10_networks", ten_network_configs(), 12),
        ("1000_fips", thousand_fip_configs(), 6),
    ):
        with appliance_namespace(nics):
            timings = measure(configs)
        p50, p95, p99 = (percentile(timings, p) for p in (50, 95, 99))
        results[label] = (p50, p95)
        print(
            f"{label}: {len(timings)} config-change PUTs, "
            f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms, "
            f"mean {statistics.mean(timings):.1f} ms"
        )
    for label, (p50, p95) in results.items():
        print(f"RESULT apply_ms_p95_{label} {p95:.1f} ms")
        print(f"RESULT apply_ms_p50_{label} {p50:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
