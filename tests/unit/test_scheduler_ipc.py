"""Batches cross the pipe packed, and come back exactly as they were."""

from __future__ import annotations

import pickle

from hypothesis import given
from hypothesis import strategies as st

from astara.orchestrator.event import Crud, Event, Resource
from astara.orchestrator.ipc import ReportRequest, StopWorker, WorkerInput, pack, unpack

events = st.builds(
    Event,
    resource=st.builds(Resource, driver=st.text(), id=st.text(), tenant_id=st.text()),
    crud=st.sampled_from(list(Crud)),
    body=st.dictionaries(st.text(), st.integers() | st.text() | st.none()),
)
items = events | st.builds(StopWorker, grace=st.floats(0, 60)) | st.builds(
    ReportRequest, request_id=st.integers(0, 2**40)
)


@given(st.lists(items, max_size=30))
def test_a_packed_batch_survives_pickling_unchanged(batch: list[WorkerInput]) -> None:
    assert unpack(pickle.loads(pickle.dumps(pack(batch)))) == batch


def test_events_travel_as_plain_tuples() -> None:
    event = Event(Resource("router", "r1", "t1"), Crud.REBUILD, {"image_uuid": "i"})
    assert pack([event, StopWorker(1.0)]) == [
        ("router", "r1", "t1", "rebuild", {"image_uuid": "i"}),
        StopWorker(1.0),
    ]
