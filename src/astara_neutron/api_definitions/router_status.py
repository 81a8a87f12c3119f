"""The router status resource: how Astara reports what its appliances are doing.

Neutron's router ``status`` is read-only because an L3 agent normally owns it.
In an Astara cloud the orchestrator knows whether a router's appliance is
booting, serving or broken, so this admin-only resource lets it write that
status where users look for it (``GET /v2.0/routers/{id}``).

The resource is served twice: at ``/v2.0/astara/routerstatus/{router_id}``
and, for orchestrators written against the original Astara, at
``/v2.0/dhrouterstatus/{router_id}``. Both take
``PUT {"routerstatus": {"status": "ACTIVE"}}``.
"""

from typing import Any, Final

ALIAS: Final = "astara-routerstatus"
IS_SHIM_EXTENSION: Final = False
IS_STANDARD_ATTR_EXTENSION: Final = False
NAME: Final = "Astara router status"
DESCRIPTION: Final = "Lets the Astara orchestrator set the status of the routers it serves"
UPDATED_TIMESTAMP: Final = "2025-01-01T00:00:00-00:00"

API_PREFIX: Final = "/astara"
RESOURCE_NAME: Final = "routerstatus"
COLLECTION_NAME: Final = "routerstatus"
LEGACY_COLLECTION_NAME: Final = "dhrouterstatus"

# The states the original orchestrator reported: BUILD while an appliance
# boots, ACTIVE once it is configured, ERROR when it cannot be, DOWN when it
# is stopped.
STATUSES: Final = ("ACTIVE", "BUILD", "DOWN", "ERROR")


def _status_attributes() -> dict[str, dict[str, Any]]:
    # No project_id: a router status belongs to the orchestrator, not to the
    # router's project; the plugin serves it to admins only.
    return {
        "id": {
            "allow_post": False,
            "allow_put": False,
            "validate": {"type:uuid": None},
            "is_visible": True,
            "is_filter": True,
            "primary_key": True,
        },
        "status": {
            "allow_post": False,
            "allow_put": True,
            "validate": {"type:values": list(STATUSES)},
            "is_visible": True,
            "is_filter": True,
        },
    }


RESOURCE_ATTRIBUTE_MAP: Final = {
    COLLECTION_NAME: _status_attributes(),
    LEGACY_COLLECTION_NAME: _status_attributes(),
}
SUB_RESOURCE_ATTRIBUTE_MAP: Final[dict[str, Any]] = {}
ACTION_MAP: Final[dict[str, Any]] = {}
ACTION_STATUS: Final[dict[str, Any]] = {}
REQUIRED_EXTENSIONS: Final = ["router"]
OPTIONAL_EXTENSIONS: Final[list[str]] = []
