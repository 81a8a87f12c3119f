"""A test instance: a namespace standing in for a VM on a port made through the API.

With Nova, booting a server on a port plugs a tap device with the port's MAC
into the network's bridge and the guest asks DHCP for its address. This does
the same with a namespace, so someone trying single-host mode can watch their
router at work from an "instance": get a lease from the appliance's dnsmasq,
reach the outside through SNAT, be reached on a floating IP, read its
metadata at 169.254.169.254.

    openstack port create --network private vm1
    python -m astara.singlehost.instance vm1          # prints the namespace
    ip netns exec vm-<id> ping 172.16.0.1

The port is marked as an instance's (``device_owner compute:nova`` and a
``device_id``) as Nova would, which is what the metadata proxy checks. The
namespace is plugged like an appliance port (``tap<port id>`` on
``brq<network id>``, :func:`~astara.common.linux.netlink.create_veth`), and
runs pyroute2's DHCP client, which sets the address and default route it is
offered and keeps the lease. Deleting the namespace removes all of it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from openstack.connection import Connection

from astara.common.linux import netlink
from astara.common.linux.interface import bridge_name_for_network
from astara.localapi.server import DEFAULT_HOST, DEFAULT_PORT
from astara.network.session import local_connection
from astara.provisioners.base import ProvisionerError
from astara.provisioners.netns_plumbing import create_namespace, delete_namespace, ensure_bridge
from astara.provisioners.netns_records import RecordStore, outer_device_name
from astara.singlehost.state import StateDir

#: What a VM's first NIC is called inside it.
INSTANCE_IFNAME = "eth0"
INSTANCE_OWNER = "compute:nova"
DHCP_LOG = "/dev/null"


@dataclass(frozen=True, slots=True)
class TestInstance:
    namespace: str
    port_id: str
    instance_id: str
    network_id: str
    mac_address: str
    fixed_ips: tuple[str, ...]


def start_instance(
    connection: Connection,
    port_ref: str,
    namespace: str | None = None,
    *,
    records: RecordStore | None = None,
    dhcp: bool = True,
) -> TestInstance:
    """Boot a test instance on port ``port_ref`` (name or id) in ``namespace``.

    ``namespace`` defaults to ``vm-<port id prefix>``. A bridge made here
    (no appliance on the network yet) is noted in ``records`` (the netns
    provisioner's, when given) so it is removed with its network. Raises
    ProvisionerError when the namespace exists or plugging fails.
    """
    port = connection.network.find_port(port_ref, ignore_missing=False)
    if not (port.device_owner or "").startswith("compute:"):
        port = connection.network.update_port(
            port, device_owner=INSTANCE_OWNER, device_id=port.device_id or str(uuid.uuid4())
        )
    name = namespace or f"vm-{port.id[:8]}"
    mtu = connection.network.get_network(port.network_id).mtu
    bridge = bridge_name_for_network(port.network_id)
    create_namespace(name)
    try:
        if ensure_bridge(bridge, mtu) and records is not None:
            records.remember_bridge(bridge)
        netlink.create_veth(
            INSTANCE_IFNAME, outer_device_name(port.id), port.mac_address, mtu, name, bridge
        )
        if dhcp:
            _start_dhcp_client(name)
    except (netlink.LinkError, OSError) as exc:
        delete_namespace(name)
        raise ProvisionerError(f"cannot start instance on port {port.id}: {exc}") from exc
    return TestInstance(
        namespace=name,
        port_id=port.id,
        instance_id=port.device_id,
        network_id=port.network_id,
        mac_address=port.mac_address,
        fixed_ips=tuple(fixed_ip["ip_address"] for fixed_ip in port.fixed_ips),
    )


def stop_instance(namespace: str) -> None:
    """Delete the instance's namespace: its DHCP client and its veth pair go with it."""
    delete_namespace(namespace)


def _start_dhcp_client(namespace: str) -> None:
    """pyroute2's DHCP client in the namespace, as a VM's would run (until the namespace goes)."""
    argv = [
        "ip", "netns", "exec", namespace,
        sys.executable, "-m", "pyroute2.dhcp.cli",
        "--lease-type", "pyroute2.dhcp.leases.JSONStdoutLease",
        "--log-level", "WARNING",
        INSTANCE_IFNAME,
    ]  # fmt: skip
    with open(DHCP_LOG, "ab") as out:
        subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m astara.singlehost.instance",
        description="Start a test instance (a namespace) on a port of the single-host API.",
    )
    parser.add_argument(
        "port", help="name or id of a port created through the API (with --stop: the namespace)"
    )
    parser.add_argument("--stop", action="store_true", help="stop the instance in namespace PORT")
    parser.add_argument("--namespace", help="namespace name (default: vm-<port id prefix>)")
    parser.add_argument(
        "--api-url",
        default=f"http://{DEFAULT_HOST}:{DEFAULT_PORT}",
        help="the single-host network API (default: %(default)s)",
    )
    parser.add_argument(
        "--state-dir", type=Path, help="single-host state dir, so Astara can remove a new bridge"
    )
    parser.add_argument("--no-dhcp", action="store_true", help="do not run a DHCP client")
    args = parser.parse_args(argv)
    if args.stop:
        stop_instance(args.port)
        return 0
    records = RecordStore(StateDir(args.state_dir.resolve()).netns_root) if args.state_dir else None
    try:
        instance = start_instance(
            local_connection(args.api_url),
            args.port,
            args.namespace,
            records=records,
            dhcp=not args.no_dhcp,
        )
    except ProvisionerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"instance {instance.instance_id} runs in namespace {instance.namespace} "
        f"(port {instance.port_id}, {', '.join(instance.fixed_ips)}).\n"
        f"  ip netns exec {instance.namespace} ip address show {INSTANCE_IFNAME}\n"
        f"  ip netns exec {instance.namespace} curl http://169.254.169.254/latest/meta-data/instance-id\n"
        f"Stop it with: python -m astara.singlehost.instance --stop {instance.namespace}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
