"""Networks: create, update and delete."""

from __future__ import annotations

from typing import Any

from astara.localapi import lookups, models, views
from astara.localapi.errors import Conflict
from astara.localapi.notifications import create_or_update, deleted
from astara.localapi.schemas import NetworkCreate, NetworkUpdate
from astara.localapi.transaction import Transaction


def create(tx: Transaction, body: NetworkCreate) -> dict[str, Any]:
    attributes = body.given()
    attributes.pop("tenant_id", None)
    attributes.pop("project_id", None)
    network = models.Network(
        id=models.new_id(tx.session),
        project_id=body.owner(tx.context.project_id), **attributes)
    tx.session.add(network)
    tx.session.flush()
    view = views.network(network)
    tx.announce(create_or_update("network", "create", view))
    return view


def update(tx: Transaction, network_id: str, body: NetworkUpdate) -> dict[str, Any]:
    network = lookups.get(tx.session, models.Network, network_id)
    changes = body.given()
    if network.external and changes.get("external") is False:
        _refuse_if_routed(network)
    for name, value in changes.items():
        setattr(network, name, value)
    tx.session.flush()
    view = views.network(network)
    tx.announce(create_or_update("network", "update", view))
    return view


def delete(tx: Transaction, network_id: str) -> None:
    network = lookups.get(tx.session, models.Network, network_id)
    if network.ports:
        raise Conflict(
            f"Unable to complete operation on network {network_id}. "
            "There are one or more ports still in use on the network.",
            "NetworkInUse",
        )
    view = views.network(network)
    tx.session.delete(network)
    tx.session.flush()
    tx.announce(deleted("network", view))


def _refuse_if_routed(network: models.Network) -> None:
    """An external network carrying router gateways or floating IPs must stay external."""
    if any(port.device_owner in models.ROUTER_OWNED for port in network.ports):
        raise Conflict(
            f"External network {network.id} cannot be updated to be internal: "
            "it has router gateway or floating IP ports.",
            "ExternalNetworkInUse",
        )
