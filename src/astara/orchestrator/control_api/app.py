"""The control API: operator commands and the state of every resource, over HTTP.

Routes (every one needs a token, see :mod:`.auth`; the spec is at ``/openapi.json``):

- the original's command routes, whose path is the astara-ctl command line:
  ``PUT /poll``, ``/workers/debug``, ``/config/reload``,
  ``/global/debug/{enable|disable}``, ``/tenant/{debug|manage}/<id>``,
  ``/resource/{debug|manage|update|rebuild}/<id>``,
  ``/router/{debug|manage|update|rebuild}/<id>`` (a trailing slash is
  accepted, as the original's documented ``curl -X PUT .../poll/`` has one),
  now with an optional JSON body for what the original could not take
  (``reason``, ``tenant_id``, ``image_uuid``);
- ``POST /v1/commands``: one ``astara.command`` payload (what astara-ctl sends);
- ``GET /v1/resources``, ``GET /v1/resources/<id>``: each resource's state,
  instance state, last error, last config time, worker and host;
- ``GET /v1/workers``: every worker process's workers-debug report;
- ``GET /v1/cluster``: whether clustered, this orchestrator's name, the members;
- ``GET /metrics``: Prometheus metrics.

A command goes through the same intake as a notification on the bus, so the
API can do nothing the bus could not; it is checked first, so a command the
orchestrator would refuse gets 400 with the reason and changes nothing.

No ``from __future__ import annotations`` here: FastAPI reads the routes'
annotations at run time, and ``Authenticated`` is local to
:func:`create_control_app` (it closes over the authenticator), which a
string annotation could not be resolved to.
"""

import logging
from collections.abc import Callable
from typing import Annotated, Any, Literal, Protocol

from fastapi import Body, Depends, FastAPI, Header, HTTPException, Query, Response

from astara.orchestrator import debug_commands, metrics
from astara.orchestrator.commands import (
    COMMAND_EVENT_TYPE,
    Command,
    CommandError,
    PayloadKey,
    command_event,
    command_payload,
)
from astara.orchestrator.control_api.auth import (
    Authenticator,
    Caller,
    Forbidden,
    Unauthenticated,
    token_of,
)
from astara.orchestrator.control_api.models import (
    ClusterView,
    CommandAccepted,
    CommandRequest,
    Problem,
    ReasonOptions,
    ResourceFound,
    ResourceList,
    ResourceOptions,
    ResourceView,
    WorkersReport,
)
from astara.orchestrator.intake import IntakeClosed
from astara.orchestrator.outboxes import OutboxesClosed

LOG = logging.getLogger(__name__)

#: Seconds the API waits for the workers' reports; a silent worker is named in the answer.
REPORT_WAIT_S = 10.0


class ControlService(Protocol):
    """What the API needs of :class:`~astara.orchestrator.service.OrchestratorService`."""

    def submit(self, event_type: str, payload: Any, context: Any = None) -> int: ...

    def reports(self, timeout: float) -> list[dict[str, Any]]: ...

    def workers_debug(self, timeout: float) -> list[dict[str, Any]]: ...

    def cluster_view(self) -> dict[str, Any]: ...


ResourceAction = Literal["debug", "manage", "update", "rebuild"]
TenantAction = Literal["debug", "manage"]
Reason = Annotated[ReasonOptions | None, Body()]
Options = Annotated[ResourceOptions | None, Body()]
#: What every route may answer besides its success, for the spec.
REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "no token, or not a valid one"},
    403: {"model": Problem, "description": "a valid token without the admin role"},
    503: {"model": Problem, "description": "the orchestrator is stopping"},
}
COMMAND_REFUSALS: dict[int | str, dict[str, Any]] = {
    **REFUSALS,
    400: {"model": Problem, "description": "a command the orchestrator would refuse"},
}


def create_control_app(service: ControlService, authenticator: Authenticator, host: str) -> FastAPI:
    """The control API of the orchestrator ``host`` serving ``service``."""
    app = FastAPI(
        title="Astara control API",
        version="1.0",
        description="Operate the Astara orchestrator: commands, resource state, metrics.",
        redirect_slashes=False,
    )

    def caller(
        x_auth_token: Annotated[str | None, Header()] = None,
        authorization: Annotated[str | None, Header()] = None,
    ) -> Caller:
        try:
            return authenticator.authenticate(token_of(x_auth_token, authorization))
        except Unauthenticated as error:
            raise HTTPException(401, str(error), headers={"WWW-Authenticate": "Bearer"}) from None
        except Forbidden as error:
            raise HTTPException(403, str(error)) from None

    Authenticated = Annotated[Caller, Depends(caller)]

    def run(request: dict[str, Any], who: Caller) -> CommandAccepted:
        """Check ``request`` as astara-ctl does (an argument the command does not take
        is refused, not dropped), then submit it as a notification would be."""
        arguments = dict(request)
        name = arguments.pop(PayloadKey.COMMAND.value)
        try:
            payload = command_payload(name, **arguments)
            event = command_event(payload)
        except CommandError as error:
            raise HTTPException(400, str(error)) from None
        try:
            scheduled = service.submit(COMMAND_EVENT_TYPE, payload, {"caller": who.name})
        except IntakeClosed:
            raise HTTPException(503, f"orchestrator {host} is stopping") from None
        if scheduled == 0 and debug_commands.changes_debug_flags(event):
            raise HTTPException(503, "the debug flag could not be recorded; see the log")
        LOG.info("command %s from %s: %d event(s)", payload[PayloadKey.COMMAND], who.name,
                 scheduled)  # fmt: skip
        return CommandAccepted(command=payload[PayloadKey.COMMAND], host=host, scheduled=scheduled)

    def reports(read: Callable[[float], list[dict[str, Any]]]) -> list[dict[str, Any]]:
        try:
            return read(REPORT_WAIT_S)
        except OutboxesClosed:
            raise HTTPException(503, f"orchestrator {host} is stopping") from None

    def put(path: str, endpoint: Callable[..., Any], **route: Any) -> None:
        """Serve ``path`` with and without the trailing slash the original's docs use."""
        app.add_api_route(path, endpoint, methods=["PUT"], **route)
        app.add_api_route(f"{path}/", endpoint, methods=["PUT"], include_in_schema=False, **route)

    def command(name: Command, options: ReasonOptions | None, **target: Any) -> dict[str, Any]:
        given = options.model_dump(exclude_none=True) if options else {}
        return {PayloadKey.COMMAND.value: name.value, **given, **target}

    def poll(who: Authenticated) -> CommandAccepted:
        """POLL every resource now (its appliance is checked at once)."""
        return run(command(Command.POLL, None), who)

    def config_reload(who: Authenticated) -> CommandAccepted:
        """Every worker reads its configuration files again."""
        return run(command(Command.CONFIG_RELOAD, None), who)

    def workers_debug(who: Authenticated) -> WorkersReport:
        """Every worker logs its report, which is also the answer."""
        LOG.info("workers-debug from %s", who.name)
        return WorkersReport(host=host, workers=reports(service.workers_debug))

    def global_debug(
        status: Literal["enable", "disable"], who: Authenticated, options: Reason = None
    ) -> CommandAccepted:
        """Global debug mode: while enabled, no resource is acted on."""
        enabled = 1 if status == "enable" else 0
        return run(command(Command.GLOBAL_DEBUG, options, enabled=enabled), who)

    def tenant(
        action: TenantAction, tenant_id: str, who: Authenticated, options: Reason = None
    ) -> CommandAccepted:
        """Put every resource of a tenant in debug mode (ignored), or manage them again."""
        name = Command(f"tenant-{action}")
        return run(command(name, options, tenant_id=tenant_id), who)

    def resource(
        action: ResourceAction, resource_id: str, who: Authenticated, options: Options = None
    ) -> CommandAccepted:
        """Debug (ignore), manage, update (push its config) or rebuild one resource."""
        name = Command(f"resource-{action}")
        return run(command(name, options, resource_id=resource_id), who)

    def router(
        action: ResourceAction, router_id: str, who: Authenticated, options: Options = None
    ) -> CommandAccepted:
        """The router-only forms of the resource commands, kept for operators' scripts."""
        name = Command(f"router-{action}")
        return run(command(name, options, router_id=router_id), who)

    commands: dict[str, Any] = {"tags": ["commands"], "responses": COMMAND_REFUSALS}
    put("/poll", poll, **commands)
    put("/config/reload", config_reload, **commands)
    put("/workers/debug", workers_debug, tags=["commands"], responses=REFUSALS)
    put("/global/debug/{status}", global_debug, **commands)
    put("/tenant/{action}/{tenant_id}", tenant, **commands)
    put("/resource/{action}/{resource_id}", resource, **commands)
    put("/router/{action}/{router_id}", router, **commands)

    @app.post("/v1/commands", **commands)
    def post_command(request: CommandRequest, who: Authenticated) -> CommandAccepted:
        """Any operator command, as one ``astara.command`` payload."""
        return run(request.model_dump(mode="json", exclude_none=True), who)

    def views() -> tuple[list[ResourceView], list[str]]:
        found, silent = [], []
        for report in reports(service.reports):
            if "error" in report:
                silent.append(str(report.get("worker")))
                continue
            for row in report.get("resources", []):
                found.append(ResourceView(**row, worker=report["worker"], host=host))
        return found, silent

    @app.get("/v1/resources", tags=["state"], responses=REFUSALS)
    def list_resources(
        who: Authenticated,
        driver: Annotated[str | None, Query()] = None,
        tenant_id: Annotated[str | None, Query()] = None,
        state: Annotated[str | None, Query(description="state or instance state")] = None,
    ) -> ResourceList:
        """Every resource the orchestrator drives, by driver and id."""
        found, silent = views()
        wanted = [
            view
            for view in found
            if driver in (None, view.driver)
            and tenant_id in (None, view.tenant_id)
            and state in (None, view.state, view.instance_state)
        ]
        wanted.sort(key=lambda view: (view.driver, view.id))
        return ResourceList(resources=wanted, unanswered_workers=silent)

    @app.get("/v1/resources/{resource_id}", tags=["state"],
             responses={**REFUSALS, 404: {"model": Problem, "description": "no worker drives it"}})
    def show_resource(resource_id: str, who: Authenticated) -> ResourceFound:
        """One resource; 404 when no worker drives it (or its worker did not answer)."""
        found, silent = views()
        for view in found:
            if view.id == resource_id.lower():
                return ResourceFound(resource=view)
        unanswered = f" (workers {', '.join(silent)} did not answer)" if silent else ""
        raise HTTPException(404, f"no worker drives resource {resource_id}{unanswered}")

    @app.get("/v1/workers", tags=["state"], responses=REFUSALS)
    def workers(who: Authenticated) -> WorkersReport:
        """Every worker process's report, without logging it."""
        return WorkersReport(host=host, workers=reports(service.reports))

    @app.get("/v1/cluster", tags=["state"], responses=REFUSALS)
    def cluster(who: Authenticated) -> ClusterView:
        """The cluster as this orchestrator sees it (``/v1/resources`` says who owns what)."""
        return ClusterView(**service.cluster_view())

    @app.get("/metrics", tags=["state"], response_class=Response, responses=REFUSALS)
    def scrape(who: Authenticated) -> Response:
        """Prometheus metrics of the orchestrator and its workers."""
        return Response(metrics.exposition(reports(service.reports)),
                        media_type=metrics.CONTENT_TYPE)  # fmt: skip

    return app
