"""The real orchestrator process and real worker processes, over test doubles and SQLite.

These start ``astara-orchestrator`` (and the scheduler's worker processes) for
real: spawn, pipes, signals, the database. The state machines are real ones
over the doubles of ``tests.unit.doubles`` (see
``tests.orchestrator_doubles_wiring``), so no cloud is needed.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from astara.db.api import PendingEventStore
from astara.orchestrator.cli_options import PROG
from astara.orchestrator.event import ALL, Crud, Event, Resource
from astara.orchestrator.scheduler import Scheduler, SchedulerStopped
from astara.orchestrator.worker_process import WorkerSpec
from tests.orchestrator_doubles_wiring import (
    by_action,
    listed_router,
    read_record,
)
from tests.orchestrator_setup import ORCHESTRATOR, REPO, Setup
from tests.waiting import wait_until


def seeds(count: int) -> list[Event]:
    return [
        Event(
            Resource("router", f"seed-{n:02d}", f"tenant-{n % 7}"),
            Crud.REBUILD,
            {"image_uuid": f"img-{n}"},
        )
        for n in range(count)
    ]


def stop_like_a_service_manager(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM the whole process group (as systemd and a terminal do), wait for the exit."""
    os.killpg(process.pid, signal.SIGTERM)
    return process.wait(timeout=90)


def test_sigterm_saves_queued_events_and_the_next_start_replays_them(tmp_path: Path) -> None:
    setup = Setup(tmp_path, workers=2, threads=1)
    seeded = seeds(30)
    PendingEventStore(setup.database).save(seeded)

    first = setup.start(delay=0.2)
    wait_until(lambda: len(read_record(setup.record)) >= 2, "the first rebuilds ran")
    assert stop_like_a_service_manager(first) == 0, setup.stderr.read_text()
    done_first = by_action(read_record(setup.record)).get("rebuild", set())
    saved = PendingEventStore(setup.database).take_all()
    assert {event.resource.id for event in saved} | done_first == {e.resource.id for e in seeded}
    assert not {event.resource.id for event in saved} & done_first, "nothing is both run and saved"
    assert saved and all(event in seeded for event in saved), "saved events keep their bodies"
    PendingEventStore(setup.database).save(saved)

    second = setup.start(delay=0.0)
    wait_until(
        lambda: by_action(read_record(setup.record)).get("rebuild", set())
        >= {event.resource.id for event in seeded},
        "every saved rebuild was replayed",
    )
    assert stop_like_a_service_manager(second) == 0
    assert PendingEventStore(setup.database).take_all() == []
    assert "SIGTERM received: stopping" in setup.log()


def test_populate_updates_every_listed_resource(tmp_path: Path) -> None:
    setup = Setup(tmp_path, workers=3, threads=2)
    process = setup.start(resources=12)
    expected = {listed_router(n).id for n in range(12)}
    wait_until(
        lambda: by_action(read_record(setup.record)).get("update", set()) == expected,
        "every listed router got an UPDATE",
    )
    assert stop_like_a_service_manager(process) == 0


def test_a_bad_wiring_stops_the_start_with_one_line(tmp_path: Path) -> None:
    setup = Setup(tmp_path, workers=1, threads=1)
    result = subprocess.run(
        [str(ORCHESTRATOR), "--config-file", str(setup.config), "--wiring", "nowhere:W"],
        env=setup.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert f"{PROG}: error: wiring: nowhere:W is not available" in result.stderr
    assert "Traceback" not in result.stderr


# -- the scheduler with real worker processes -------------------------------------------


@pytest.fixture
def scheduler_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    setup = Setup(tmp_path, workers=2, threads=2)
    for name, value in setup.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.syspath_prepend(str(REPO))
    yield setup


def start_scheduler(setup: Setup, restarts: list[int]) -> Scheduler:
    scheduler = Scheduler(
        lambda identity: WorkerSpec(identity=identity, argv=tuple(setup.argv)),
        2,
        on_worker_restart=restarts.append,
    )
    scheduler.start()
    return scheduler


def resources_in(reports: list[dict[str, Any]]) -> dict[str, set[str]]:
    return {
        report["worker"]: {resource["id"] for resource in report.get("resources", [])}
        for report in reports
    }


def test_events_reach_their_tenant_worker_and_reports_come_back(scheduler_setup: Setup) -> None:
    scheduler = start_scheduler(scheduler_setup, [])
    try:
        routers = [Resource("router", f"r{n}", f"tenant-{n}") for n in range(10)]
        assert scheduler.dispatch([Event(r, Crud.CREATE) for r in routers]) == 10
        wait_until(
            lambda: sum(map(len, resources_in(scheduler.request_reports()).values())) == 10,
            "every router has a state machine",
        )
        placed = resources_in(scheduler.request_reports())
        for router in routers:
            assert router.id in placed[f"p{scheduler.shard_of(router.tenant_id):02d}"]
        report = scheduler.request_reports()[0]
        assert {"pid", "threads", "work_queue_depth", "resources", "debug"} <= set(report)
        # A machine existing is not its CREATE having started: under load a
        # thread may not have reached it yet, and stop() rightly hands that back.
        wait_until(
            lambda: all_started(scheduler.request_reports()), "every CREATE has been taken up"
        )
    finally:
        assert scheduler.stop(30) == []


def all_started(reports: list[dict[str, Any]]) -> bool:
    """Whether no worker has a resource queued or a machine holding an event it has not begun."""
    return all(
        report["work_queue_depth"] == 0
        and all(resource["queue_depth"] == 0 for resource in report["resources"])
        for report in reports
    )


def test_a_dead_worker_is_restarted_and_repopulated(scheduler_setup: Setup) -> None:
    restarts: list[int] = []
    scheduler = start_scheduler(scheduler_setup, restarts)
    try:
        before = {report["worker"]: report["pid"] for report in scheduler.request_reports()}
        os.kill(before["p01"], signal.SIGKILL)
        wait_until(lambda: restarts == [1], "the supervisor restarted p01")
        after = {report["worker"]: report.get("pid") for report in scheduler.request_reports(30)}
        assert after["p00"] == before["p00"]
        assert after["p01"] not in (None, before["p01"])
        scheduler.dispatch([Event(Resource(ALL, ALL, ALL), Crud.POLL)])
    finally:
        scheduler.stop(30)
    with pytest.raises(SchedulerStopped):
        scheduler.dispatch([Event(Resource("router", "r", "t"), Crud.UPDATE)])
