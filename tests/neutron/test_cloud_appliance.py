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
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from tests.neutron.cloud_astara import CloudAstara, cloud_astara
from tests.neutron.cloud_routers import appliance_namespace, wait_configured
from tests.neutron.conftest import NeutronServer

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

    def make_early_router(external_network_id: str) -> dict[str, str]:
        tenant = make_tenant_network(neutron_server, "10.9.0.0/24")
        router_id = make_router(neutron_server, external_network_id, tenant)
        return {"router_id": router_id, "network_id": tenant.network_id}

    root = tmp_path_factory.mktemp("cloud-astara")
    with cloud_astara(neutron_server, root, prepare=make_early_router) as astara:
        yield astara


def instance_address(cloud: CloudAstara, namespace: str) -> str | None:
    out = cloud.in_netns(
        namespace, "ip", "-4", "-o", "addr", "show", "dev", "eth0", check=False
    ).stdout
    found = re.search(r"inet (\d+\.\d+\.\d+\.\d+)/", out)
    return found.group(1) if found else None


def reads_own_instance_id(cloud: CloudAstara, namespace: str) -> str:
    """What the instance reads at http://169.254.169.254/latest/meta-data/instance-id."""
    read = cloud.in_netns(namespace, sys.executable, "-c", _READ_INSTANCE_ID, check=False)
    assert read.returncode == 0, read.stderr
    return read.stdout.strip()


_READ_INSTANCE_ID = (
    "import urllib.request; print(urllib.request.urlopen("
    "'http://169.254.169.254/latest/meta-data/instance-id', timeout=20).read().decode())"
)


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

    # Metadata: appliance, then the orchestrator's proxy on the management network,
    # then "Nova", which trusts the request only if the proxy signed the instance id.
    instance_id = neutron.openstack_json("port", "show", port["id"])["device_id"]
    assert reads_own_instance_id(cloud, "astt-vm1") == instance_id
    trusted = cloud.nova_metadata.trusted[-1]
    assert (trusted.instance_id, trusted.forwarded_for) == (instance_id, fixed_ip)
    assert trusted.tenant_id == port["project_id"]
    assert cloud.nova_metadata.refused == 0

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
