"""What the netns provisioner remembers about each appliance namespace, and how it names things.

The kernel knows namespaces and links but not which port a veth carries, which
address the agent listens on, or when the appliance was booted; those live in
one small JSON record per namespace under the provisioner's state root. The
records are the only memory: a restarted orchestrator, another worker process
and the shared agent host all read the same files, so none of them needs to
be told what the others did. Each record is replaced atomically, so a reader
never sees half of one.

Layout of the state root::

    instances/<namespace>.json   one NamespaceRecord per appliance
    appliances/<namespace>/      the appliance agent's state dir (config, dnsmasq files)
    bridges/<bridge>             an empty file per bridge the provisioner created
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from astara.common.linux.interface import BridgeInterfaceDriver, veth_outer_name
from astara.drivers.base import PortSpec
from astara.provisioners.base import ProvisionerError

LOG = logging.getLogger(__name__)

#: Interfaces inside an appliance are named by plug order: eth0 (management), eth1, ...
INNER_PREFIX = "eth"
#: Longest namespace name kept: it is also a file name under the state root.
MAX_NAMESPACE_NAME = 200

_RECORDS = "instances"
_APPLIANCES = "appliances"
_BRIDGES = "bridges"
#: Names host-side veth ends exactly as the Linux bridge interface driver does.
_NAMING_DRIVER = BridgeInterfaceDriver()


class AgentMode(StrEnum):
    """How an appliance's agent runs: its own process, or inside the shared agent host."""

    PROCESS = "process"
    SHARED = "shared"


def check_namespace_name(name: str) -> None:
    """Refuse names that could not be both a namespace and a file name under the state root."""
    if not 0 < len(name) <= MAX_NAMESPACE_NAME or name.startswith((".", "-")) or "/" in name:
        raise ProvisionerError(
            f"{name!r} cannot name a network namespace (1 to {MAX_NAMESPACE_NAME} characters, "
            "no '/', not starting with '.' or '-')"
        )
    if any(c.isspace() or not c.isprintable() for c in name):
        raise ProvisionerError(f"{name!r} cannot name a network namespace (blank or control)")


def outer_device_name(port_id: str) -> str:
    """The host end of a port's veth (``tap`` + 11 characters of the port id).

    The same name the Linux bridge interface driver gives the port, so
    operators and Neutron's tooling recognise it.
    """
    return veth_outer_name(_NAMING_DRIVER.device_name_for_port(port_id))


@dataclass(frozen=True, slots=True)
class PluggedPort:
    """A port and the interface that carries it inside the namespace."""

    port: PortSpec
    ifname: str

    @property
    def outer(self) -> str:
        return outer_device_name(self.port.port_id)


@dataclass(frozen=True, slots=True)
class NamespaceRecord:
    """One appliance namespace: its ports in plug order and how to reach its agent.

    ``agent_pid`` and ``agent_started`` (the process start time from
    ``/proc``, which tells a recycled pid apart) are set in process mode only.
    ``deleting`` marks an appliance being destroyed: no longer served nor
    listed, but still recorded so that a destroy interrupted halfway knows
    what is left to remove when it is retried. ``plumbed`` is False while the
    boot is still making the namespace, its ports and its management address:
    the agent host, which any other boot may wake, must not try to listen on
    an address that is not there yet.
    """

    name: str
    management_address: str
    api_port: int
    agent_mode: AgentMode
    created_at: float
    plugged: tuple[PluggedPort, ...] = ()
    agent_pid: int | None = None
    agent_started: str | None = None
    deleting: bool = False
    plumbed: bool = True

    @property
    def ports(self) -> tuple[PortSpec, ...]:
        return tuple(plugged.port for plugged in self.plugged)

    def find(self, port_id: str) -> PluggedPort | None:
        return next((p for p in self.plugged if p.port.port_id == port_id), None)

    def next_ifname(self) -> str:
        """The lowest ``ethN`` no plugged port uses (an unplugged one's name is reused)."""
        used = {plugged.ifname for plugged in self.plugged}
        index = 0
        while f"{INNER_PREFIX}{index}" in used:
            index += 1
        return f"{INNER_PREFIX}{index}"

    def with_port(self, port: PortSpec, ifname: str) -> NamespaceRecord:
        return replace(self, plugged=(*self.plugged, PluggedPort(port, ifname)))

    def without_port(self, port_id: str) -> NamespaceRecord:
        return replace(self, plugged=tuple(p for p in self.plugged if p.port.port_id != port_id))

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "management_address": self.management_address,
            "api_port": self.api_port,
            "agent_mode": str(self.agent_mode),
            "created_at": self.created_at,
            "agent_pid": self.agent_pid,
            "agent_started": self.agent_started,
            "deleting": self.deleting,
            "plumbed": self.plumbed,
            "plugged": [
                {
                    "ifname": p.ifname,
                    "port_id": p.port.port_id,
                    "network_id": p.port.network_id,
                    "mac_address": p.port.mac_address,
                    "role": p.port.role,
                    "fixed_ips": list(p.port.fixed_ips),
                }
                for p in self.plugged
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NamespaceRecord:
        plugged = tuple(
            PluggedPort(
                PortSpec(
                    port_id=p["port_id"],
                    network_id=p["network_id"],
                    mac_address=p["mac_address"],
                    role=p["role"],
                    fixed_ips=tuple(p["fixed_ips"]),
                ),
                p["ifname"],
            )
            for p in data["plugged"]
        )
        return cls(
            name=data["name"],
            management_address=data["management_address"],
            api_port=int(data["api_port"]),
            agent_mode=AgentMode(data["agent_mode"]),
            created_at=float(data["created_at"]),
            plugged=plugged,
            agent_pid=data.get("agent_pid"),
            agent_started=data.get("agent_started"),
            deleting=bool(data.get("deleting", False)),
            plumbed=bool(data.get("plumbed", True)),  # records written before it: plumbed
        )


class RecordStore:
    """The records and appliance state dirs under one state root."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, name: str) -> Path:
        check_namespace_name(name)
        return self.root / _RECORDS / f"{name}.json"

    def appliance_dir(self, name: str) -> Path:
        """The agent's state dir for namespace ``name``."""
        check_namespace_name(name)
        return self.root / _APPLIANCES / name

    def save(self, record: NamespaceRecord) -> None:
        path = self._path(record.name)
        path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as out:
                json.dump(record.to_json(), out)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def load(self, name: str) -> NamespaceRecord | None:
        """The record of ``name``, or None when there is none (or it is unreadable)."""
        return self._read(self._path(name))

    def delete(self, name: str) -> None:
        self._path(name).unlink(missing_ok=True)

    def all(self) -> list[NamespaceRecord]:
        """Every record, sorted by name; an unreadable one is logged and left out.

        One damaged file must not hide every other appliance.
        """
        folder = self.root / _RECORDS
        if not folder.is_dir():
            return []
        records = []
        for path in sorted(folder.glob("*.json")):
            try:
                record = self._read(path)
            except ProvisionerError as exc:
                LOG.error("%s", exc)
                continue
            if record is not None:
                records.append(record)
        return records

    def remember_bridge(self, bridge: str) -> None:
        """Note that the provisioner created ``bridge`` (so it may remove it later)."""
        folder = self.root / _BRIDGES
        folder.mkdir(mode=0o755, parents=True, exist_ok=True)
        (folder / bridge).touch()

    def forget_bridge(self, bridge: str) -> None:
        (self.root / _BRIDGES / bridge).unlink(missing_ok=True)

    def created_bridges(self) -> list[str]:
        folder = self.root / _BRIDGES
        return sorted(path.name for path in folder.iterdir()) if folder.is_dir() else []

    @staticmethod
    def _read(path: Path) -> NamespaceRecord | None:
        try:
            return NamespaceRecord.from_json(json.loads(path.read_text()))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ProvisionerError(f"netns record {path} is unreadable: {exc}") from exc
