"""The orchestrator's metadata proxy, with Nova replaced by an httpx mock transport."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from astara.orchestrator.metadata_proxy import (
    InstanceLookup,
    create_metadata_app,
    sign_instance_id,
)

SECRET = "secret"
NOVA = "http://nova.example:8775"
KNOWN_SIGNATURE = "d01de1f41d4a78fbaed37260f9bc0e83fd35c2b9fa33b57a08fe3eaed2fd7750"


class Ports(InstanceLookup):
    """Instance ports: (network, address) -> (instance, tenant)."""

    def __init__(self) -> None:
        self.ports = {("net-a", "10.0.0.5"): ("instance-1", "tenant-a")}

    def find_instance(self, network_id: str, fixed_ip: str) -> tuple[str, str] | None:
        return self.ports.get((network_id, fixed_ip))


class Nova:
    """Records what reached Nova and answers with a chosen status (or raises)."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.status = 200
        self.failure: Exception | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.failure is not None:
            raise self.failure
        return httpx.Response(
            self.status, text=f"answer {request.method}", headers={"content-type": "text/plain"}
        )


@pytest.fixture
def nova() -> Nova:
    return Nova()


@pytest.fixture
def client(nova: Nova) -> Iterator[TestClient]:
    app = create_metadata_app(Ports(), NOVA, SECRET, upstream_transport=httpx.MockTransport(nova))
    with TestClient(app) as test_client:
        yield test_client


IDENTITY = {"X-Astara-Network-ID": "net-a", "X-Forwarded-For": "10.0.0.5"}


def test_signature_is_hmac_sha256_of_the_instance_id() -> None:
    assert sign_instance_id(SECRET, "instance-1") == KNOWN_SIGNATURE


def test_forwards_a_get_with_the_signed_identity(client: TestClient, nova: Nova) -> None:
    answer = client.get("/latest/meta-data/instance-id?x=1", headers=IDENTITY)
    assert answer.status_code == 200
    assert answer.text == "answer GET"
    (sent,) = nova.requests
    assert str(sent.url) == f"{NOVA}/latest/meta-data/instance-id?x=1"
    assert sent.headers["X-Instance-ID"] == "instance-1"
    assert sent.headers["X-Tenant-ID"] == "tenant-a"
    assert sent.headers["X-Forwarded-For"] == "10.0.0.5"
    assert sent.headers["X-Instance-ID-Signature"] == KNOWN_SIGNATURE


def test_forwards_the_method_and_body(client: TestClient, nova: Nova) -> None:
    answer = client.post(
        "/openstack/latest/password",
        content=b"secret-password",
        headers={**IDENTITY, "Content-Type": "text/plain"},
    )
    assert answer.status_code == 200
    (sent,) = nova.requests
    assert sent.method == "POST"
    assert sent.content == b"secret-password"
    assert sent.headers["content-type"] == "text/plain"


def test_the_legacy_network_header_is_understood(client: TestClient, nova: Nova) -> None:
    headers = {"X-Quantum-Network-ID": "net-a", "X-Forwarded-For": "10.0.0.5"}
    assert client.get("/latest/meta-data/", headers=headers).status_code == 200
    assert nova.requests[0].headers["X-Instance-ID"] == "instance-1"


@pytest.mark.parametrize(
    "identity",
    [
        {"X-Astara-Network-ID": "net-b", "X-Forwarded-For": "10.0.0.5"},
        {"X-Astara-Network-ID": "net-a", "X-Forwarded-For": "10.0.0.6"},
    ],
    ids=["another network", "another address"],
)
def test_no_instance_there_is_404_and_nova_is_never_asked(
    client: TestClient, nova: Nova, identity: dict[str, str]
) -> None:
    assert client.get("/latest/meta-data/instance-id", headers=identity).status_code == 404
    assert nova.requests == []


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Forwarded-For": "10.0.0.5"},
        {"X-Astara-Network-ID": "net-a"},
        {"X-Astara-Network-ID": "net-a", "X-Forwarded-For": "10.0.0.5, 10.0.0.6"},
    ],
    ids=["no network", "no address", "two addresses"],
)
def test_incomplete_identity_is_400(
    client: TestClient, nova: Nova, headers: dict[str, str]
) -> None:
    assert client.get("/latest/meta-data/", headers=headers).status_code == 400
    assert nova.requests == []


@pytest.mark.parametrize("status", [200, 403, 404, 500])
def test_nova_answers_are_passed_through(client: TestClient, nova: Nova, status: int) -> None:
    nova.status = status
    assert client.get("/latest/", headers=IDENTITY).status_code == status


@pytest.mark.parametrize("status", [201, 302, 400, 503])
def test_other_nova_answers_become_502(client: TestClient, nova: Nova, status: int) -> None:
    nova.status = status
    answer = client.get("/latest/", headers=IDENTITY)
    assert answer.status_code == 502
    assert str(status) in answer.text


@pytest.mark.parametrize(
    ("failure", "status"),
    [
        (lambda: httpx.ReadTimeout("slow"), 504),
        (lambda: httpx.ConnectError("refused"), 502),
    ],
    ids=["timeout", "unreachable"],
)
def test_nova_failures_are_gateway_errors(
    client: TestClient, nova: Nova, failure: Callable[[], Exception], status: int
) -> None:
    nova.failure = failure()
    assert client.get("/latest/", headers=IDENTITY).status_code == status
