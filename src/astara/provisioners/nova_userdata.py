"""The cloud-init user data a Nova appliance boots with.

An appliance cannot be reached before its management interface has an
address, and Nova's DHCP cannot be relied on for it (the management network is
often IPv6 with no DHCP at all). So the orchestrator, which already knows the
management port, tells the appliance at boot: cloud-init's ``bootcmd`` runs
the image's configure-management command with the port's MAC and address
before any service starts. The same document creates the ``astara`` user with
the operator's SSH key, the only way into an appliance for debugging.

The document is built as data and serialised with YAML, never by string
templates, so a key or command with quotes or colons cannot corrupt it.
"""

from __future__ import annotations

import base64
import ipaddress
import logging
from pathlib import Path

import yaml

from astara.drivers.base import PortSpec
from astara.provisioners.base import ProvisionerError

LOG = logging.getLogger(__name__)

#: Where the appliance image installs its commands; a bare command name is looked up here.
APPLIANCE_BIN_DIR = "/usr/local/bin"
#: The user operators log into appliances as.
APPLIANCE_USER = "astara"


def management_interface_address(port: PortSpec, management_prefix: str) -> str:
    """The management port's address with the management network's prefix length.

    The appliance needs the prefix length to route its replies back to the
    orchestrator, which sits on the same management network.
    """
    if not port.fixed_ips:
        raise ProvisionerError(f"management port {port.port_id} has no fixed IP address")
    network = ipaddress.ip_network(management_prefix, strict=False)
    try:
        address = ipaddress.ip_address(port.fixed_ips[0])
    except ValueError:
        raise ProvisionerError(
            f"management port {port.port_id}: {port.fixed_ips[0]!r} is not an IP address"
        ) from None
    if address not in network:
        raise ProvisionerError(
            f"management port {port.port_id}: address {address} is not in management_prefix "
            f"{management_prefix}"
        )
    return f"{address}/{network.prefixlen}"


def read_ssh_public_key(path: str | None) -> str | None:
    """The operator's public key, or None (with a warning) when the file is missing.

    A missing key only loses SSH access to appliances, so it must not stop
    appliances from booting.
    """
    if not path:
        return None
    try:
        key = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        LOG.warning("ssh_public_key %s cannot be read (%s): appliances get no SSH key",
                    path, exc.strerror or exc)
        return None
    return key or None


def render_user_data(
    management_port: PortSpec,
    management_prefix: str,
    boot_command: str,
    ssh_public_key: str | None,
) -> str:
    """The ``#cloud-config`` document for an appliance whose management port is given."""
    command = (
        boot_command if boot_command.startswith("/") else f"{APPLIANCE_BIN_DIR}/{boot_command}"
    )
    user: dict[str, object] = {
        "name": APPLIANCE_USER,
        "gecos": "Astara",
        "groups": "users",
        "shell": "/bin/bash",
        "sudo": "ALL=(ALL) NOPASSWD:ALL",
        "lock_passwd": True,
    }
    if ssh_public_key:
        user["ssh_authorized_keys"] = [ssh_public_key]
    document = {
        # A list is run as one argv, so no shell ever parses the MAC or the address.
        "bootcmd": [[
            command,
            management_port.mac_address,
            management_interface_address(management_port, management_prefix),
        ]],
        "users": [user],
        "output": {"all": "| tee -a /var/log/cloud-init-output.log"},
        "final_message": "Astara appliance is running",
    }
    return "#cloud-config\n" + yaml.safe_dump(document, default_flow_style=False, sort_keys=False)


def encode_user_data(document: str) -> str:
    """Base64 text, the form Nova's ``user_data`` field requires."""
    return base64.b64encode(document.encode("utf-8")).decode("ascii")
