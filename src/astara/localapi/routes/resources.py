"""List, show, create, update and delete routes, the same for every resource.

Neutron's five verbs behave identically across networks, subnets, ports,
routers and floating IPs (``{"network": {...}}`` in and out, ``fields=``,
filters, 201 on create, 204 on delete), so they are written once here and
each resource only says what is specific to it (:class:`Resource`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response
from sqlalchemy import Select, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.interfaces import ORMOption

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
    #: Filter keys that are string columns of the same name, shown as stored:
    #: lists narrow on them in SQL before the exact, view-level filter runs.
    column_filters: frozenset[str] = frozenset()
    #: Loader options for what the view reads of each row (one query, not one per row).
    eager: tuple[ORMOption, ...] = ()


#: Filter keys every resource narrows on in SQL (``tenant_id`` is the ``project_id`` column).
_STANDARD_COLUMN_FILTERS = frozenset({"id", "name", "project_id", "tenant_id"})
_COLUMN_OF_KEY = {"tenant_id": "project_id"}


def _narrowed(
    statement: Select[Any], resource: Resource, params: Sequence[tuple[str, str]]
) -> Select[Any]:
    """``statement`` limited to rows that can pass the query's column filters.

    Only narrows: :func:`astara.localapi.listing.query` still applies every
    filter to the views, so a value that may mean null is left to it.
    """
    for key, values in listing.group(params).items():
        if key not in resource.column_filters | _STANDARD_COLUMN_FILTERS:
            continue
        if listing.NULL_SPELLINGS.intersection(values):
            continue
        column = getattr(resource.model, _COLUMN_OF_KEY.get(key, key))
        statement = statement.where(column.in_(values))
    return statement


def build(store: Store, resource: Resource) -> APIRouter:
    router = APIRouter(prefix="/v2.0")
    collection_path = f"/{resource.collection}"
    item_path = f"/{resource.collection}/{{item_id}}"
    attributes = views.ATTRIBUTES[resource.singular]

    @router.get(collection_path, name=f"list_{resource.collection}")
    def list_items(request: Request) -> dict[str, Any]:
        params = list(request.query_params.multi_items())
        with store.reading() as session:
            statement = select(resource.model).options(*resource.eager)
            statement = _narrowed(statement, resource, params).order_by(
                resource.model.created_at, resource.model.id
            )
            items = [resource.view(session, row) for row in session.scalars(statement)]
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
