"""List, show, create, update and delete routes, the same for every resource.

Neutron's five verbs behave identically across networks, subnets, ports,
routers and floating IPs (``{"network": {...}}`` in and out, ``fields=``,
filters, 201 on create, 204 on delete), so they are written once here and
each resource only says what is specific to it (:class:`Resource`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from astara.localapi import context, listing, lookups, views
from astara.localapi.schemas import RequestBody, parse, unwrap
from astara.localapi.store import Store
from astara.localapi.transaction import Transaction


@dataclass(frozen=True, slots=True)
class Resource:
    singular: str
    collection: str
    model: type[Any]
    view: Callable[[Session, Any], dict[str, Any]]
    create_body: type[RequestBody]
    update_body: type[RequestBody]
    create: Callable[[Transaction, Any], dict[str, Any]]
    update: Callable[[Transaction, str, Any], dict[str, Any]]
    delete: Callable[[Transaction, str], None]


def build(store: Store, resource: Resource) -> APIRouter:
    router = APIRouter(prefix="/v2.0")
    collection_path = f"/{resource.collection}"
    item_path = f"/{resource.collection}/{{item_id}}"
    attributes = views.ATTRIBUTES[resource.singular]

    @router.get(collection_path, name=f"list_{resource.collection}")
    def list_items(request: Request) -> dict[str, Any]:
        params = list(request.query_params.multi_items())
        with store.reading() as session:
            rows = session.scalars(
                select(resource.model).order_by(resource.model.created_at, resource.model.id)
            )
            items = [resource.view(session, row) for row in rows]
        page = listing.query(items, params, attributes)
        body: dict[str, Any] = {
            resource.collection: [listing.select_fields(item, params) for item in page.items]
        }
        if page.next_marker is not None:
            next_url = request.url.remove_query_params("marker").include_query_params(
                marker=page.next_marker
            )
            body[f"{resource.collection}_links"] = [{"rel": "next", "href": str(next_url)}]
        return body

    @router.get(item_path, name=f"show_{resource.singular}")
    def show_item(item_id: str, request: Request) -> dict[str, Any]:
        with store.reading() as session:
            item = resource.view(session, lookups.get(session, resource.model, item_id))
        params = list(request.query_params.multi_items())
        return {resource.singular: listing.select_fields(item, params)}

    @router.post(collection_path, status_code=201, name=f"create_{resource.singular}")
    def create_item(request: Request, body: Annotated[Any, Body()] = None) -> dict[str, Any]:
        attributes = parse(resource.create_body, unwrap(body, resource.singular))
        with store.writing(_context(store, request)) as transaction:
            return {resource.singular: resource.create(transaction, attributes)}

    @router.put(item_path, name=f"update_{resource.singular}")
    def update_item(
        item_id: str, request: Request, body: Annotated[Any, Body()] = None
    ) -> dict[str, Any]:
        attributes = parse(
            resource.update_body, unwrap(body, resource.singular), read_only=resource.create_body
        )
        with store.writing(_context(store, request)) as transaction:
            return {resource.singular: resource.update(transaction, item_id, attributes)}

    @router.delete(item_path, status_code=204, name=f"delete_{resource.singular}")
    def delete_item(item_id: str, request: Request) -> Response:
        with store.writing(_context(store, request)) as transaction:
            resource.delete(transaction, item_id)
        return Response(status_code=204)

    return router


def _context(store: Store, request: Request) -> context.RequestContext:
    return context.from_headers(request.headers, store.default_project_id)
