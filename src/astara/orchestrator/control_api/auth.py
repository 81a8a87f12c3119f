"""Who may call the control API: a token checked on every request.

The original's control API had no authentication at all and relied on the
management network being private. Here every route but the spec needs a
token, from one of two sources chosen by ``[DEFAULT] api_auth_strategy``:

- ``token_file`` (single-host mode): the caller presents the token kept in
  ``api_token_file``, which only its owner (root) can read;
- ``keystone`` (cloud mode): the caller presents a Keystone token; the API
  validates it with Keystone (``GET /v3/auth/tokens``, with the
  orchestrator's own ``[keystone_authtoken]`` credentials) and requires
  ``api_admin_role`` among its roles. Valid tokens are remembered for a
  short while so a busy console does not ask Keystone on every refresh.

The token travels in ``X-Auth-Token`` (Keystone's header) or as
``Authorization: Bearer`` (what Prometheus sends to a scrape target).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

LOG = logging.getLogger(__name__)

#: Seconds a token Keystone accepted is trusted without asking again.
KEYSTONE_CACHE_S = 60.0
#: Tokens remembered at most (a flood of distinct tokens must not grow memory).
KEYSTONE_CACHE_SIZE = 1024


class Unauthenticated(Exception):
    """No token, or one that is not valid: 401."""


class Forbidden(Exception):
    """A valid token without the right to operate Astara: 403."""


@dataclass(frozen=True, slots=True)
class Caller:
    """Who made a request, for the logs and the command's context."""

    name: str


class Authenticator(Protocol):
    """Checks a request's token."""

    def authenticate(self, token: str | None) -> Caller:
        """The caller; Unauthenticated or Forbidden when it may not call."""
        ...


class TokenAuthenticator:
    """Accepts exactly one token (the one in ``api_token_file``)."""

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("the control API's token must not be empty")
        self._token = token.encode()

    def authenticate(self, token: str | None) -> Caller:
        if token is None:
            raise Unauthenticated("no token: send X-Auth-Token")
        if not hmac.compare_digest(token.encode(), self._token):
            raise Unauthenticated("the token is not valid")
        return Caller("token-file")


#: Validates a token with Keystone: the token's body (``{"token": ...}``), or None if invalid.
TokenValidator = Callable[[str], dict[str, Any] | None]


class KeystoneAuthenticator:
    """Accepts Keystone tokens whose roles include ``admin_role``."""

    def __init__(
        self,
        validate: TokenValidator,
        admin_role: str,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._validate = validate
        self._admin_role = admin_role
        self._clock = clock
        self._lock = threading.Lock()
        self._trusted: dict[str, tuple[float, Caller]] = {}

    def authenticate(self, token: str | None) -> Caller:
        if token is None:
            raise Unauthenticated("no token: send a Keystone token in X-Auth-Token")
        key = hashlib.sha256(token.encode()).hexdigest()
        now = self._clock()
        with self._lock:
            remembered = self._trusted.get(key)
        if remembered is not None and remembered[0] > now:
            return remembered[1]
        body = self._validate(token)
        if body is None:
            raise Unauthenticated("Keystone does not accept this token")
        caller = self._admin_caller(body.get("token", {}))
        with self._lock:
            if len(self._trusted) >= KEYSTONE_CACHE_SIZE:
                self._trusted.clear()
            self._trusted[key] = (now + KEYSTONE_CACHE_S, caller)
        return caller

    def _admin_caller(self, token: dict[str, Any]) -> Caller:
        roles = {role.get("name") for role in token.get("roles", []) if isinstance(role, dict)}
        user = token.get("user", {}).get("name", "?")
        if self._admin_role not in roles:
            raise Forbidden(f"user {user} does not have the {self._admin_role!r} role")
        return Caller(f"keystone:{user}")


def keystone_validator(session: Any) -> TokenValidator:
    """Validate tokens with the identity service ``session`` (keystoneauth1) authenticates to."""

    def validate(token: str) -> dict[str, Any] | None:
        response = session.get(
            "/auth/tokens",
            endpoint_filter={"service_type": "identity", "interface": "public", "version": (3, 0)},
            headers={"X-Subject-Token": token},
            raise_exc=False,
        )
        if response.status_code in (401, 403, 404):
            return None
        if response.status_code != 200:
            LOG.warning("Keystone answered %d validating a token", response.status_code)
            return None
        body: dict[str, Any] = response.json()
        return body

    return validate


def token_of(x_auth_token: str | None, authorization: str | None) -> str | None:
    """The token from ``X-Auth-Token``, or else from ``Authorization: Bearer``."""
    if x_auth_token:
        return x_auth_token.strip()
    if authorization:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
    return None
