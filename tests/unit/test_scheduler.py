"""Sharding tenants over workers, and routing events into per-worker batches."""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from astara.orchestrator.event import Crud, Event, Resource
from astara.orchestrator.health import POLL_EVERYTHING
from astara.orchestrator.ipc import ReportRequest, StopWorker
from astara.orchestrator.outboxes import Outboxes, OutboxesClosed, is_broadcast
from astara.orchestrator.sharding import canonical_tenant, shard_of


def router_event(tenant_id: str, router_id: str = "r1", crud: Crud = Crud.UPDATE) -> Event:
    return Event(Resource("router", router_id, tenant_id), crud)


def command(name: str, resource: Resource) -> Event:
    return Event(resource, Crud.COMMAND, {"command": name})


# -- sharding --------------------------------------------------------------------


def test_uuid_tenants_shard_by_their_integer_value() -> None:
    tenant = uuid.UUID("6b1d52a4-6d6e-4f5b-9d5c-2f1f3c7a9e01")
    assert shard_of(str(tenant), 16) == tenant.int % 16


@given(st.uuids())
def test_every_spelling_of_a_uuid_lands_on_the_same_worker(tenant: uuid.UUID) -> None:
    spellings = {str(tenant), tenant.hex, str(tenant).upper(), f"{{{tenant}}}"}
    assert len({shard_of(spelling, 7) for spelling in spellings}) == 1
    assert len({canonical_tenant(spelling) for spelling in spellings}) == 1


@given(st.text(min_size=1), st.integers(min_value=1, max_value=64))
def test_any_tenant_id_gets_a_worker(tenant: str, count: int) -> None:
    """Non-UUID tenant ids (the original dropped them) map into range, deterministically."""
    assert 0 <= shard_of(tenant, count) < count
    assert shard_of(tenant, count) == shard_of(tenant, count)


def test_sharding_is_the_same_in_another_interpreter() -> None:
    """No per-process hash salt: a fresh interpreter (another worker) agrees."""
    tenants = ["project-a", "demo", "ü-tenant", "6b1d52a46d6e4f5b9d5c2f1f3c7a9e01"]
    here = [shard_of(tenant, 16) for tenant in tenants]
    code = (
        "from astara.orchestrator.sharding import shard_of;"
        f"print([shard_of(t, 16) for t in {tenants!r}])"
    )
    there = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert there == str(here)


@pytest.mark.parametrize(
    "make_tenant", [lambda n: str(uuid.uuid4()), lambda n: f"project-{n}"], ids=["uuid", "name"]
)
def test_tenants_spread_evenly(make_tenant: Callable[[int], str]) -> None:
    workers, tenants = 16, 16_000
    counts = Counter(shard_of(make_tenant(n), workers) for n in range(tenants))
    mean = tenants / workers
    assert set(counts) == set(range(workers))
    assert max(counts.values()) < mean * 1.2
    assert min(counts.values()) > mean * 0.8


def test_shard_count_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        shard_of("t", 0)


# -- routing ---------------------------------------------------------------------


def test_tenant_events_go_to_the_tenant_worker_only() -> None:
    outboxes = Outboxes(4)
    events = [router_event(f"tenant-{n}", f"r{n}") for n in range(40)]
    assert outboxes.put_events(events) == 40
    taken = outboxes.take()
    for index, (batch, count) in taken.items():
        assert count == len(batch)
        assert all(isinstance(e, Event) for e in batch)
        assert {shard_of(e.resource.tenant_id, 4) for e in batch} == {index}  # type: ignore[union-attr]
    assert sum(count for _, count in taken.values()) == 40


@pytest.mark.parametrize(
    "event",
    [
        POLL_EVERYTHING,
        command("workers-debug", Resource("*", "*", "*")),
        command("resource-update", Resource("*", "5e3c", "*")),
        command("tenant-debug", Resource("*", "*", "tenant-1")),
        router_event("*", "error", Crud.UPDATE),
    ],
    ids=["health-poll", "workers-debug", "resource-command", "tenant-command", "wildcard-tenant"],
)
def test_wildcards_and_commands_reach_every_worker(event: Event) -> None:
    assert is_broadcast(event)
    outboxes = Outboxes(3)
    outboxes.put_events([event])
    taken = outboxes.take()
    assert {index: batch for index, (batch, _) in taken.items()} == {i: [event] for i in range(3)}


def test_events_of_one_tenant_keep_their_order_in_one_batch() -> None:
    outboxes = Outboxes(8)
    cruds = [Crud.CREATE, Crud.UPDATE, Crud.DELETE, Crud.CREATE]
    outboxes.put_events([router_event("t", "r", crud) for crud in cruds])
    taken = outboxes.take()
    ((batch, count),) = taken.values()
    assert [e.crud for e in batch if isinstance(e, Event)] == cruds
    assert count == 4


def test_control_messages_follow_the_events_already_queued() -> None:
    outboxes = Outboxes(2)
    outboxes.put_events([POLL_EVERYTHING])
    outboxes.put_everywhere(ReportRequest(7))
    taken = outboxes.take()
    for batch, events in taken.values():
        assert batch == [POLL_EVERYTHING, ReportRequest(7)]
        assert events == 1, "control messages are not counted as events"


def test_closing_sends_the_last_message_and_refuses_more() -> None:
    outboxes = Outboxes(2)
    outboxes.put_events([router_event("t")])
    outboxes.close(StopWorker(grace=1.0))
    with pytest.raises(OutboxesClosed):
        outboxes.put_events([router_event("t")])
    taken = outboxes.take()
    assert all(batch[-1] == StopWorker(grace=1.0) for batch, _ in taken.values())
    assert outboxes.take() == {}
    assert outboxes.wait() is False, "closed and empty: the flusher is done"


def test_wait_returns_when_work_arrives() -> None:
    outboxes = Outboxes(1)
    woke: list[bool] = []
    waiter = threading.Thread(target=lambda: woke.append(outboxes.wait()))
    waiter.start()
    outboxes.put_events([router_event("t")])
    waiter.join(5)
    assert woke == [True]
    assert outboxes.queued() == 1
    assert outboxes.take() == {0: ([router_event("t")], 1)}
    assert outboxes.queued() == 0


def test_events_put_while_the_flusher_is_busy_share_one_batch() -> None:
    """Batching: what accumulates between two takes leaves as one message per worker."""
    outboxes = Outboxes(2)
    for n in range(500):
        outboxes.put_events([router_event(f"tenant-{n % 10}", f"r{n}")])
    taken = outboxes.take()
    assert sum(count for _, count in taken.values()) == 500
    assert len(taken) <= 2
