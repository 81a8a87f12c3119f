"""The install guide's "Use Astara" steps against a real Neutron give a working router.

Astara runs in cloud mode (see :mod:`tests.neutron.cloud_astara`): Neutron's
notifications reach it over RabbitMQ, it reads and writes Neutron through its
API, and the netns provisioner boots the appliances. Every check sends real
packets from a test instance (a namespace on a Neutron port) and from the
outside (a namespace holding the external subnet's gateway address, which has
no route to any tenant network, so a reply from it proves the router's SNAT).
"""

from __future__ import annotations

import re
import statistics
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import pytest
from tests.neutron.cloud_astara import CloudAstara, start
from tests.neutron.conftest import NeutronServer
from tests.private_world import private_world

pytestmark = pytest.mark.neutron


@dataclass(frozen=True)
class TenantNetwork:
    network_id: str
    subnet_id: str
    cidr: str


def make_tenant_network(neutron: NeutronServer, cidr: str) -> TenantNetwork:
    """``openstack network create`` and ``subnet create``, as the guide does."""
    name = f"astt-private-{uuid.uuid4().hex[:6]}"
    network = neutron.openstack_json("network", "create", name)
    subnet = neutron.openstack_json(
        "subnet", "create", "--network", network["id"], "--subnet-range", cidr, f"{name}-subnet"
    )
    return TenantNetwork(network["id"], subnet["id"], cidr)


def make_router(neutron: NeutronServer, external_network_id: str, tenant: TenantNetwork) -> str:
    """``router create``, ``router set --external-gateway``, ``router add subnet``."""
    router = neutron.openstack_json("router", "create", f"astt-router-{uuid.uuid4().hex[:6]}")
    neutron.openstack("router", "set", "--external-gateway", external_network_id, router["id"])
    neutron.openstack("router", "add", "subnet", router["id"], tenant.subnet_id)
    return str(router["id"])


@pytest.fixture(scope="module")
def cloud(
    neutron_server: NeutronServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[CloudAstara]:
    """Astara started after one router already exists (``cloud.early``)."""
    root = tmp_path_factory.mktemp("cloud-astara")
    with private_world(root / "world") as world:

        def make_early_router(external_network_id: str) -> dict[str, str]:
            tenant = make_tenant_network(neutron_server, "10.9.0.0/24")
            router_id = make_router(neutron_server, external_network_id, tenant)
            return {"router_id": router_id, "network_id": tenant.network_id}

        try:
            astara = start(neutron_server, world, root, prepare=make_early_router)
        except Exception:
            log = root / "orchestrator.log"
            print(log.read_text(errors="replace")[-8000:] if log.exists() else "(no log)")
            raise
        yield astara


def appliance_namespace(router_id: str) -> str:
    return f"ak-router-{router_id}"


def wait_configured(cloud: CloudAstara, router_id: str, after: float = 0.0) -> float:
    """Until the router's appliance is configured (later than ``after``, epoch seconds).

    Returns when the orchestrator configured it (its ``last_configured_at``).
    Neutron must show the router ACTIVE too: Astara reports the status back.
    """
    found: dict[str, float] = {}

    def configured() -> bool:
        view = cloud.resource(router_id)
        if view is None or view["instance_state"] != "configured":
            return False
        if (view["last_configured_at"] or 0.0) <= after:
            return False
        found["at"] = view["last_configured_at"]
        status = cloud.neutron.openstack_json("router", "show", router_id, "-c", "status")
        return bool(status["status"] == "ACTIVE")

    cloud.wait_for(configured, f"router {router_id} configured")
    assert appliance_namespace(router_id) in cloud.world.netns_names()
    return found["at"]


def instance_address(cloud: CloudAstara, namespace: str) -> str | None:
    out = cloud.in_netns(
        namespace, "ip", "-4", "-o", "addr", "show", "dev", "eth0", check=False
    ).stdout
    found = re.search(r"inet (\d+\.\d+\.\d+\.\d+)/", out)
    return found.group(1) if found else None


def pings(cloud: CloudAstara, namespace: str, address: str) -> bool:
    sent = cloud.in_netns(namespace, "ping", "-c", "1", "-W", "1", address, check=False)
    return sent.returncode == 0


def test_guide_steps_give_a_configured_router_with_dhcp_snat_and_floating_ip(
    cloud: CloudAstara,
) -> None:
    neutron = cloud.neutron
    tenant = make_tenant_network(neutron, "10.2.0.0/24")
    started = time.time()
    router_id = make_router(neutron, cloud.external_network_id, tenant)
    configured_at = wait_configured(cloud, router_id)
    print(f"router configured {configured_at - started:.1f}s after `openstack router create`")

    port = neutron.openstack_json("port", "create", "--network", tenant.network_id, "astt-vm1")
    fixed_ip = port["fixed_ips"][0]["ip_address"]
    cloud.start_instance(port["id"], "astt-vm1")
    cloud.wait_for(lambda: instance_address(cloud, "astt-vm1") == fixed_ip,
                   f"the instance leases {fixed_ip} from the appliance's DHCP")

    # SNAT: the outside has no route back to 10.2.0.0/24, only to the router's gateway.
    cloud.wait_for(lambda: pings(cloud, "astt-vm1", "172.16.0.1"), "the instance reaches out")

    floating = neutron.openstack_json(
        "floating", "ip", "create", "--port", port["id"], cloud.external_network_id
    )
    address = floating["floating_ip_address"]
    cloud.wait_for(lambda: pings(cloud, cloud.outside, address),
                   f"the outside reaches the instance at floating IP {address}")
    assert pings(cloud, "astt-vm1", "172.16.0.1")

    neutron.openstack("floating", "ip", "delete", floating["id"])
    cloud.wait_for(lambda: not pings(cloud, cloud.outside, address),
                   "the floating IP stops answering once deleted")
    neutron.openstack("router", "remove", "subnet", router_id, tenant.subnet_id)
    neutron.openstack("router", "delete", router_id)
    cloud.wait_for(lambda: appliance_namespace(router_id) not in cloud.world.netns_names(),
                   "the router's appliance is removed")
    leftovers = [
        p for p in neutron.openstack_json("port", "list", "--device-owner", "network:astara",
                                          "--long")
        if router_id in p.get("Name", "") or router_id in p.get("Device ID", "")
    ]
    assert leftovers == []


def test_router_made_before_astara_started_is_served(cloud: CloudAstara) -> None:
    early_router = cloud.early
    router_id = early_router["router_id"]
    wait_configured(cloud, router_id)
    port = cloud.neutron.openstack_json(
        "port", "create", "--network", early_router["network_id"], "astt-vm-early"
    )
    cloud.start_instance(port["id"], "astt-vm-early")
    cloud.wait_for(lambda: instance_address(cloud, "astt-vm-early") is not None,
                   "the instance behind the early router gets a lease")
    cloud.wait_for(lambda: pings(cloud, "astt-vm-early", "172.16.0.1"),
                   "the instance behind the early router reaches out")


#: Routers changed while the broker drops every connection (see the closing note of issue 2:
#: the issue's 200 is not reached on this 2-CPU machine within the tier's time).
BROKER_ROUTERS = 12
#: The project the openstack CLI acts as under noauth; Neutron needs one named on create.
TENANT = "fake_project_id"
CHANGE_ROUNDS = 3


def _neutron_api(cloud: CloudAstara) -> httpx.Client:
    """Neutron's API as admin (noauth), for changes too many for the CLI's start-up time."""
    return httpx.Client(base_url=f"{cloud.neutron.endpoint}/v2.0", timeout=60)


def _route_for(round_number: int, index: int) -> dict[str, str]:
    return {"destination": f"10.{100 + round_number}.{index}.0/24", "nexthop": "172.16.0.1"}


def _appliance_has_route(cloud: CloudAstara, router_id: str, destination: str) -> bool:
    shown = cloud.in_netns(
        appliance_namespace(router_id), "ip", "route", "show", "table", "all", destination,
        check=False,
    )  # fmt: skip
    return shown.returncode == 0 and destination.split("/")[0] in shown.stdout


def _close_broker_connections(cloud: CloudAstara) -> None:
    vhost = urlsplit(cloud.neutron.transport_url).path.lstrip("/")
    closed = subprocess.run(
        ["rabbitmqctl", "close_all_connections", "-p", vhost, "astt: test breaks the bus"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert closed.returncode == 0, closed.stderr


def test_broker_dropping_connections_while_routers_change_loses_no_notification(
    cloud: CloudAstara,
) -> None:
    with _neutron_api(cloud) as api:
        routers = []
        for index in range(BROKER_ROUTERS):
            body = {"router": {"name": f"astt-bus-{index}", "project_id": TENANT,
                               "external_gateway_info": {
                "network_id": cloud.external_network_id}}}
            routers.append(api.post("/routers", json=body).raise_for_status().json()["router"])
        for router in routers:
            wait_configured(cloud, router["id"])

        changed_at: dict[str, float] = {}
        for round_number in range(1, CHANGE_ROUNDS + 1):
            for index, router in enumerate(routers):
                if round_number == 2 and index == BROKER_ROUTERS // 2:
                    _close_broker_connections(cloud)
                changed_at[router["id"]] = time.time()
                api.put(f"/routers/{router['id']}", json={"router": {
                    "routes": [_route_for(round_number, index)]}}).raise_for_status()
            if round_number == 1:
                _close_broker_connections(cloud)

        latencies = []
        for index, router in enumerate(routers):
            last = _route_for(CHANGE_ROUNDS, index)["destination"]
            cloud.wait_for(lambda r=router, d=last: _appliance_has_route(cloud, r["id"], d),
                           f"router {router['id']} serves its last route {last}")
            configured_at = wait_configured(cloud, router["id"], after=changed_at[router["id"]])
            latencies.append(configured_at - changed_at[router["id"]])
            for earlier in range(1, CHANGE_ROUNDS):
                assert not _appliance_has_route(
                    cloud, router["id"], _route_for(earlier, index)["destination"])
        latencies.sort()
        print(f"last change to configured over {len(latencies)} routers: "
              f"p50 {statistics.median(latencies):.2f}s, "
              f"p95 {latencies[int(0.95 * (len(latencies) - 1))]:.2f}s")
        for router in routers:
            api.delete(f"/routers/{router['id']}").raise_for_status()
        for router in routers:
            cloud.wait_for(lambda r=router: appliance_namespace(r["id"]) not in
                           cloud.world.netns_names(), f"router {router['id']} removed")
