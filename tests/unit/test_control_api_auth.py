"""Who the control API lets in: the token file's token, or a Keystone token with the admin role.

Keystone's validation is the authenticator's ``validate`` seam (in the
orchestrator, a GET of ``/v3/auth/tokens`` through keystoneauth1); here it is a
function answering with the body Keystone documents for a valid token, so
what is tested is the API's decision and its cache, not Keystone.
"""

from __future__ import annotations

from typing import Any

import pytest

from astara.orchestrator.control_api.auth import (
    KEYSTONE_CACHE_S,
    Forbidden,
    KeystoneAuthenticator,
    TokenAuthenticator,
    Unauthenticated,
    token_of,
)


def keystone_body(user: str, *roles: str) -> dict[str, Any]:
    """The part of Keystone's ``GET /v3/auth/tokens`` answer the authenticator reads."""
    return {"token": {"user": {"name": user, "id": "u1"},
                      "roles": [{"name": role, "id": f"r-{role}"} for role in roles]}}  # fmt: skip


class Keystone:
    """Knows some tokens; counts how often it is asked."""

    def __init__(self, known: dict[str, dict[str, Any]]) -> None:
        self.known = known
        self.asked = 0

    def validate(self, token: str) -> dict[str, Any] | None:
        self.asked += 1
        return self.known.get(token)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_token_file_authenticator_takes_only_its_token() -> None:
    authenticator = TokenAuthenticator("s3cret")
    assert authenticator.authenticate("s3cret").name
    for wrong in (None, "", "s3cre", "s3cret "):
        with pytest.raises(Unauthenticated):
            authenticator.authenticate(wrong)


def test_keystone_admits_an_admin_refuses_others_and_an_unknown_token() -> None:
    keystone = Keystone({"a": keystone_body("alice", "admin", "member"),
                         "b": keystone_body("bob", "member")})  # fmt: skip
    authenticator = KeystoneAuthenticator(keystone.validate, "admin", clock=Clock())

    assert authenticator.authenticate("a").name == "keystone:alice"
    with pytest.raises(Forbidden, match="bob"):
        authenticator.authenticate("b")
    with pytest.raises(Unauthenticated):
        authenticator.authenticate("nobody-issued-this")
    with pytest.raises(Unauthenticated):
        authenticator.authenticate(None)


def test_the_admin_role_is_the_configured_one() -> None:
    keystone = Keystone({"a": keystone_body("alice", "admin"), "o": keystone_body("olga", "ops")})
    authenticator = KeystoneAuthenticator(keystone.validate, "ops", clock=Clock())
    assert authenticator.authenticate("o").name == "keystone:olga"
    with pytest.raises(Forbidden):
        authenticator.authenticate("a")


def test_an_admitted_token_is_remembered_for_a_while_then_validated_again() -> None:
    keystone = Keystone({"a": keystone_body("alice", "admin")})
    clock = Clock()
    authenticator = KeystoneAuthenticator(keystone.validate, "admin", clock=clock)

    authenticator.authenticate("a")
    authenticator.authenticate("a")
    assert keystone.asked == 1
    clock.now += KEYSTONE_CACHE_S + 1
    del keystone.known["a"]  # revoked meanwhile
    with pytest.raises(Unauthenticated):
        authenticator.authenticate("a")
    assert keystone.asked == 2


def test_a_refused_token_is_asked_about_every_time() -> None:
    keystone = Keystone({})
    authenticator = KeystoneAuthenticator(keystone.validate, "admin", clock=Clock())
    for _ in range(3):
        with pytest.raises(Unauthenticated):
            authenticator.authenticate("x")
    assert keystone.asked == 3


@pytest.mark.parametrize(
    ("x_auth_token", "authorization", "expected"),
    [
        ("t1", None, "t1"),
        ("t1", "Bearer t2", "t1"),
        (None, "Bearer t2", "t2"),
        (None, "bearer  t2 ", "t2"),
        (None, "Basic dXNlcjpwYXNz", None),
        (None, "Bearer ", None),
        (None, None, None),
    ],
)
def test_the_token_comes_from_x_auth_token_or_a_bearer_authorization(
    x_auth_token: str | None, authorization: str | None, expected: str | None
) -> None:
    assert token_of(x_auth_token, authorization) == expected
