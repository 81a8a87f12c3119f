"""Astara in cloud mode keeps every router right while the bus or Neutron fails.

The orchestrator runs as in :mod:`tests.neutron.test_cloud_appliance`, against
the real Neutron and RabbitMQ. Two kinds of failure:

* RabbitMQ drops every connection of Neutron's virtual host (what a broker
  restart or a network cut does to its clients) while hundreds of routers are
  being changed: no notification may be lost, so each appliance must end
  with its router's last route and none of the earlier ones.
* Neutron answers 500 to everything, then hangs without answering (each
  request ends at Astara's timeout), while routers change and one is
  created: Astara must slow down, not crash (the orchestrator and its
  workers stay the same processes), and converge once Neutron is back.

Both print the event-to-configured latency they measured (p50, p95).
"""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from tests.neutron.cloud_astara import CloudAstara, cloud_astara
from tests.neutron.cloud_routers import (
    change_routes,
    create_gateway_routers,
    delete_routers,
    neutron_api,
    route_for,
    served_destinations,
    wait_all_configured,
)
from tests.neutron.conftest import NeutronServer
from tests.neutron.faulty_neutron import Fault

pytestmark = pytest.mark.neutron

#: Routers changed while the broker drops every connection, as the issue asks.
BROKER_ROUTERS = 200
#: Round 1 for every router, a break, half of round 2, a break, the other half.
CHANGE_ROUNDS = 2
#: Booting 200 appliances through one Neutron on two CPUs takes minutes.
SCALE_TEST_LIMIT_S = 900
#: Routers changed while Neutron fails, and how long each failure lasts: longer
#: than one request's retries (five attempts, about 7.5 s of backoff, each
#: attempt up to NEUTRON_TIMEOUT_S when Neutron hangs).
FAULT_ROUTERS = 6
FAULT_S = 25.0


@pytest.fixture(scope="module")
def cloud(
    neutron_server: NeutronServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CloudAstara]:
    with cloud_astara(neutron_server, tmp_path_factory.mktemp("cloud-resilience")) as astara:
        yield astara


def _close_broker_connections(cloud: CloudAstara) -> None:
    vhost = urlsplit(cloud.neutron.transport_url).path.lstrip("/")
    closed = subprocess.run(
        ["rabbitmqctl", "close_all_connections", "-p", vhost, "astt: test breaks the bus"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert closed.returncode == 0, closed.stderr


def _report_latency(what: str, configured_at: dict[str, float], asked: dict[str, float]) -> None:
    latencies = sorted(max(0.0, configured_at[r] - asked[r]) for r in asked)
    print(
        f"{what}: change to configured over {len(latencies)} routers: "
        f"p50 {statistics.median(latencies):.2f}s, "
        f"p95 {latencies[int(0.95 * (len(latencies) - 1))]:.2f}s, "
        f"max {latencies[-1]:.2f}s"
    )


def _wait_for_last_routes(cloud: CloudAstara, last_round: dict[str, int], index: dict[str, int],
                          rounds: range) -> None:
    """Until each router's appliance has its last round's route; then none of the others."""

    def wrong() -> list[str]:
        served = served_destinations(cloud, last_round)
        found_wrong = []
        for router_id, round_number in last_round.items():
            expected = route_for(round_number, index[router_id])["destination"]
            others = {route_for(r, index[router_id])["destination"] for r in rounds} - {expected}
            if expected not in served[router_id] or served[router_id] & others:
                found_wrong.append(router_id)
        return found_wrong

    cloud.wait_for(lambda: not wrong(), f"{len(last_round)} appliances serve their last route",
                   routers=len(last_round))


def test_neutron_failing_for_a_while_slows_astara_but_crashes_nothing(
    cloud: CloudAstara,
) -> None:
    faulty = cloud.faulty_neutron
    with neutron_api(cloud) as api:
        routers = create_gateway_routers(
            api, cloud, [f"astt-fault-{index}" for index in range(FAULT_ROUTERS)]
        )
        wait_all_configured(cloud, dict.fromkeys(routers, 0.0))
        workers = cloud.worker_pids()
        assert workers, "the control API names the worker processes"

        asked: dict[str, float] = {}
        last_round: dict[str, int] = {}
        for round_number, fault in enumerate((Fault.ERROR, Fault.STALL), start=1):
            answered_before = faulty.answered[fault]
            faulty.fault = fault
            try:
                asked.update(change_routes(api, routers, round_number))
                last_round.update(dict.fromkeys(routers, round_number))
                created_at = time.time()
                (late,) = create_gateway_routers(api, cloud, [f"astt-fault-late-{round_number}"])
                asked[late] = created_at
                routers.append(late)
                time.sleep(FAULT_S)  # Neutron stays broken this long
                assert faulty.answered[fault] > answered_before, "Astara asked the broken Neutron"
                assert cloud.orchestrator.poll() is None, cloud.log_tail()
            finally:
                faulty.fault = Fault.NONE
                healed_at = time.time()

        configured_at = wait_all_configured(cloud, asked)
        index = {router_id: position for position, router_id in enumerate(routers)}
        _wait_for_last_routes(cloud, last_round, index, range(1, 3))
        assert cloud.orchestrator.poll() is None
        assert cloud.worker_pids() == workers, "a worker process died and was replaced"
        _report_latency(f"Neutron failing {2 * FAULT_S:.0f}s", configured_at, asked)
        _report_latency("Neutron back", configured_at, dict.fromkeys(asked, healed_at))
        delete_routers(api, cloud, routers)


@pytest.mark.timeout(SCALE_TEST_LIMIT_S)
def test_broker_dropping_connections_while_routers_change_loses_no_notification(
    cloud: CloudAstara,
) -> None:
    with neutron_api(cloud) as api:
        started = time.time()
        names = [f"astt-bus-{index}" for index in range(BROKER_ROUTERS)]
        routers = create_gateway_routers(api, cloud, names)
        booted = wait_all_configured(cloud, dict.fromkeys(routers, 0.0))
        print(f"{BROKER_ROUTERS} routers created and configured in "
              f"{max(booted.values()) - started:.1f}s")

        asked: dict[str, float] = {}
        changing = time.time()
        half = BROKER_ROUTERS // 2
        for round_number in range(1, CHANGE_ROUNDS + 1):
            if round_number == 2:
                # Mid-round: half the routers changed before the break, half after.
                asked.update(change_routes(api, routers[:half], round_number))
                _close_broker_connections(cloud)
                asked.update(change_routes(api, routers[half:], round_number, first_index=half))
            else:
                asked.update(change_routes(api, routers, round_number))
            if round_number == 1:
                _close_broker_connections(cloud)

        print(f"{CHANGE_ROUNDS * BROKER_ROUTERS} route changes and 2 broker drops made in "
              f"{time.time() - changing:.1f}s")
        # Astara's word first (one request a poll), then the appliances' routes.
        configured_at = wait_all_configured(cloud, asked)
        index = {router_id: position for position, router_id in enumerate(routers)}
        _wait_for_last_routes(cloud, dict.fromkeys(routers, CHANGE_ROUNDS), index,
                              range(1, CHANGE_ROUNDS + 1))
        _report_latency("broker drops", configured_at, asked)
        # Not deleted: removing 200 routers through one Neutron takes over a
        # minute and proves no more than the guide test's deletion; they go
        # with the world and the session's Neutron database.
