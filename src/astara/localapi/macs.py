"""MAC addresses for new ports: OpenStack's fa:16:3e prefix, random below it."""

from __future__ import annotations

import re
import secrets

from astara.localapi.errors import invalid_input

OPENSTACK_MAC_PREFIX = "fa:16:3e"
_MAC_PATTERN = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")


def random_mac() -> str:
    suffix = secrets.token_bytes(3)
    return OPENSTACK_MAC_PREFIX + "".join(f":{byte:02x}" for byte in suffix)


def normalise_mac(value: str) -> str:
    """A client-given MAC in lower case, refused unless it is a unicast address."""
    mac = value.strip().lower().replace("-", ":")
    if not _MAC_PATTERN.match(mac) or int(mac[:2], 16) & 0x01:
        raise invalid_input(f"'{value}' is not a valid unicast MAC address.")
    return mac
