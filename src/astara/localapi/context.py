"""Who a request acts for.

Single-host mode runs without Keystone ("noauth"), so every caller is an
administrator; the project a new resource belongs to is the ``X-Project-Id``
header when a client sends one and the store's default project otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: The project that owns resources created without an explicit one.
DEFAULT_PROJECT_ID = "00000000000000000000000000000001"
PROJECT_HEADER = "X-Project-Id"


@dataclass(frozen=True, slots=True)
class RequestContext:
    project_id: str
    is_admin: bool = True

    def as_notification_context(self) -> dict[str, Any]:
        """The context that travels with a notification, in Neutron's keys."""
        return {"tenant_id": self.project_id, "project_id": self.project_id, "is_admin": True}


def from_headers(headers: Any, default_project_id: str) -> RequestContext:
    """The context of a request, from its ``X-Project-Id`` header if it has one."""
    return RequestContext(project_id=headers.get(PROJECT_HEADER) or default_project_id)
