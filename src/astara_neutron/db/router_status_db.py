"""Reading and writing router status for the ``astara-routerstatus`` extension.

The status is written straight into Neutron's ``routers`` table: Neutron's
own router update path refuses ``status`` (it is not ``allow_put``), and going
through it would emit a ``router.update.end`` notification that Astara itself
consumes, so each status report would wake the orchestrator again.

Note: Neutron's Router versioned object only knows ACTIVE, ALLOCATING and
ERROR. BUILD and DOWN are stored and shown by the API as they are; a Neutron
service that loads routers as versioned objects (metering, conntrack helpers,
network logging) would reject a router in one of those two states.
"""

from typing import Any

import webob.exc
from neutron.db import models_v2
from neutron.db.models import l3 as l3_models
from neutron_lib import constants
from neutron_lib import exceptions as n_exc
from neutron_lib.db import api as db_api
from neutron_lib.db import utils as db_utils
from neutron_lib.exceptions import l3 as l3_exc

from astara_neutron.api_definitions import router_status

# Astara plugs each router interface through ports of its own named
# "ASTARA:VRRP:<router id>" (or "AKANDA:..." for routers made by older
# releases); the interface is only as healthy as those ports.
_APPLIANCE_PORT_NAME_PATTERN = "A%:VRRP:{router_id}"

_FILTERABLE = ("id", "status")


class RouterStatusDbMixin:
    """Plugin methods behind ``/v2.0/astara/routerstatus`` and ``/v2.0/dhrouterstatus``.

    Neutron derives the handler names from the resource and collection names:
    show and update call ``get_routerstatus``/``update_routerstatus``, listing
    the legacy collection calls ``get_dhrouterstatus`` and listing the current
    one calls ``get_routerstatus`` again, with no id.

    Every handler requires an admin (the orchestrator's service user): router
    ids and states of every project are listed here, and a tenant must not
    mark its own router ACTIVE.
    """

    def get_routerstatus(
        self,
        context: Any,
        id: str | None = None,
        fields: list[str] | None = None,
        filters: dict[str, list[Any]] | None = None,
        **_paging: Any,
    ) -> Any:
        _require_admin(context)
        if id is None:
            return self.get_dhrouterstatus(context, filters=filters, fields=fields)
        with db_api.CONTEXT_READER.using(context):
            return db_utils.resource_fields(_status_dict(_router(context, id)), fields)

    def get_dhrouterstatus(
        self,
        context: Any,
        filters: dict[str, list[Any]] | None = None,
        fields: list[str] | None = None,
        **_paging: Any,
    ) -> list[dict[str, Any]]:
        _require_admin(context)
        with db_api.CONTEXT_READER.using(context):
            query = context.session.query(l3_models.Router)
            for key, values in (filters or {}).items():
                if key in _FILTERABLE:
                    query = query.filter(getattr(l3_models.Router, key).in_(values))
            return [db_utils.resource_fields(_status_dict(r), fields) for r in query]

    def update_routerstatus(
        self, context: Any, id: str, routerstatus: dict[str, dict[str, str]]
    ) -> dict[str, Any]:
        _require_admin(context)
        status = routerstatus[router_status.RESOURCE_NAME]["status"]
        with db_api.CONTEXT_WRITER.using(context):
            router = _router(context, id)
            router.status = status
            _sync_interface_port_statuses(context, router)
            return _status_dict(router)


    def delete_routerstatus(self, context: Any, id: str) -> None:
        """Refused: a status cannot be deleted (the original's DELETE removed the router)."""
        raise webob.exc.HTTPMethodNotAllowed()


def _require_admin(context: Any) -> None:
    if not context.is_admin:
        raise n_exc.AdminRequired(reason="only the Astara orchestrator sets router status")


def _router(context: Any, router_id: str) -> Any:
    router = context.session.get(l3_models.Router, router_id)
    if router is None:
        raise l3_exc.RouterNotFound(router_id=router_id)
    return router


def _status_dict(router: Any) -> dict[str, Any]:
    return {"id": router.id, "status": router.status}


def _sync_interface_port_statuses(context: Any, router: Any) -> None:
    """Give each interface port the status of the appliance ports behind it.

    The first appliance port that is not ACTIVE decides. An interface with no
    appliance port behind it is left as it is: the original set it DOWN, which
    also hid interfaces of appliances that plug them some other way.
    """
    for router_port in router.attached_ports:
        if router_port.port_type != constants.DEVICE_OWNER_ROUTER_INTF:
            continue
        interface = router_port.port
        backing = (
            context.session.query(models_v2.Port)
            .filter(
                models_v2.Port.network_id == interface.network_id,
                models_v2.Port.name.like(_APPLIANCE_PORT_NAME_PATTERN.format(router_id=router.id)),
                models_v2.Port.device_owner != "",
                models_v2.Port.device_id != "",
            )
            .all()
        )
        if backing:
            interface.status = next(
                (port.status for port in backing if port.status != constants.PORT_STATUS_ACTIVE),
                constants.PORT_STATUS_ACTIVE,
            )
