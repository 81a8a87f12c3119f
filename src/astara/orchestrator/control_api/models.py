"""The control API's request and response bodies (pydantic), which make its OpenAPI spec.

The limits on ids and reasons are the database's, so a command the API
accepts is one the debug store can record.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from astara.db.models import ID_LENGTH, REASON_LENGTH
from astara.orchestrator.commands import Command


class ReasonOptions(BaseModel):
    """The optional body of a ``PUT /<command words>`` (the original took none)."""

    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=REASON_LENGTH)


class ResourceOptions(ReasonOptions):
    """The optional body of a ``PUT /resource|router/<action>/<id>``.

    ``image_uuid`` is for rebuild only (400 for the other actions).
    """

    tenant_id: str | None = Field(default=None, min_length=1, max_length=ID_LENGTH)
    image_uuid: str | None = Field(default=None, min_length=1, max_length=ID_LENGTH)


class CommandRequest(ResourceOptions):
    """``POST /v1/commands``: one ``astara.command`` payload, as astara-ctl sends it.

    Which arguments a command takes is :mod:`astara.orchestrator.commands`'
    to say: one it does not take gets 400.
    """

    command: Command
    resource_id: str | None = Field(default=None, min_length=1, max_length=ID_LENGTH)
    router_id: str | None = Field(default=None, min_length=1, max_length=ID_LENGTH)
    enabled: int | None = Field(default=None, ge=0, le=1)


class Problem(BaseModel):
    """Why a request was refused (FastAPI's error body), in one line."""

    detail: str


class CommandAccepted(BaseModel):
    """What the orchestrator made of a command."""

    command: str
    host: str = Field(description="the orchestrator that took the command")
    scheduled: int = Field(
        description="events the command was scheduled as (0: it only changed debug flags "
        "or concerned no resource)"
    )


class ResourceView(BaseModel):
    """One resource as its worker sees it."""

    driver: str
    id: str
    tenant_id: str
    state: str = Field(description="the state machine's current state")
    instance_state: str = Field(description="the appliance's state")
    queue_depth: int = Field(description="actions queued in its state machine")
    debug: str | None = Field(description="why debug mode holds it, or null when managed")
    last_error: str | None = None
    last_error_at: float | None = Field(default=None, description="epoch seconds")
    last_configured_at: float | None = Field(default=None, description="epoch seconds")
    worker: str = Field(description="the worker process driving it")
    host: str = Field(description="the orchestrator driving it")


class ResourceList(BaseModel):
    resources: list[ResourceView]
    unanswered_workers: list[str] = Field(
        description="workers whose resources are missing because they did not answer in time"
    )


class ResourceFound(BaseModel):
    resource: ResourceView


class WorkersReport(BaseModel):
    host: str
    workers: list[dict[str, Any]] = Field(description="each worker process's workers-debug report")


class ClusterView(BaseModel):
    clustered: bool = Field(description="whether [coordination] is enabled")
    host: str = Field(description="this orchestrator's name on the ring ([DEFAULT] host)")
    members: list[str] | None = Field(
        description="the orchestrators on the ring (null before the first membership)"
    )
