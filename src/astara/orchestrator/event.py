"""Events: what the orchestrator is asked to do, and to which resource.

Every input (a Neutron notification, an operator command, the health monitor's
periodic poll, a cluster rebalance) is turned into an :class:`Event` before it
reaches a worker, so the scheduler, the workers and the state machines deal with
one small, immutable, picklable type.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Crud(StrEnum):
    """What an event asks of a resource's state machine."""

    CREATE = "create"
    READ = "read"
    UPDATE = "update"
    DELETE = "delete"
    POLL = "poll"
    COMMAND = "command"
    REBUILD = "rebuild"
    REBALANCE = "rebalance"
    CLUSTER_REBUILD = "cluster_rebuild"


#: Resource ids that address many resources at once: every resource, or only
#: those whose appliance is in ERROR.
ALL = "*"
IN_ERROR = "error"
WILDCARDS = frozenset({ALL, IN_ERROR})


@dataclass(frozen=True, slots=True)
class Resource:
    """A resource Astara serves with an appliance (a router, a load balancer).

    ``id`` may be a wildcard (see :data:`WILDCARDS`) or empty when a
    notification names only the tenant (a port or subnet change): the worker
    then resolves it to the tenant's resources that the change touches.
    """

    driver: str
    id: str
    tenant_id: str

    @property
    def is_wildcard(self) -> bool:
        return self.id in WILDCARDS


@dataclass(frozen=True, slots=True)
class Event:
    """One request for a resource: the resource, the action, and its details.

    ``body`` carries the notification payload or the command's arguments; it
    is treated as read-only.
    """

    resource: Resource
    crud: Crud
    body: Mapping[str, Any] = field(default_factory=dict)
