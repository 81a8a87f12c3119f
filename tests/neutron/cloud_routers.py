"""Routers in the cloud tier: making many through Neutron's API, and waiting on Astara.

The guide's steps go through the ``openstack`` CLI, but its start-up costs
about two seconds a call: the tests that make hundreds of routers or changes
use Neutron's API directly (as admin, noauth), a few requests at a time, and
read Astara's side in one request per poll (its control API for every
resource, one ``ip route`` pass over every appliance).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor

import httpx
from tests.neutron.cloud_astara import EXTERNAL_GATEWAY, CloudAstara

#: The project the openstack CLI acts as under noauth; Neutron needs one named on create.
TENANT = "fake_project_id"
#: Requests in flight to Neutron at once (its gunicorn worker has 8 threads).
PARALLEL_REQUESTS = 6
#: Lists each namespace's routes, headed by ``== <namespace>`` (run inside the world).
_SHOW_ROUTES = 'for ns in "$@"; do echo "== $ns"; ip -n "$ns" route show table all; done'


def appliance_namespace(router_id: str) -> str:
    return f"ak-router-{router_id}"


def neutron_api(cloud: CloudAstara) -> httpx.Client:
    """Neutron's API as admin (noauth), straight to Neutron (never through the faults)."""
    return httpx.Client(base_url=f"{cloud.neutron.endpoint}/v2.0", timeout=60)


def create_gateway_routers(
    api: httpx.Client, cloud: CloudAstara, names: Sequence[str]
) -> list[str]:
    """Routers with a gateway on the public network, one per name; their ids in order."""

    def create(name: str) -> str:
        body = {"router": {"name": name, "project_id": TENANT,
                           "external_gateway_info": {"network_id": cloud.external_network_id}}}
        return str(api.post("/routers", json=body).raise_for_status().json()["router"]["id"])

    with ThreadPoolExecutor(PARALLEL_REQUESTS) as pool:
        return list(pool.map(create, names))


def route_for(round_number: int, index: int) -> dict[str, str]:
    """The one route router ``index`` gets in change round ``round_number``."""
    return {"destination": f"10.{100 + round_number}.{index}.0/24", "nexthop": EXTERNAL_GATEWAY}


def change_routes(api: httpx.Client, router_ids: Sequence[str], round_number: int,
                  first_index: int = 0) -> dict[str, float]:
    """Give each router its route of this round; when each change was asked (epoch s)."""

    def change(index_and_id: tuple[int, str]) -> tuple[str, float]:
        index, router_id = index_and_id
        asked = time.time()
        api.put(f"/routers/{router_id}", json={"router": {
            "routes": [route_for(round_number, index)]}}).raise_for_status()
        return router_id, asked

    with ThreadPoolExecutor(PARALLEL_REQUESTS) as pool:
        return dict(pool.map(change, enumerate(router_ids, start=first_index)))


def delete_routers(api: httpx.Client, cloud: CloudAstara, router_ids: Sequence[str]) -> None:
    """Delete them in Neutron; until Astara removed every appliance."""
    with ThreadPoolExecutor(PARALLEL_REQUESTS) as pool:
        list(pool.map(lambda r: api.delete(f"/routers/{r}").raise_for_status(), router_ids))
    wanted = {appliance_namespace(router_id) for router_id in router_ids}
    cloud.wait_for(lambda: not wanted & set(cloud.world.netns_names()),
                   f"the appliances of {len(router_ids)} deleted routers are removed",
                   routers=len(router_ids))


def served_destinations(cloud: CloudAstara, router_ids: Iterable[str]) -> dict[str, set[str]]:
    """Every route destination each router's appliance has, in any table, in one pass."""
    namespaces = {appliance_namespace(router_id): router_id for router_id in router_ids}
    shown = cloud.world.run("sh", "-c", _SHOW_ROUTES, "sh", *namespaces, check=False).stdout
    served: dict[str, set[str]] = {router_id: set() for router_id in namespaces.values()}
    current: str | None = None
    for line in shown.splitlines():
        if line.startswith("== "):
            current = namespaces.get(line[3:].strip())
        elif current is not None and line.split():
            served[current].add(line.split()[0])
    return served


def wait_configured(cloud: CloudAstara, router_id: str, after: float = 0.0) -> float:
    """Until the router's appliance is configured later than ``after`` (epoch seconds).

    Returns when the orchestrator configured it (its ``last_configured_at``).
    """
    return wait_all_configured(cloud, {router_id: after})[router_id]


def wait_all_configured(cloud: CloudAstara, after: dict[str, float]) -> dict[str, float]:
    """Until every router in ``after`` is configured later than its time there.

    Neutron must show each ACTIVE too: Astara reports the status back. Returns
    when the orchestrator configured each (its ``last_configured_at``).
    """
    found: dict[str, float] = {}

    def all_configured() -> bool:
        views = cloud.resources()
        for router_id, since in after.items():
            view = views.get(router_id) or {}
            configured_at = view.get("last_configured_at") or 0.0
            # The first configuration after ``since``, not a later periodic one.
            if router_id in found:
                continue
            if view.get("instance_state") == "configured" and configured_at > since:
                found[router_id] = configured_at
        if len(found) < len(after):
            return False
        statuses = _neutron_router_statuses(cloud, after)
        return len(statuses) == len(after) and set(statuses) == {"ACTIVE"}

    what = f"routers configured and ACTIVE: {', '.join(sorted(after)[:3])}…({len(after)})"
    cloud.wait_for(all_configured, what, routers=len(after))
    namespaces = set(cloud.world.netns_names())
    assert {appliance_namespace(router_id) for router_id in after} <= namespaces
    return found


def _neutron_router_statuses(cloud: CloudAstara, router_ids: Iterable[str]) -> list[str]:
    wanted = set(router_ids)
    with neutron_api(cloud) as api:
        routers = api.get("/routers", params={"fields": ["id", "status"]}).raise_for_status()
    return [r["status"] for r in routers.json()["routers"] if r["id"] in wanted]
