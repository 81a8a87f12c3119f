"""The state machines a worker process manages, and which of them an event addresses.

A machine is created by the first event that names its resource exactly, and
forgotten as soon as it reports ``deleted``: a later event for the same id
just creates a fresh machine, which finds the resource gone and exits cheaply
(no list of "recently deleted" ids that ignores a re-created resource forever).

Events that name many resources never create one; they address the machines
that exist:

- id ``'*'``: every machine (of the driver, in the tenant, unless those are ``'*'``);
- id ``'error'``: those whose appliance is in ERROR;
- id ``''``: every machine of the driver in the tenant. A port or subnet change
  whose router is unknown thus reaches *all* of the tenant's routers, where the
  original resolved it to the tenant's first router only;
- a real id with driver or tenant ``'*'`` (an operator's command names only the
  resource): the machines with that id.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from astara.orchestrator.event import ALL, IN_ERROR, Resource
from astara.orchestrator.instance_state import InstanceState
from astara.orchestrator.machine import Machine, MachineFactory
from astara.orchestrator.sharding import canonical_tenant

#: How a machine is known: (driver name, resource id).
MachineKey = tuple[str, str]

#: The id a notification leaves empty when it names only the tenant.
TENANT_WIDE = ""


def key_of(resource: Resource) -> MachineKey:
    return (resource.driver, resource.id)


def is_concrete(resource: Resource) -> bool:
    """True when ``resource`` names exactly one resource a machine can be built for."""
    return (
        resource.id not in (ALL, IN_ERROR, TENANT_WIDE)
        and resource.driver not in (ALL, "")
        and resource.tenant_id not in (ALL, "")
    )


class MachineRegistry:
    """State machines by (driver, id) and by tenant; safe to use from any thread."""

    def __init__(self, factory: MachineFactory) -> None:
        self._factory = factory
        self._machines: dict[MachineKey, Machine] = {}
        self._by_tenant: dict[str, dict[MachineKey, Machine]] = {}
        self._lock = threading.Lock()

    def get(self, key: MachineKey) -> Machine | None:
        return self._machines.get(key)

    def get_or_create(self, resource: Resource) -> Machine:
        """The machine of a concrete resource, built by the factory if it has none yet.

        The factory runs outside the lock (it may be slow); only the worker's
        intake thread creates machines, so two never race for one key.
        """
        key = key_of(resource)
        machine = self._machines.get(key)
        if machine is not None and not machine.deleted:
            return machine
        machine = self._factory(resource)
        with self._lock:
            self._machines[key] = machine
            self._by_tenant.setdefault(canonical_tenant(resource.tenant_id), {})[key] = machine
        return machine

    def remove(self, key: MachineKey, machine: Machine) -> bool:
        """Forget ``machine`` if it is still the one registered under ``key``."""
        with self._lock:
            if self._machines.get(key) is not machine:
                return False
            del self._machines[key]
            tenant = canonical_tenant(machine.resource.tenant_id)
            tenant_machines = self._by_tenant.get(tenant, {})
            tenant_machines.pop(key, None)
            if not tenant_machines:
                self._by_tenant.pop(tenant, None)
            return True

    def addressed_by(self, resource: Resource) -> list[Machine]:
        """The existing machines ``resource`` names (one, several via a wildcard, or none)."""
        if resource.id == IN_ERROR:
            return self._matching(
                resource, lambda machine: machine.instance_state is InstanceState.ERROR
            )
        if resource.id == ALL:
            return self._matching(resource, lambda machine: True)
        if resource.id == TENANT_WIDE:
            # Without a tenant, "every resource of the tenant" names nothing.
            if resource.tenant_id in (ALL, ""):
                return []
            return self._matching(resource, lambda machine: True)
        if is_concrete(resource):
            machine = self._machines.get(key_of(resource))
            return [machine] if machine is not None else []
        # An id with a wildcard driver or tenant (an operator's command): look it up.
        return self._matching(resource, lambda machine: machine.resource.id == resource.id)

    def all(self) -> list[Machine]:
        with self._lock:
            return list(self._machines.values())

    def tenants(self) -> int:
        with self._lock:
            return len(self._by_tenant)

    def __len__(self) -> int:
        return len(self._machines)

    def _matching(self, resource: Resource, accept: Callable[[Machine], bool]) -> list[Machine]:
        with self._lock:
            if resource.tenant_id in (ALL, ""):
                candidates = list(self._machines.values())
            else:
                tenant = canonical_tenant(resource.tenant_id)
                candidates = list(self._by_tenant.get(tenant, {}).values())
        return [
            machine
            for machine in candidates
            if resource.driver in (ALL, "", machine.resource.driver) and accept(machine)
        ]
