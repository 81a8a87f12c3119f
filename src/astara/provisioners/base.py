"""Where appliances run: the interface every provisioner (netns, nova) implements.

The instance manager decides *what* must run; a provisioner only knows *how*
to start, list, plug and remove appliances on its platform. Everything it
reports is read back from the platform, so a restarted orchestrator rebuilds
its view from ``list_instances`` instead of from memory.

Naming: an appliance is named after its resource (``ak-router-<id>``, see
:attr:`astara.drivers.base.ResourceDriver.appliance_name`). An HA pair's first
member keeps exactly that name and the second is ``<name>-ha1``, so:

- a non-HA appliance that becomes HA keeps running as member 0;
- ``list_instances(appliance_name)`` (a plain prefix match) finds every member;
- :func:`is_member_of` tells a member from another resource's appliance whose
  name merely starts with the same characters.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from astara.drivers.base import PortSpec

#: Separates an HA member's index from the appliance name.
_MEMBER_SUFFIX = "-ha"


def member_name(appliance_name: str, index: int) -> str:
    """The instance name of HA member ``index`` (0 for a non-HA appliance)."""
    if index < 0:
        raise ValueError(f"member index must be >= 0, not {index}")
    return appliance_name if index == 0 else f"{appliance_name}{_MEMBER_SUFFIX}{index}"


def member_index(instance_name: str, appliance_name: str) -> int | None:
    """The member index ``instance_name`` has in ``appliance_name``'s group, or None.

    None means the instance belongs to another appliance (or to none).
    """
    if instance_name == appliance_name:
        return 0
    suffix = instance_name.removeprefix(appliance_name + _MEMBER_SUFFIX)
    if suffix == instance_name or not suffix.isascii() or not suffix.isdigit():
        return None
    index = int(suffix)
    return index if index > 0 and member_name(appliance_name, index) == instance_name else None


def is_member_of(instance_name: str, appliance_name: str) -> bool:
    """True when ``instance_name`` is one of ``appliance_name``'s members."""
    return member_index(instance_name, appliance_name) is not None


class InstanceStatus(StrEnum):
    """Where the platform says an instance stands (not whether its agent answers)."""

    BUILDING = "building"
    ACTIVE = "active"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class InstanceInfo:
    """One appliance instance as the platform reports it.

    ``ports`` lists every port plugged into the instance, the management port
    included (role ``management``); the instance manager relies on the role
    only to tell the management port apart, and compares data ports by
    ``port_id`` and ``network_id``. ``created_at`` is wall-clock epoch seconds,
    so an orchestrator that restarts can tell how long an instance has been
    booting.
    """

    id: str
    name: str
    status: InstanceStatus
    management_address: str | None
    ports: tuple[PortSpec, ...]
    created_at: float
    image_uuid: str | None = None


class ProvisionerError(Exception):
    """The platform refused or failed an operation; the message says why, for the log."""


class Provisioner(ABC):
    """Starts, lists, plugs and removes appliance instances on one platform.

    Methods raise :class:`ProvisionerError` for failures the platform reports;
    the instance manager logs them and retries on a later event.
    """

    @abstractmethod
    def list_instances(self, name_prefix: str) -> list[InstanceInfo]:
        """Every instance whose name starts with ``name_prefix``, deleted ones excluded."""

    @abstractmethod
    def boot(
        self,
        name: str,
        image_uuid: str | None,
        flavor: str | None,
        management_port: PortSpec,
        ports: Sequence[PortSpec],
    ) -> InstanceInfo:
        """Start an instance named ``name`` plugged into the management port and ``ports``.

        Returns once the platform accepted the request; the instance may still
        be BUILDING and its agent is not expected to answer yet.
        """

    @abstractmethod
    def destroy(self, instance_id: str) -> None:
        """Request the instance's deletion; a missing instance is not an error."""

    @abstractmethod
    def plug(self, instance_id: str, port: PortSpec) -> None:
        """Hot-plug ``port`` into a running instance."""

    @abstractmethod
    def unplug(self, instance_id: str, port: PortSpec) -> None:
        """Hot-unplug ``port`` from a running instance."""
