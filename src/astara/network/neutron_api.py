"""The network model over the Neutron v2 REST API: one client for both modes.

The local API and a real Neutron serve the same URLs and documents, so the
only difference between the modes is the openstacksdk connection handed in
(see :mod:`astara.network.session`). Requests go through the connection's
network proxy (a keystoneauth adapter: catalog lookup, version discovery,
tokens) and answers are parsed from Neutron's own JSON by
:mod:`astara.network.base`, so notifications and API answers are read the
same way.

Failures a retry can cure (no connection, a timeout, a 5xx, 408 or 429) are
retried with exponential backoff; when the attempts run out the caller gets
:class:`~astara.network.errors.NetworkModelUnavailable`. Anything else is
reported at once: 404 as ``ResourceGone`` (or ``None`` where "gone" is an
answer), other 4xx as ``RequestRefused``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import requests
import tenacity
from keystoneauth1 import exceptions as ks_exceptions
from openstack import exceptions as sdk_exceptions
from openstack.connection import Connection

from astara.network.base import (
    ROUTER_PORT_OWNERS,
    AddressRequest,
    FilterValue,
    FloatingIp,
    Network,
    NetworkModel,
    Port,
    Router,
    RouterStatus,
    Subnet,
)
from astara.network.errors import (
    MalformedResource,
    NetworkModelError,
    NetworkModelUnavailable,
    RequestRefused,
    ResourceGone,
)

LOG = logging.getLogger(__name__)

#: The path (under ``/v2.0``) where the orchestrator records a router's status:
#: served by the local API and by Astara's Neutron extension alike.
ROUTER_STATUS_PATH = "/astara/routerstatus/{router_id}"
#: The extension alias that says the API accepts ``port_security_enabled``.
PORT_SECURITY_EXTENSION = "port-security"
#: HTTP statuses that say "try again later" rather than "no".
_RETRYABLE_STATUSES = frozenset({408, 429})

DEFAULT_ATTEMPTS = 5
DEFAULT_WAIT = tenacity.wait_exponential(multiplier=0.5, max=8)


class _Transient(Exception):
    """A failure worth retrying (internal: callers see NetworkModelUnavailable)."""


class NeutronNetworkModel(NetworkModel):
    """:class:`NetworkModel` over a Neutron v2 API reached through ``connection``.

    ``port_security_extension`` is ``[DEFAULT]
    neutron_port_security_extension_enabled``: when False, port security is
    never touched; when True it is disabled where asked, if the API lists the
    extension. ``attempts`` and ``wait`` shape the retries of transient failures.
    """

    def __init__(
        self,
        connection: Connection,
        *,
        port_security_extension: bool = True,
        attempts: int = DEFAULT_ATTEMPTS,
        wait: tenacity.wait.wait_base = DEFAULT_WAIT,
    ) -> None:
        if attempts < 1:
            raise ValueError(f"attempts must be >= 1, not {attempts}")
        self._connection = connection
        self._attempts = attempts
        self._wait = wait
        #: None until asked: whether the API accepts ``port_security_enabled``.
        self._port_security: bool | None = None if port_security_extension else False

    # -- NetworkModel ----------------------------------------------------------------

    def get_router(self, router_id: str) -> Router | None:
        try:
            document = self._show("routers", "router", router_id)
        except ResourceGone:
            return None
        ports = self.list_ports(device_id=router_id)
        floating_ips = self._floating_ips(router_id=router_id)
        return Router.from_neutron(document, ports, floating_ips)

    def list_routers(self) -> list[Router]:
        """Every router; one that does not parse is logged and left out.

        Three requests whatever the number of routers: the routers, every
        router-owned port, every floating IP.
        """
        documents = self._list("routers")
        ports_by_router: dict[str, list[Port]] = defaultdict(list)
        for port in self.list_ports(device_owner=sorted(ROUTER_PORT_OWNERS)):
            ports_by_router[port.device_id].append(port)
        floating_ips_by_router: dict[str | None, list[FloatingIp]] = defaultdict(list)
        for floating_ip in self._floating_ips():
            floating_ips_by_router[floating_ip.router_id].append(floating_ip)
        routers = []
        for document in documents:
            router_id = document.get("id") if isinstance(document, dict) else None
            try:
                routers.append(
                    Router.from_neutron(
                        document,
                        ports_by_router.get(str(router_id), []),
                        floating_ips_by_router.get(str(router_id), []),
                    )
                )
            except MalformedResource as exc:
                LOG.error("network model: router left out: %s", exc)
        return routers

    def get_networks(self, network_ids: Iterable[str]) -> dict[str, Network]:
        wanted = sorted(set(network_ids))
        if not wanted:
            return {}
        documents = self._list("networks", id=wanted)
        subnets = self._subnets(network_id=wanted)
        networks = (Network.from_neutron(document, subnets) for document in documents)
        return {network.id: network for network in networks}

    def list_ports(self, **filters: FilterValue) -> list[Port]:
        return [Port.from_neutron(document) for document in self._list("ports", **filters)]

    def create_port(
        self,
        network_id: str,
        name: str,
        *,
        device_owner: str = "",
        device_id: str = "",
        fixed_ips: Sequence[AddressRequest] | None = None,
        disable_port_security: bool = False,
    ) -> Port:
        body: dict[str, Any] = {
            "network_id": network_id,
            "name": name,
            "admin_state_up": True,
            "device_owner": device_owner,
            "device_id": device_id,
            # The appliance filters traffic itself; Neutron's default group would
            # drop what it forwards for others.
            "security_groups": [],
        }
        if fixed_ips is not None:
            body["fixed_ips"] = [request.to_neutron() for request in fixed_ips]
        if disable_port_security and self._supports_port_security():
            body["port_security_enabled"] = False
        what = f"create port {name!r} on network {network_id}"
        response = self._request("POST", "/ports", what, json={"port": body})
        return Port.from_neutron(_member(_ok(response, what), "port"))

    def delete_port(self, port_id: str) -> None:
        what = f"delete port {port_id}"
        response = self._request("DELETE", f"/ports/{port_id}", what)
        if response.status_code != 404:
            _check(response, what)

    def update_router_status(self, router_id: str, status: RouterStatus) -> bool:
        what = f"set the status of router {router_id} to {status}"
        path = ROUTER_STATUS_PATH.format(router_id=router_id)
        try:
            response = self._request(
                "PUT", path, what, json={"routerstatus": {"status": str(status)}}
            )
            _check(response, what)
        except NetworkModelError as exc:
            LOG.warning("network model: %s", exc)
            return False
        return True

    # -- reading ---------------------------------------------------------------------

    def _floating_ips(self, **filters: FilterValue) -> list[FloatingIp]:
        return [FloatingIp.from_neutron(d) for d in self._list("floatingips", **filters)]

    def _subnets(self, **filters: FilterValue) -> list[Subnet]:
        """The subnets matching ``filters``; one that does not parse is logged and left out.

        Leaving it out serves the rest of its network; refusing it would leave
        the whole router unconfigurable until someone repairs the subnet.
        """
        subnets = []
        for document in self._list("subnets", **filters):
            try:
                subnets.append(Subnet.from_neutron(document))
            except MalformedResource as exc:
                LOG.error("network model: subnet left out: %s", exc)
        return subnets

    def _show(self, collection: str, kind: str, item_id: str) -> Any:
        what = f"read {kind} {item_id}"
        response = self._request("GET", f"/{collection}/{item_id}", what)
        if response.status_code == 404:
            raise ResourceGone(kind, item_id)
        return _member(_ok(response, what), kind)

    def _list(self, collection: str, **filters: FilterValue) -> list[Any]:
        """Every item of ``collection`` matching ``filters``, following Neutron's pages.

        A filter with no alternatives (an empty list) matches nothing; sent as
        is, it would vanish from the query and match everything.
        """
        if any(not isinstance(value, str) and not value for value in filters.values()):
            return []
        what = f"list {collection}"
        items: list[Any] = []
        url: str | None = f"/{collection}"
        params: dict[str, Any] | None = _query(filters)
        while url is not None:
            document = _ok(self._request("GET", url, what, params=params), what)
            page = _member(document, collection)
            if not isinstance(page, list):
                raise MalformedResource(collection, None, "the answer is not a list")
            items.extend(page)
            url = _next_page(document, collection)
            params = None  # the next link carries the query
        return items

    def _supports_port_security(self) -> bool:
        if self._port_security is None:
            what = f"look up extension {PORT_SECURITY_EXTENSION}"
            response = self._request("GET", f"/extensions/{PORT_SECURITY_EXTENSION}", what)
            if response.status_code != 404:
                _check(response, what)
            self._port_security = response.status_code != 404
        return self._port_security

    # -- HTTP ------------------------------------------------------------------------

    def _request(self, method: str, url: str, what: str, **kwargs: Any) -> requests.Response:
        """One request, retried with backoff while it fails in a way time may cure."""
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self._attempts),
            wait=self._wait,
            retry=tenacity.retry_if_exception_type(_Transient),
            before_sleep=_log_retry(what),
            reraise=True,
        )
        try:
            response: requests.Response = retrying(self._attempt, method, url, **kwargs)
        except _Transient as exc:
            raise NetworkModelUnavailable(
                f"{what}: {exc} (gave up after {self._attempts} attempts)"
            ) from exc
        except (ks_exceptions.ClientException, sdk_exceptions.SDKException) as exc:
            raise NetworkModelError(f"{what}: {exc}") from exc
        return response

    def _attempt(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """One try. The network proxy is looked up here, not at construction: finding
        it asks the API (version discovery), and Neutron may start after us."""
        try:
            response: requests.Response = self._connection.network.request(
                url, method, raise_exc=False, connect_retries=0, **kwargs
            )
        except ks_exceptions.SSLError:
            raise  # a certificate problem does not go away by waiting
        except (ks_exceptions.ConnectionError, ks_exceptions.DiscoveryFailure) as exc:
            raise _Transient(str(exc)) from exc
        except ks_exceptions.HttpError as exc:
            # Raised by keystoneauth itself (authentication, discovery).
            if _retryable(exc.http_status or 0):
                raise _Transient(str(exc)) from exc
            raise
        if _retryable(response.status_code):
            raise _Transient(f"HTTP {response.status_code}: {_reason(response)}")
        return response


def _retryable(status: int) -> bool:
    return status >= 500 or status in _RETRYABLE_STATUSES


def _log_retry(what: str) -> Callable[[tenacity.RetryCallState], None]:
    def log(state: tenacity.RetryCallState) -> None:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        delay = state.next_action.sleep if state.next_action else 0.0
        LOG.warning(
            "network model: %s failed (%s); attempt %d, retrying in %.1f s",
            what,
            error,
            state.attempt_number,
            delay,
        )

    return log


def _query(filters: Mapping[str, FilterValue]) -> dict[str, Any]:
    """Query parameters; a sequence becomes a repeated key, which Neutron reads as "any of"."""
    return {key: value if isinstance(value, str) else list(value) for key, value in filters.items()}


def _check(response: requests.Response, what: str) -> None:
    if response.status_code >= 400:
        raise RequestRefused(what, response.status_code, _reason(response))


def _ok(response: requests.Response, what: str) -> dict[str, Any]:
    """The JSON object of a successful answer."""
    _check(response, what)
    try:
        document = response.json()
    except ValueError:
        raise MalformedResource("answer", None, f"{what}: not JSON") from None
    if not isinstance(document, dict):
        raise MalformedResource("answer", None, f"{what}: not a JSON object")
    return document


def _member(document: Mapping[str, Any], key: str) -> Any:
    if key not in document:
        raise MalformedResource(key, None, f"the answer has no {key!r} member")
    return document[key]


def _next_page(document: Mapping[str, Any], collection: str) -> str | None:
    links = document.get(f"{collection}_links") or []
    return next(
        (
            link["href"]
            for link in links
            if isinstance(link, dict) and link.get("rel") == "next" and link.get("href")
        ),
        None,
    )


def _reason(response: requests.Response) -> str:
    """Neutron's error message, or the start of the body when it is not Neutron's shape."""
    try:
        document = response.json()
    except ValueError:
        return response.text[:200] or response.reason or ""
    error = document.get("NeutronError") if isinstance(document, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    return str(document)[:200]
