"""The control API of a real ``astara-orchestrator``, over HTTP, with real worker processes.

The unit of truth here is what an operator (or Prometheus, or astara-ctl)
sees on the wire: the token is checked on every route but the spec, a
command has its effect in the workers (the doubles' record file says which
state machine ran which action), a refused command changes nothing, the
resource listing and ``/metrics`` show what the workers hold and did, and no
generated request (schemathesis, from the served spec) makes the API fail.

The orchestrator runs over ``tests.orchestrator_doubles_wiring`` (as in
``test_orchestrator_process``), so no cloud is needed. One process serves the
whole module (every test leaves the debug flags as it found them); the
fuzzer gets a process of its own, since it leaves random flags behind.

Absence is never waited for: to show that an action did *not* run, a later
action on the same resource is waited for instead (its worker handles events
in order, one thread at a time per resource), and it must be one the missing
action would have absorbed (a REBUILD absorbs an UPDATE), so an action that
slipped through shows either as its own line or as the later one missing.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from prometheus_client.parser import text_string_to_metric_families
from schemathesis.core.result import Ok

from astara.orchestrator.cli_options import PROG
from tests.orchestrator_doubles_wiring import listed_router, read_record
from tests.orchestrator_setup import Setup, stop_process_group
from tests.waiting import wait_until

#: Routers the doubles' network model lists: five tenants of three, on both workers.
ROUTERS = 15
ROUTER_IDS = [listed_router(n).id for n in range(ROUTERS)]
HTTP_TIMEOUT_S = 30.0
FUZZ_EXAMPLES_PER_OPERATION = 50


Record = list[tuple[str, str, str]]


@dataclass
class Orchestrator:
    """A running orchestrator, its control API, and the record its state machines write."""

    setup: Setup
    process: subprocess.Popen[bytes]
    url: str
    token: str
    http: httpx.Client

    def call(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        """``method path`` with the right token in ``X-Auth-Token`` unless ``headers`` is given."""
        sent = {"X-Auth-Token": self.token} if headers is None else headers
        return self.http.request(method, path, headers=sent, json=json)

    def ok(self, method: str, path: str, *, json: Any = None) -> dict[str, Any]:
        """The body of a call that must succeed."""
        response = self.call(method, path, json=json)
        assert response.status_code == 200, (method, path, response.status_code, response.text)
        body: dict[str, Any] = response.json()
        return body

    def resources(self, **filters: str) -> list[dict[str, Any]]:
        listing = self.http.get(
            "/v1/resources", params=filters, headers={"X-Auth-Token": self.token}
        )
        assert listing.status_code == 200, listing.text
        rows: list[dict[str, Any]] = listing.json()["resources"]
        return rows

    def debug_of(self) -> dict[str, str | None]:
        """Each resource's debug reason (None when managed), by id."""
        return {row["id"]: row["debug"] for row in self.resources()}

    def mark(self) -> int:
        """Where the record ends now; see :meth:`since`."""
        return len(read_record(self.setup.record))

    def since(self, mark: int) -> Record:
        """The actions the state machines ran after :meth:`mark` returned ``mark``."""
        return read_record(self.setup.record)[mark:]

    def wait_for(self, mark: int, crud: str, resource_id: str) -> None:
        wait_until(
            lambda: (crud, "router", resource_id) in self.since(mark),
            f"{crud} of {resource_id} ran",
        )


@contextmanager
def running_orchestrator(root: Path, *, routers: int) -> Iterator[Orchestrator]:
    """Start the orchestrator over doubles, wait for its API and its first UPDATEs; stop it after.

    The process group is stopped (SIGTERM, then SIGKILL) however the tests end.
    """
    setup = Setup(root, workers=2, threads=2)
    process = setup.start(resources=routers)
    url = setup.url
    http = httpx.Client(base_url=url, timeout=HTTP_TIMEOUT_S)
    try:

        def answering() -> bool:
            if process.poll() is not None:
                raise AssertionError(
                    f"{PROG} exited with {process.returncode}:\n{setup.stderr.read_text()[-3000:]}"
                )
            try:
                http.get("/openapi.json")
            except httpx.TransportError:
                return False
            return True

        wait_until(answering, "the control API answered")
        listed = {listed_router(n).id for n in range(routers)}
        wait_until(
            lambda: (
                {rid for crud, _, rid in read_record(setup.record) if crud == "update"} == listed
            ),
            "every listed router got its first UPDATE",
        )
        token = (root / "control-api.token").read_text().strip()
        yield Orchestrator(setup, process, url, token, http)
    finally:
        http.close()
        stop_process_group(process)


@pytest.fixture(scope="module")
def orchestrator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orchestrator]:
    with running_orchestrator(tmp_path_factory.mktemp("control-api"), routers=ROUTERS) as running:
        yield running


# -- the token ------------------------------------------------------------------------


def test_the_token_file_is_made_readable_by_its_owner_only(orchestrator: Orchestrator) -> None:
    token_file = orchestrator.setup.root / "control-api.token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert len(orchestrator.token) >= 32


#: Every route of the API (both spellings of one PUT), each with a harmless target.
ROUTES = [
    ("PUT", "/poll"),
    ("PUT", "/poll/"),
    ("PUT", "/config/reload"),
    ("PUT", "/workers/debug"),
    ("PUT", "/global/debug/enable"),
    ("PUT", "/tenant/debug/tenant-0001"),
    ("PUT", "/resource/rebuild/router-0003"),
    ("PUT", "/router/debug/router-0003"),
    ("POST", "/v1/commands"),
    ("GET", "/v1/resources"),
    ("GET", "/v1/resources/router-0003"),
    ("GET", "/v1/workers"),
    ("GET", "/metrics"),
]

#: Requests that carry no valid token, by what they lack.
NOT_AUTHENTICATED: dict[str, Callable[[str], dict[str, str]]] = {
    "no token": lambda token: {},
    "a wrong X-Auth-Token": lambda token: {"X-Auth-Token": "0" * len(token)},
    "a wrong bearer token": lambda token: {"Authorization": f"Bearer {token}x"},
    "the token, but not as a bearer": lambda token: {"Authorization": f"Basic {token}"},
}


@pytest.mark.parametrize("credentials", NOT_AUTHENTICATED)
@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_refuses_a_caller_without_the_token(
    orchestrator: Orchestrator, method: str, path: str, credentials: str
) -> None:
    body = (
        {"command": "resource-rebuild", "resource_id": "router-0003"} if method == "POST" else None
    )
    headers = NOT_AUTHENTICATED[credentials](orchestrator.token)
    response = orchestrator.call(method, path, headers=headers, json=body)
    assert response.status_code == 401, response.text
    assert response.headers.get("WWW-Authenticate") == "Bearer"
    assert "\n" not in response.json()["detail"]


def test_a_refused_command_changes_nothing_and_the_same_command_with_the_token_runs(
    orchestrator: Orchestrator,
) -> None:
    target = "router-0003"
    mark = orchestrator.mark()
    for credentials in NOT_AUTHENTICATED.values():
        headers = credentials(orchestrator.token)
        put = orchestrator.call("PUT", f"/resource/rebuild/{target}", headers=headers)
        post = orchestrator.call(
            "POST",
            "/v1/commands",
            headers=headers,
            json={"command": "resource-rebuild", "resource_id": target},
        )
        assert (put.status_code, post.status_code) == (401, 401)

    # An UPDATE, which a REBUILD that got through would have absorbed or preceded.
    assert orchestrator.ok("PUT", f"/resource/update/{target}")["command"] == "resource-update"
    orchestrator.wait_for(mark, "update", target)
    assert ("rebuild", "router", target) not in orchestrator.since(mark)

    accepted = orchestrator.call(
        "POST",
        "/v1/commands",
        headers={"Authorization": f"Bearer {orchestrator.token}"},
        json={"command": "resource-rebuild", "resource_id": target},
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["command"] == "resource-rebuild"
    orchestrator.wait_for(mark, "rebuild", target)


def test_both_token_headers_are_accepted(orchestrator: Orchestrator) -> None:
    for headers in (
        {"X-Auth-Token": orchestrator.token},
        {"Authorization": f"Bearer {orchestrator.token}"},
        {"authorization": f"bearer  {orchestrator.token}"},
    ):
        response = orchestrator.call("GET", "/v1/resources", headers=headers)
        assert response.status_code == 200, (headers.keys(), response.text)
        assert sorted(row["id"] for row in response.json()["resources"]) == ROUTER_IDS


# -- reading the state ------------------------------------------------------------------


def test_the_listing_shows_every_resource_with_its_state_and_where_it_runs(
    orchestrator: Orchestrator,
) -> None:
    listing = orchestrator.ok("GET", "/v1/resources")
    assert listing["unanswered_workers"] == []
    rows = listing["resources"]
    assert [row["id"] for row in rows] == ROUTER_IDS, "every router, sorted by driver and id"
    hosts = {row["host"] for row in rows}
    assert len(hosts) == 1 and hosts != {""}
    worker_of_tenant: dict[str, set[str]] = {}
    for n, row in enumerate(rows):
        assert row["driver"] == "router"
        assert row["tenant_id"] == listed_router(n).tenant_id
        assert row["state"]
        assert row["instance_state"] == "configured", row
        assert row["debug"] is None
        assert row["worker"] in {"p00", "p01"}
        worker_of_tenant.setdefault(row["tenant_id"], set()).add(row["worker"])
    assert all(len(workers) == 1 for workers in worker_of_tenant.values()), worker_of_tenant

    one = orchestrator.ok("GET", "/v1/resources/router-0004")["resource"]
    assert (one["id"], one["tenant_id"], one["worker"]) == (
        "router-0004",
        "tenant-0001",
        rows[4]["worker"],
    )


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (
            {"driver": "router", "tenant_id": "tenant-0001"},
            ["router-0003", "router-0004", "router-0005"],
        ),
        ({"tenant_id": "tenant-0004"}, ["router-0012", "router-0013", "router-0014"]),
        ({"driver": "router"}, ROUTER_IDS),
        ({"state": "configured"}, ROUTER_IDS),
        ({"driver": "loadbalancer"}, []),
        ({"tenant_id": "tenant-9999"}, []),
        ({"state": "error"}, []),
    ],
)
def test_filters_narrow_the_listing(
    orchestrator: Orchestrator, filters: dict[str, str], expected: list[str]
) -> None:
    assert [row["id"] for row in orchestrator.resources(**filters)] == expected


def test_a_resource_no_worker_drives_is_not_found(orchestrator: Orchestrator) -> None:
    response = orchestrator.call("GET", "/v1/resources/router-9999")
    assert response.status_code == 404
    assert "router-9999" in response.json()["detail"]


def test_workers_debug_and_the_workers_listing_report_every_worker(
    orchestrator: Orchestrator,
) -> None:
    host = orchestrator.resources()[0]["host"]
    for method, path in (("PUT", "/workers/debug"), ("GET", "/v1/workers")):
        body = orchestrator.ok(method, path)
        assert body["host"] == host
        assert [report["worker"] for report in body["workers"]] == ["p00", "p01"]
        assert all(report["pid"] != orchestrator.process.pid for report in body["workers"])
        held = sorted(row["id"] for report in body["workers"] for row in report["resources"])
        assert held == ROUTER_IDS, (method, path)


# -- commands ----------------------------------------------------------------------------


def test_a_resource_in_debug_mode_is_left_alone_until_it_is_managed_again(
    orchestrator: Orchestrator,
) -> None:
    held, neighbour = "router-0000", "router-0001"  # one tenant, so one worker
    reason = "operator looks at it"
    try:
        accepted = orchestrator.ok("PUT", f"/resource/debug/{held}", json={"reason": reason})
        assert accepted["command"] == "resource-debug" and accepted["scheduled"] >= 1
        wait_until(lambda: reason in (orchestrator.debug_of()[held] or ""), "the flag reached it")
        assert [rid for rid, why in orchestrator.debug_of().items() if why] == [held]

        mark = orchestrator.mark()
        orchestrator.ok("PUT", f"/resource/rebuild/{held}")
        orchestrator.ok("PUT", f"/resource/rebuild/{neighbour}")
        orchestrator.wait_for(mark, "rebuild", neighbour)
        assert [line for line in orchestrator.since(mark) if line[2] == held] == []

        assert orchestrator.ok("PUT", f"/resource/manage/{held}")["command"] == "resource-manage"
        wait_until(lambda: orchestrator.debug_of()[held] is None, "the flag was lifted")
        # The rebuild sent while held was dropped, not kept for later: an UPDATE runs alone.
        orchestrator.ok("PUT", f"/resource/update/{held}")
        orchestrator.wait_for(mark, "update", held)
        assert ("rebuild", "router", held) not in orchestrator.since(mark)

        orchestrator.ok("PUT", f"/resource/rebuild/{held}", json={"image_uuid": "image-new"})
        orchestrator.wait_for(mark, "rebuild", held)
    finally:
        orchestrator.call("PUT", f"/resource/manage/{held}")


def test_a_tenant_in_debug_mode_holds_all_its_resources_and_only_them(
    orchestrator: Orchestrator,
) -> None:
    tenant, reason = "tenant-0004", "tenant maintenance"
    members = {listed_router(n).id for n in range(ROUTERS) if listed_router(n).tenant_id == tenant}
    try:
        accepted = orchestrator.ok("PUT", f"/tenant/debug/{tenant}", json={"reason": reason})
        assert accepted["command"] == "tenant-debug"
        wait_until(
            lambda: {rid for rid, why in orchestrator.debug_of().items() if why} == members,
            "the tenant's flag reached its routers",
        )
        assert all(reason in (orchestrator.debug_of()[rid] or "") for rid in members)
        assert orchestrator.ok("PUT", f"/tenant/manage/{tenant}")["command"] == "tenant-manage"
        wait_until(lambda: not any(orchestrator.debug_of().values()), "the tenant is managed again")
    finally:
        orchestrator.call("PUT", f"/tenant/manage/{tenant}")


def test_global_debug_holds_every_resource_until_it_is_disabled(
    orchestrator: Orchestrator,
) -> None:
    reason, target = "cloud upgrade", "router-0006"
    try:
        accepted = orchestrator.ok("PUT", "/global/debug/enable", json={"reason": reason})
        assert accepted["command"] == "global-debug"
        wait_until(
            lambda: all(reason in (why or "") for why in orchestrator.debug_of().values()),
            "every router is held",
        )
        mark = orchestrator.mark()
        orchestrator.ok("PUT", f"/resource/rebuild/{target}")

        assert orchestrator.ok("PUT", "/global/debug/disable")["command"] == "global-debug"
        wait_until(lambda: not any(orchestrator.debug_of().values()), "every router is managed")
        orchestrator.ok("PUT", f"/resource/update/{target}")
        orchestrator.wait_for(mark, "update", target)
        assert ("rebuild", "router", target) not in orchestrator.since(mark)
    finally:
        orchestrator.call("PUT", "/global/debug/disable")


@pytest.mark.parametrize("path", ["/poll", "/poll/"])
def test_poll_reaches_every_resource(orchestrator: Orchestrator, path: str) -> None:
    mark = orchestrator.mark()
    assert orchestrator.ok("PUT", path)["command"] == "poll"
    wait_until(
        lambda: (
            {rid for crud, _, rid in orchestrator.since(mark) if crud == "poll"} == set(ROUTER_IDS)
        ),
        "every router was polled",
    )


def test_the_router_forms_of_the_commands_still_work(orchestrator: Orchestrator) -> None:
    target = "router-0007"
    mark = orchestrator.mark()
    assert orchestrator.ok("PUT", f"/router/update/{target}/")["command"] == "router-update"
    orchestrator.wait_for(mark, "update", target)
    # Router ids are lower-case UUIDs: the command finds the router whatever the case sent.
    command = {"command": "router-rebuild", "router_id": target.upper()}
    posted = orchestrator.ok("POST", "/v1/commands", json=command)
    assert posted["command"] == "router-rebuild"
    orchestrator.wait_for(mark, "rebuild", target)


def test_config_reload_is_accepted(orchestrator: Orchestrator) -> None:
    body = orchestrator.ok("PUT", "/config/reload")
    assert body["command"] == "config-reload"
    assert body["host"] == orchestrator.resources()[0]["host"]
    assert body["scheduled"] >= 1


def received(orchestrator: Orchestrator) -> float:
    """Everything the intake received so far (``astara_events_received_total``, all labels)."""
    return total(scrape(orchestrator), "astara_events_received_total")


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/v1/commands", {"command": "resource-debug", "resource_id": "*"}, 400),
        ("POST", "/v1/commands", {"command": "router-debug", "router_id": "error"}, 400),
        ("POST", "/v1/commands", {"command": "tenant-debug", "tenant_id": "*"}, 400),
        ("POST", "/v1/commands", {"command": "global-debug"}, 400),
        ("POST", "/v1/commands", {"command": "resource-rebuild"}, 400),
        ("POST", "/v1/commands", {"command": "poll", "resource_id": "router-0000"}, 400),
        ("PUT", "/resource/debug/*", None, 400),
        ("PUT", "/tenant/debug/*", None, 400),
        ("PUT", "/resource/debug/router-0000", {"image_uuid": "only rebuild takes one"}, 400),
        ("PUT", "/global/debug/enable", {"image_uuid": "global debug takes no image"}, 422),
        ("PUT", "/tenant/debug/tenant-1", {"tenant_id": "in the path already"}, 422),
        ("POST", "/v1/commands", {"command": "reboot-everything"}, 422),
        ("POST", "/v1/commands", {"command": "global-debug", "enabled": 2}, 422),
        ("PUT", "/resource/debug/router-0000", {"colour": "red"}, 422),
        ("PUT", "/resource/explode/router-0000", None, 422),
    ],
)
def test_a_command_the_orchestrator_would_refuse_is_refused_and_changes_nothing(
    orchestrator: Orchestrator, method: str, path: str, body: Any, status: int
) -> None:
    before = received(orchestrator)
    response = orchestrator.call(method, path, json=body)
    assert response.status_code == status, response.text
    if status == 400:
        detail = response.json()["detail"]
        assert isinstance(detail, str) and detail and "\n" not in detail
    assert received(orchestrator) == before, "nothing reached the intake"
    assert not any(orchestrator.debug_of().values())


# -- metrics -------------------------------------------------------------------------


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(orchestrator: Orchestrator) -> Samples:
    """``/metrics`` as Prometheus scrapes it (a bearer token), by sample name and labels."""
    response = orchestrator.call(
        "GET", "/metrics", headers={"Authorization": f"Bearer {orchestrator.token}"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples that have ``labels`` (over every worker)."""
    wanted = set(labels.items())
    return sum(
        value for (sample, have), value in samples.items() if sample == name and wanted <= have
    )


def test_metrics_count_what_the_commands_caused(orchestrator: Orchestrator) -> None:
    before = scrape(orchestrator)
    mark = orchestrator.mark()
    orchestrator.ok("PUT", "/resource/rebuild/router-0008")
    orchestrator.wait_for(mark, "rebuild", "router-0008")
    polled = orchestrator.mark()
    orchestrator.ok("PUT", "/poll")
    wait_until(
        lambda: (
            {rid for crud, _, rid in orchestrator.since(polled) if crud == "poll"}
            == set(ROUTER_IDS)
        ),
        "every router was polled",
    )
    after = scrape(orchestrator)

    def grew(name: str, by: float, **labels: str) -> None:
        was, now = total(before, name, **labels), total(after, name, **labels)
        assert now >= was + by, (name, labels, was, now)

    grew("astara_events_received_total", 1, crud="command")
    grew("astara_events_received_total", 1, crud="poll")
    grew("astara_instance_rebuilds_total", 1, driver="router")
    grew("astara_state_transitions_total", 2)
    grew("astara_health_poll_seconds_count", ROUTERS, driver="router")
    up = {
        dict(labels)["worker"]: value
        for (name, labels), value in after.items()
        if name == "astara_worker_up"
    }
    assert up == {"p00": 1.0, "p01": 1.0}
    assert total(after, "astara_resources", driver="router") == ROUTERS


# -- the spec, and every operation of it fuzzed --------------------------------------


def test_the_spec_is_served_without_a_token(orchestrator: Orchestrator) -> None:
    response = orchestrator.call("GET", "/openapi.json", headers={})
    assert response.status_code == 200, response.text
    paths = response.json()["paths"]
    assert {
        "/poll",
        "/config/reload",
        "/workers/debug",
        "/global/debug/{status}",
        "/tenant/{action}/{tenant_id}",
        "/resource/{action}/{resource_id}",
        "/router/{action}/{router_id}",
        "/v1/commands",
        "/v1/resources",
        "/v1/resources/{resource_id}",
        "/v1/workers",
        "/metrics",
    } <= set(paths)


@pytest.fixture
def fuzzed(tmp_path: Path) -> Iterator[Orchestrator]:
    """An orchestrator of its own: the fuzzer leaves random debug flags behind."""
    with running_orchestrator(tmp_path, routers=3) as running:
        yield running


def test_no_generated_request_makes_the_api_fail(fuzzed: Orchestrator) -> None:
    """Every operation of the served spec, fed generated requests with the token, answers
    without a 5xx, and the orchestrator survives them all.

    (Driven through schemathesis' Python API, as ``tests/e2e/appliance/test_api_fuzz.py``.)
    """
    schema = schemathesis.openapi.from_url(f"{fuzzed.url}/openapi.json")
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"the spec has an invalid operation: {result.err()}"
        operations.append(result.ok())
    assert len(operations) >= 12
    failures: list[str] = []
    statuses: dict[int, int] = {}
    for operation in operations:

        @settings(
            max_examples=FUZZ_EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            # The generated credentials would only ever meet the 401 tested above.
            case.headers.pop("Authorization", None)
            case.headers["X-Auth-Token"] = fuzzed.token
            response = case.call(base_url=fuzzed.url, timeout=HTTP_TIMEOUT_S)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            if response.status_code >= 500:
                failures.append(
                    f"{response.status_code} {response.text[:200]!r}\n  {case.as_curl_command()}"
                )

        check()
    assert failures == [], "\n".join(failures)
    assert statuses.get(200, 0) > 0, statuses
    assert fuzzed.process.poll() is None, "the orchestrator survived the fuzzing"
    assert fuzzed.ok("GET", "/v1/resources")["unanswered_workers"] == []
