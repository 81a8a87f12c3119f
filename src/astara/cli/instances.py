"""``astara-ctl instance list``: the appliances, as ``nova list --all-tenants`` shows them.

The install guide checks its routers' appliances with ``nova list``; this
shows the same columns (id, name ``ak-router-<router id>``, tenant, status,
networks with their addresses) from the configured provisioner, so it works
the same on Nova (cloud mode) and on netns appliances (single-host mode).

An appliance's data ports carry no address of their own (the router's
addresses live on the router's gateway and interface ports, which the
appliance configures on its port in that network), so the networks column
adds the router's addresses to the instance's: what the operator wants to
see is where the appliance answers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from cliff.lister import Lister

from astara.network.base import Router
from astara.provisioners.base import InstanceInfo

#: Every appliance's instance name starts with this (``ak-<driver>-<resource id>``).
APPLIANCE_PREFIX = "ak-"
COLUMNS = ("ID", "Name", "Tenant", "Status", "Networks")
_UUID_LENGTH = 36


@dataclass(frozen=True)
class ResourceView:
    """What the network model says about an appliance's resource."""

    tenant_id: str = ""
    addresses: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def resource_of(instance_name: str) -> tuple[str, str] | None:
    """(driver, resource id) an appliance's instance name stands for, None for other names."""
    parts = instance_name.split("-", 2)
    if len(parts) != 3 or parts[0] != "ak" or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2][:_UUID_LENGTH]  # HA members carry a suffix after the id


def router_view(router: Router) -> ResourceView:
    """The router's tenant and its own addresses on each network (gateway, interfaces)."""
    addresses: dict[str, list[str]] = {}
    ports = ((router.gateway_port,) if router.gateway_port else ()) + router.interface_ports
    for port in ports:
        addresses.setdefault(port.network_id, []).extend(map(str, port.addresses))
    return ResourceView(router.tenant_id, {n: tuple(ips) for n, ips in addresses.items()})


def networks_column(
    info: InstanceInfo, view: ResourceView, network_names: Mapping[str, str]
) -> str:
    """``name=addr, addr; name=addr``: each of the instance's networks once, by name."""
    addresses: dict[str, list[str]] = {}
    for port in info.ports:
        known = addresses.setdefault(port.network_id, [])
        for ip in (*port.fixed_ips, *view.addresses.get(port.network_id, ())):
            if ip not in known:
                known.append(ip)
    return "; ".join(
        f"{network_names.get(network_id) or network_id}={', '.join(ips)}"
        for network_id, ips in addresses.items()
    )


def instance_rows(
    instances: Iterable[InstanceInfo],
    network_names: Mapping[str, str],
    view_of: Callable[[str, str], ResourceView],
) -> list[tuple[str, ...]]:
    """One row per instance, by name; ``view_of(driver, resource id)`` for its resource."""
    rows: list[tuple[str, ...]] = []
    for info in sorted(instances, key=lambda i: i.name):
        resource = resource_of(info.name)
        view = view_of(*resource) if resource else ResourceView()
        status = str(info.status).upper()
        columns = (info.id, info.name, view.tenant_id, status)
        rows.append((*columns, networks_column(info, view, network_names)))
    return rows


class _ContextApp(Protocol):
    """astara-ctl's app, which builds what commands act on from the configuration."""

    def context(self) -> Any: ...


class InstanceList(Lister):
    """List every appliance instance: id, name, tenant, status and networks."""

    def take_action(self, parsed_args: Any) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
        context = cast(_ContextApp, self.app).context()
        network = context.network_model
        instances = context.provisioner.list_instances(APPLIANCE_PREFIX)
        network_ids = {port.network_id for info in instances for port in info.ports}
        names = {n: found.name for n, found in network.get_networks(network_ids).items()}

        def view_of(driver: str, resource_id: str) -> ResourceView:
            router = network.get_router(resource_id) if driver == "router" else None
            return router_view(router) if router is not None else ResourceView()

        return COLUMNS, instance_rows(instances, names, view_of)
