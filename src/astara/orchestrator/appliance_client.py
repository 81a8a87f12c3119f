"""The orchestrator's side of the appliance agent's REST API.

Every appliance runs an agent that serves, on its management address::

    GET /v1/base/               liveness probe (200 = alive; cheap on purpose)
    GET /v1/system/interfaces   {"interfaces": [{"ifname", "lladdr", "addresses", "mtu", "state"}]}
    PUT /v1/system/config/      the configuration document -> 200 {"configuration": {...}}
                                or 422/500 {"detail": ...} when it cannot be applied
    GET /v1/system/counters     {"interfaces": {ifname: {"rx_bytes", "tx_bytes", ...}}}

The abstract :class:`ApplianceClient` is what the instance manager uses, so
its tests run against a double; :class:`HttpApplianceClient` is the real one.
"""

from __future__ import annotations

import ipaddress
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

import httpx


class ApplianceError(Exception):
    """The appliance could not be reached or answered something unusable."""


class ApplianceConfigError(ApplianceError):
    """The appliance refused a configuration; the message is the agent's explanation."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(f"appliance rejected the config (HTTP {status_code}): {detail}")
        self.status_code = status_code
        self.detail = detail


class ApplianceClient(ABC):
    """Talks to the agent of the appliance at a management address."""

    @abstractmethod
    def is_alive(self, address: str, timeout: float) -> bool:
        """True when the agent answers the liveness probe within ``timeout`` seconds."""

    @abstractmethod
    def get_interfaces(self, address: str) -> list[dict[str, Any]]:
        """The appliance's interfaces as it sees them (each with ``ifname`` and ``lladdr``)."""

    @abstractmethod
    def put_config(self, address: str, config: Mapping[str, Any], timeout: float) -> dict[str, Any]:
        """Apply ``config``; return the configuration the agent now serves.

        Raises :class:`ApplianceConfigError` when the agent refuses it.
        """

    @abstractmethod
    def read_counters(self, address: str) -> dict[str, Any]:
        """Traffic counters per interface: ``{ifname: {"rx_bytes": ..., ...}}``."""


def base_url(address: str, port: int) -> str:
    """``http://<address>:<port>/v1/``, with an IPv6 literal in brackets as URLs need."""
    try:
        is_v6 = ipaddress.ip_address(address).version == 6
    except ValueError:
        is_v6 = False  # a host name
    host = f"[{address}]" if is_v6 else address
    return f"http://{host}:{port}/v1/"


class HttpApplianceClient(ApplianceClient):
    """The agent's API over HTTP, through one pooled connection pool.

    The management network is private to the cloud, so proxy settings from the
    environment (``HTTP_PROXY``...) would only send requests where they cannot
    arrive: ``trust_env`` is off. One ``httpx.Client`` is shared by every
    worker thread (it is thread-safe), so connections to busy appliances are
    reused instead of reopened per request.
    """

    def __init__(self, port: int = 5000, *, timeout: float = 30) -> None:
        self._port = port
        self._timeout = timeout
        self._http = httpx.Client(trust_env=False, timeout=timeout)

    def close(self) -> None:
        """Close the pooled connections (at orchestrator shutdown)."""
        self._http.close()

    def is_alive(self, address: str, timeout: float) -> bool:
        try:
            response = self._http.get(self._url(address, "base/"), timeout=timeout)
        except httpx.HTTPError:
            return False
        return response.status_code == httpx.codes.OK

    def get_interfaces(self, address: str) -> list[dict[str, Any]]:
        document = self._get_json(address, "system/interfaces")
        interfaces = document.get("interfaces")
        if not isinstance(interfaces, list):
            raise ApplianceError(f"{address}: interface list missing from the agent's answer")
        return interfaces

    def put_config(self, address: str, config: Mapping[str, Any], timeout: float) -> dict[str, Any]:
        url = self._url(address, "system/config/")
        try:
            response = self._http.put(url, json=dict(config), timeout=timeout)
        except httpx.HTTPError as exc:
            raise ApplianceError(f"{address}: config push failed: {_describe(exc)}") from exc
        if response.status_code != httpx.codes.OK:
            raise ApplianceConfigError(response.status_code, _error_detail(response))
        applied = _json_object(address, response).get("configuration")
        if not isinstance(applied, dict):
            raise ApplianceError(f"{address}: applied configuration missing from the answer")
        return applied

    def read_counters(self, address: str) -> dict[str, Any]:
        counters = self._get_json(address, "system/counters").get("interfaces")
        if not isinstance(counters, dict):
            raise ApplianceError(f"{address}: counters missing from the agent's answer")
        return counters

    def _url(self, address: str, path: str) -> str:
        return base_url(address, self._port) + path

    def _get_json(self, address: str, path: str) -> dict[str, Any]:
        try:
            response = self._http.get(self._url(address, path))
        except httpx.HTTPError as exc:
            raise ApplianceError(f"{address}: GET {path} failed: {_describe(exc)}") from exc
        if response.status_code != httpx.codes.OK:
            raise ApplianceError(
                f"{address}: GET {path} answered HTTP {response.status_code}: "
                f"{_error_detail(response)}"
            )
        return _json_object(address, response)


def _describe(exc: httpx.HTTPError) -> str:
    """A one-line reason: some httpx errors (timeouts) have an empty message."""
    return str(exc) or type(exc).__name__


def _json_object(address: str, response: httpx.Response) -> dict[str, Any]:
    try:
        document = response.json()
    except ValueError as exc:
        raise ApplianceError(f"{address}: the agent's answer is not JSON") from exc
    if not isinstance(document, dict):
        raise ApplianceError(f"{address}: the agent's answer is not a JSON object")
    return document


def _error_detail(response: httpx.Response) -> str:
    """The agent's ``detail`` message, or the raw body when it sent something else."""
    try:
        document = response.json()
    except ValueError:
        return response.text.strip() or response.reason_phrase
    if isinstance(document, dict) and "detail" in document:
        detail = document["detail"]
        # FastAPI's validation errors (422) are a list of objects: keep them readable.
        return detail if isinstance(detail, str) else json.dumps(detail, sort_keys=True)
    return response.text.strip()
