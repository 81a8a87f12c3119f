"""An instance's metadata request through the appliance proxy and the orchestrator proxy.

::

    vm ns   (10.60.0.5) ── int bridge ──┐
    vm2 ns  (10.61.0.5) ── int2 bridge ─┤ router ns: addresses, nftables, metadata proxy
    orch ns (192.168.100.1) ─ mgmt ─────┘   (services applied by the test, as the agent would)
      └─ this file run as a script: the orchestrator's metadata proxy on :9697 and a
         stand-in for Nova's metadata API on 127.0.0.1:8775 that checks the signature

The stand-in answers the instance id only when the request is signed with the
shared secret and names that instance; anything else gets 403.
"""

from __future__ import annotations

import hashlib
import hmac
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

SECRET = "e2e-shared-secret"
ORCH_IP = "192.168.100.1"
AGENT_IP = "192.168.100.2"
PROXY_PORT = 9697
NOVA_PORT = 8775
VM_IP = "10.60.0.5"
VM2_IP = "10.61.0.5"
INSTANCE = "vm-instance-1"
METADATA_URL = "http://169.254.169.254/latest/meta-data/instance-id"
INSTANCES = {("int", VM_IP): (INSTANCE, "tenant-a")}


class _Nova(BaseHTTPRequestHandler):
    """Nova's metadata API as far as the proxy can tell: it checks the signed headers."""

    def do_GET(self) -> None:
        instance = self.headers.get("X-Instance-ID", "")
        expected = hmac.new(SECRET.encode(), instance.encode(), hashlib.sha256).hexdigest()
        signed = hmac.compare_digest(self.headers.get("X-Instance-ID-Signature", ""), expected)
        known = {i: (ip, t) for (_net, ip), (i, t) in INSTANCES.items()}.get(instance)
        ok = signed and known == (
            self.headers.get("X-Forwarded-For"),
            self.headers.get("X-Tenant-ID"),
        )
        body = instance.encode() if ok else b"bad signature or identity"
        self.send_response(200 if ok else 403)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


def serve() -> None:
    """Run Nova's stand-in and the orchestrator's metadata proxy (in the orch namespace)."""
    import uvicorn

    from astara.orchestrator.metadata_proxy import InstanceLookup, create_metadata_app

    class Lookup(InstanceLookup):
        def find_instance(self, network_id: str, fixed_ip: str) -> tuple[str, str] | None:
            return INSTANCES.get((network_id, fixed_ip))

    nova = ThreadingHTTPServer(("127.0.0.1", NOVA_PORT), _Nova)
    threading.Thread(target=nova.serve_forever, daemon=True).start()
    app = create_metadata_app(Lookup(), f"http://127.0.0.1:{NOVA_PORT}", SECRET)
    uvicorn.run(app, host=ORCH_IP, port=PROXY_PORT, log_level="warning")


def _network(net_id: str, kind: str, mac: str, address: str, cidr: str) -> dict[str, Any]:
    return {
        "network_id": net_id,
        "network_type": kind,
        "interface": {"lladdr": mac, "addresses": [address]},
        "subnets": [{"id": f"s-{net_id}", "cidr": cidr, "gateway_ip": address.split("/")[0]}],
    }


def _mac(namespace: str, ifname: str) -> str:
    out = subprocess.run(
        ["ip", "-n", namespace, "-o", "link", "show", "dev", ifname],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split("link/ether ", 1)[1].split()[0]


@pytest.fixture
def orchestrator_log() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="astt-metadata-"))
    yield directory / "orchestrator.log"
    shutil.rmtree(directory, ignore_errors=True)


def test_instance_reads_its_own_metadata_and_nobody_elses(
    netns_factory: Callable[[], str],
    bridge_factory: Callable[[], str],
    veth_factory: Callable[..., Any],
    ns_exec: Callable[..., subprocess.CompletedProcess[str]],
    wait_until: Callable[..., None],
    orchestrator_log: Path,
) -> None:
    from astara.appliance.firewall.policy import AgentAccess
    from astara.appliance.model import RouterConfig
    from astara.appliance.netns import Namespace
    from astara.appliance.services.addresses import AddressService
    from astara.appliance.services.base import NOTHING, Target
    from astara.appliance.services.firewall import FirewallService
    from astara.appliance.services.metadata import MetadataService

    router, vm, vm2, orch = (netns_factory() for _ in range(4))
    mgmt, lan, lan2 = bridge_factory(), bridge_factory(), bridge_factory()
    inner = {
        "mgt": veth_factory(mgmt, router).inner,
        "int": veth_factory(lan, router).inner,
        "int2": veth_factory(lan2, router).inner,
    }
    veth_factory(mgmt, orch, [f"{ORCH_IP}/24"])
    vm_if = veth_factory(lan, vm, [f"{VM_IP}/24"]).inner
    vm2_if = veth_factory(lan2, vm2, [f"{VM2_IP}/24"]).inner
    ns_exec(vm, "ip", "route", "add", "default", "via", "10.60.0.1", "dev", vm_if)
    ns_exec(vm2, "ip", "route", "add", "default", "via", "10.61.0.1", "dev", vm2_if)

    config = RouterConfig.model_validate(
        {
            "orchestrator": {"address": ORCH_IP, "metadata_port": PROXY_PORT},
            "networks": [
                _network(
                    "mgt",
                    "management",
                    _mac(router, inner["mgt"]),
                    f"{AGENT_IP}/24",
                    "192.168.100.0/24",
                ),
                _network(
                    "int", "internal", _mac(router, inner["int"]), "10.60.0.1/24", "10.60.0.0/24"
                ),
                _network(
                    "int2", "internal", _mac(router, inner["int2"]), "10.61.0.1/24", "10.61.0.0/24"
                ),
            ],
        }
    )
    target = Target(config, inner)
    namespace = Namespace(router)
    metadata = MetadataService(namespace)
    services = [FirewallService(namespace, AgentAccess(5000)), AddressService(namespace), metadata]
    with orchestrator_log.open("w") as log:
        server = subprocess.Popen(
            ["ip", "netns", "exec", orch, sys.executable, __file__],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        for service in services:
            service.apply(NOTHING, target)

        def curl(namespace: str, *args: str) -> tuple[str, str]:
            done = ns_exec(
                namespace, "curl", "-sS", "-m", "10", "-w", "\n%{http_code}", *args, check=False
            )
            body, _, status = done.stdout.rpartition("\n")
            return status, body

        wait_until(
            lambda: (
                curl(orch, f"http://{ORCH_IP}:{PROXY_PORT}/")[0] == "400"
                or server.poll() is not None
            ),
            "the orchestrator's metadata proxy",
        )
        assert server.poll() is None, orchestrator_log.read_text()

        assert curl(vm, METADATA_URL) == ("200", INSTANCE)

        forged = [
            "-H",
            "X-Astara-Network-ID: int2",
            "-H",
            f"X-Forwarded-For: {VM2_IP}",
            "-H",
            "X-Instance-ID: someone-else",
        ]
        assert curl(vm, *forged, METADATA_URL) == ("200", INSTANCE)

        assert curl(vm2, METADATA_URL)[0] == "404"
        direct = ["-H", "X-Astara-Network-ID: int2", "-H", f"X-Forwarded-For: {VM_IP}"]
        assert curl(orch, *direct, f"http://{ORCH_IP}:{PROXY_PORT}/latest/")[0] == "404"

        metadata.apply(target, target)  # re-applying keeps the same listeners
        assert curl(vm, METADATA_URL) == ("200", INSTANCE)
    finally:
        metadata.proxy.stop()
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    serve()
