"""Reading typed values out of one Neutron document, with errors that name it.

Neutron answers JSON; the network model turns it into typed, frozen objects
(:mod:`astara.network.base`). Every field goes through a :class:`Fields`
reader so a missing key or a value of the wrong kind is reported as
``malformed port <id>: fixed_ips[0].ip_address: '10.0.0.x' is not an IP
address`` rather than as a ``KeyError`` deep inside a config build.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from astara.network.errors import MalformedResource

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Marks a field that has no default: it must be present.
_REQUIRED: Any = object()


class Fields:
    """The fields of one Neutron document of kind ``kind`` (``router``, ``port``...).

    ``where`` prefixes field names in errors when the document is nested in
    another one (``fixed_ips[0]`` of a port).
    """

    def __init__(
        self, kind: str, data: object, *, owner_id: str | None = None, where: str = ""
    ) -> None:
        if not isinstance(data, Mapping):
            raise MalformedResource(
                kind,
                owner_id,
                f"{where.rstrip('.') or 'document'}: expected an object, not {_kind(data)}",
            )
        self._kind = kind
        self._data = data
        self._where = where
        identifier = data.get("id")
        self.owner_id = owner_id or (identifier if isinstance(identifier, str) else None)

    def fail(self, key: str, problem: str) -> MalformedResource:
        """The error for field ``key`` (to raise)."""
        return MalformedResource(self._kind, self.owner_id, f"{self._where}{key}: {problem}")

    def nested(self, key: str, index: int, data: object) -> Fields:
        """A reader for ``data``, element ``index`` of this document's list ``key``."""
        return Fields(
            self._kind, data, owner_id=self.owner_id, where=f"{self._where}{key}[{index}]."
        )

    def raw(self, key: str, default: Any = _REQUIRED) -> Any:
        if key in self._data and self._data[key] is not None:
            return self._data[key]
        if default is _REQUIRED:
            raise self.fail(key, "missing")
        return default

    def text(self, key: str, default: Any = _REQUIRED) -> str:
        value = self.raw(key, default)
        if not isinstance(value, str):
            raise self.fail(key, f"expected a string, not {_kind(value)}")
        return value

    def optional_text(self, key: str) -> str | None:
        value = self.raw(key, None)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise self.fail(key, f"expected a string, not {_kind(value)}")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.raw(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, f"expected true or false, not {_kind(value)}")
        return value

    def optional_integer(self, key: str) -> int | None:
        value = self.raw(key, None)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise self.fail(key, f"expected an integer, not {_kind(value)}")
        return value

    def address(self, key: str) -> IPAddress:
        value = self.text(key)
        try:
            return ipaddress.ip_address(value)
        except ValueError:
            raise self.fail(key, f"{value!r} is not an IP address") from None

    def optional_address(self, key: str) -> IPAddress | None:
        return self.address(key) if self.optional_text(key) is not None else None

    def network(self, key: str) -> IPNetwork:
        value = self.text(key)
        try:
            return ipaddress.ip_network(value)
        except ValueError:
            raise self.fail(key, f"{value!r} is not a CIDR") from None

    def addresses(self, key: str) -> tuple[IPAddress, ...]:
        """A list of address strings (``dns_nameservers``)."""
        parsed = []
        for index, value in enumerate(self.items(key)):
            try:
                parsed.append(ipaddress.ip_address(value))
            except ValueError:
                raise self.fail(f"{key}[{index}]", f"{value!r} is not an IP address") from None
        return tuple(parsed)

    def items(self, key: str) -> list[Any]:
        value = self.raw(key, [])
        if not isinstance(value, list):
            raise self.fail(key, f"expected a list, not {_kind(value)}")
        return value

    def tenant_id(self) -> str:
        """The owner: ``project_id`` in current Neutron, ``tenant_id`` in older ones."""
        return self.optional_text("project_id") or self.optional_text("tenant_id") or ""


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__
