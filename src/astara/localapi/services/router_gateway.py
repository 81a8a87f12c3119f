"""A router's external gateway: the port it has on an external network.

``external_gateway_info`` in a request is the desired state; this module
creates, re-addresses, moves or removes the ``network:router_gateway`` port
to match it. Floating IPs reach their ports through the gateway, so a gateway
they depend on cannot be removed or moved away.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from astara.localapi import lookups, models
from astara.localapi.errors import BadRequest, Conflict
from astara.localapi.schemas import GatewayInfo
from astara.localapi.services.allocation import choose_addresses
from astara.localapi.services.port_builder import assign_addresses, new_port, router_port_status


def set_gateway(session: Session, router: models.Router, info: GatewayInfo | None) -> None:
    current = lookups.gateway_port(session, router.id)
    if info is None or info.network_id is None:
        if current is not None:
            _remove(session, router, current)
        return
    network = lookups.get(session, models.Network, info.network_id)
    if not network.external:
        raise BadRequest(f"Bad router request: Network {network.id} is not an external network.")
    router.enable_snat = info.enable_snat
    wanted = info.external_fixed_ips if "external_fixed_ips" in info.model_fields_set else None
    if current is not None and current.network_id == network.id:
        if wanted is not None:
            assign_addresses(session, current, choose_addresses(session, current, wanted))
        return
    if current is not None:
        _remove(session, router, current)
    port = new_port(
        session,
        network,
        project_id="",
        fixed_ips=wanted or None,
        device_owner=models.ROUTER_GATEWAY,
        device_id=router.id,
        status=router_port_status(router),
    )
    if not port.fixed_ips:
        raise BadRequest(f"Bad router request: No IPs available for external network {network.id}.")


def _remove(session: Session, router: models.Router, gateway: models.Port) -> None:
    if lookups.floating_ips_of_router(session, router.id):
        raise Conflict(
            f"Gateway cannot be updated for router {router.id}, since a gateway to external "
            f"network {gateway.network_id} is required by one or more floating IPs.",
            "RouterExternalGatewayInUseByFloatingIp",
        )
    session.delete(gateway)
    session.flush()
