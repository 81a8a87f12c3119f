"""The application factory: the store, the routes and Neutron's error shapes."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.orm import selectinload

from astara.localapi import views
from astara.localapi.context import DEFAULT_PROJECT_ID
from astara.localapi.errors import install_error_handlers
from astara.localapi.models import FloatingIP, Network, Port, Router, Subnet
from astara.localapi.notifications import Notify
from astara.localapi.routes import discovery, resources, router_actions, router_status
from astara.localapi.schemas import (
    FloatingIPCreate,
    FloatingIPUpdate,
    NetworkCreate,
    NetworkUpdate,
    PortCreate,
    PortUpdate,
    RouterCreate,
    RouterUpdate,
    SubnetCreate,
    SubnetUpdate,
)
from astara.localapi.services import floating_ips, networks, ports, routers, subnets
from astara.localapi.store import Store

RESOURCES = (
    resources.Resource(
        singular="network",
        collection="networks",
        model=Network,
        view=lambda _session, row: views.network(row),
        create_body=NetworkCreate,
        update_body=NetworkUpdate,
        create=networks.create,
        update=networks.update,
        delete=networks.delete,
        column_filters=frozenset({"status"}),
        eager=(selectinload(Network.subnets),),
    ),
    resources.Resource(
        singular="subnet",
        collection="subnets",
        model=Subnet,
        view=lambda _session, row: views.subnet(row),
        create_body=SubnetCreate,
        update_body=SubnetUpdate,
        create=subnets.create,
        update=subnets.update,
        delete=subnets.delete,
        column_filters=frozenset({"network_id", "cidr", "gateway_ip"}),
    ),
    resources.Resource(
        singular="port",
        collection="ports",
        model=Port,
        view=lambda _session, row: views.port(row),
        create_body=PortCreate,
        update_body=PortUpdate,
        create=ports.create,
        update=ports.update,
        delete=ports.delete,
        column_filters=frozenset(
            {"network_id", "mac_address", "status", "device_id", "device_owner"}
        ),
        eager=(selectinload(Port.fixed_ips),),
    ),
    resources.Resource(
        singular="router",
        collection="routers",
        model=Router,
        view=views.router,
        create_body=RouterCreate,
        update_body=RouterUpdate,
        create=routers.create,
        update=routers.update,
        delete=routers.delete,
        column_filters=frozenset({"status"}),
    ),
    resources.Resource(
        singular="floatingip",
        collection="floatingips",
        model=FloatingIP,
        view=lambda _session, row: views.floating_ip(row),
        create_body=FloatingIPCreate,
        update_body=FloatingIPUpdate,
        create=floating_ips.create,
        update=floating_ips.update,
        delete=floating_ips.delete,
        column_filters=frozenset(
            {"floating_network_id", "floating_ip_address", "fixed_ip_address", "router_id"}
            | {"status"}
        ),
    ),
)


def create_app(
    database_url: str,
    notify: Notify,
    *,
    default_project_id: str = DEFAULT_PROJECT_ID,
    id_prefix: str = "",
) -> FastAPI:
    """The Neutron-v2-compatible API over the SQLite file at ``database_url``.

    ``notify(event_type, payload, context)`` is called after every committed
    change with the notification Neutron would have sent. The store is kept
    on ``app.state.store`` for code that embeds the API (the orchestrator
    reports router status through it). New resources' ids start with
    ``id_prefix`` (see :func:`astara.localapi.models.new_id`).
    """
    store = Store(database_url, notify, default_project_id, id_prefix)
    app = FastAPI(title="Astara local network API (Neutron v2.0 compatible)", version="2.0")
    app.state.store = store
    install_error_handlers(app)
    app.include_router(discovery.build())
    for resource in RESOURCES:
        app.include_router(resources.build(store, resource))
    app.include_router(router_actions.build(store))
    app.include_router(router_status.build(store))
    app.router.add_event_handler("shutdown", store.close)
    return app
