"""astara-ctl's side of the control API: HTTP calls to one orchestrator.

Every command astara-ctl sends goes through :class:`ControlClient`, in both
modes: the orchestrator's control API (:mod:`astara.orchestrator.control_api`)
checks the caller's token and turns the request into the same
``astara.command`` payload the bus carries. Every failure an operator can
meet (nothing listening, a refused token, a refused command, a timeout)
becomes one :class:`ControlClientError` whose message is one line.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any, Protocol

import httpx

from astara.orchestrator.commands import CommandError, command_payload

#: Seconds astara-ctl waits for an answer unless told otherwise.
DEFAULT_TIMEOUT_S = 30.0
#: The header carrying the caller's token (Keystone's, so one client serves both modes).
TOKEN_HEADER = "X-Auth-Token"


class ControlClientError(Exception):
    """A request the orchestrator did not carry out; the message says why, in one line."""


class Control(Protocol):
    """What the operator tools (astara-ctl, browse) need of the orchestrator."""

    def resources(self) -> list[dict[str, Any]]:
        """Every resource the orchestrator drives, as the control API lists them."""
        ...

    def resource(self, resource_id: str) -> dict[str, Any]:
        """One resource, by id; ControlClientError when the orchestrator does not know it."""
        ...

    def command(self, command: str, **arguments: Any) -> dict[str, Any]:
        """Send an operator command (``astara.orchestrator.commands.Command``) and its arguments."""
        ...

    def workers(self) -> list[dict[str, Any]]:
        """The workers-debug report of every worker process."""
        ...


class ControlClient:
    """Calls the control API at ``base_url`` with ``token``."""

    def __init__(
        self, base_url: str, token: str | None, *, timeout: float = DEFAULT_TIMEOUT_S
    ) -> None:
        headers = {TOKEN_HEADER: token} if token else {}
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def resources(self, **filters: str) -> list[dict[str, Any]]:
        """``filters``: the list's query (``driver``, ``tenant_id``, ``state``)."""
        answer = self._request("GET", "/v1/resources", params=filters)
        listed: list[dict[str, Any]] = answer["resources"]
        return listed

    def resource(self, resource_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self._request("GET", f"/v1/resources/{resource_id}")["resource"]
        return found

    def command(self, command: str, **arguments: Any) -> dict[str, Any]:
        """Check the command here first, so a refusal needs no round trip."""
        try:
            payload = command_payload(command, **arguments)
        except CommandError as error:
            raise ControlClientError(str(error)) from None
        return self.send(payload)

    def send(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Send a checked ``astara.command`` payload; what the orchestrator made of it."""
        answer: dict[str, Any] = self._request("POST", "/v1/commands", json=payload)
        return answer

    def workers(self) -> list[dict[str, Any]]:
        reports: list[dict[str, Any]] = self._request("GET", "/v1/workers")["workers"]
        return reports

    def workers_debug(self) -> list[dict[str, Any]]:
        """The workers' reports, which each worker also logs (the operator's workers-debug)."""
        reports: list[dict[str, Any]] = self._request("PUT", "/workers/debug")["workers"]
        return reports

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _request(
        self,
        method: str,
        path: str,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        try:
            response = self._http.request(method, path, json=json, params=params)
        except httpx.TimeoutException:
            raise ControlClientError(
                f"the control API at {self.base_url} did not answer in time"
            ) from None
        except httpx.HTTPError as error:
            raise ControlClientError(
                f"cannot reach the control API at {self.base_url}: {error}"
            ) from None
        if response.is_success:
            return response.json()
        raise ControlClientError(_refusal(response))


def _refusal(response: httpx.Response) -> str:
    """The API's own one-line reason (FastAPI's ``detail``), or the status line."""
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = None
    if not isinstance(detail, str):
        detail = response.reason_phrase
    return f"the control API refused ({response.status_code}): {detail}"
