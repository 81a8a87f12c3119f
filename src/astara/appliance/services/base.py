"""What a service is, and what it is given to converge on.

A service owns one part of the appliance (addresses, routes, the firewall,
DHCP...).  The manager calls ``apply(current, target)`` on each service in
turn; if one fails it calls ``rollback(attempted, previous)`` on every service
it touched, newest first.  Both go through the same convergence code in
practice: a service reads what the kernel or its daemon really has and changes
only the difference, so applying twice changes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from astara.appliance.model import EMPTY_CONFIG, Network, RouterConfig


@dataclass(frozen=True)
class Target:
    """A configuration bound to this appliance's kernel interfaces.

    ``ifnames`` maps each network_id to the kernel name of the NIC whose MAC
    the configuration names, resolved once per apply.
    """

    config: RouterConfig
    ifnames: Mapping[str, str] = field(default_factory=dict)

    def ifname(self, network: Network) -> str:
        return self.ifnames[network.network_id]


NOTHING = Target(EMPTY_CONFIG)
"""The state before the first configuration: every service converges to 'off'."""


class Service(Protocol):
    """One part of the appliance, applied in the manager's order."""

    name: str

    def apply(self, current: Target, target: Target) -> None:
        """Bring this part from ``current`` to ``target``; raise on failure."""

    def rollback(self, attempted: Target, previous: Target) -> None:
        """Undo a (possibly partial) ``apply(previous, attempted)``."""
