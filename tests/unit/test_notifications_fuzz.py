"""normalise() against anything the bus might carry: it never raises and loses nothing.

Two generators: arbitrary JSON-like values (anything at all), and payloads
shaped like each real notification with fields filled at random, which get
past the first checks and exercise the drivers' id resolution.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from astara.drivers import loadbalancer_events, router_events
from astara.orchestrator.commands import COMMAND_EVENT_TYPE, Command, PayloadKey
from astara.orchestrator.event import Crud, Event
from astara.orchestrator.notifications import normalise

REAL_EVENT_TYPES = sorted(
    router_events.EVENT_TYPES
    | loadbalancer_events.EVENT_TYPES
    | {COMMAND_EVENT_TYPE, "routerstatus.update", "loadbalancerstatus.update"}
)
NOTIFICATION_CRUDS = {Crud.CREATE, Crud.UPDATE, Crud.DELETE}
COMMAND_CRUDS = {Crud.COMMAND, Crud.POLL}
BOTH_DRIVERS = frozenset({"router", "loadbalancer"})

#: Parts of real payloads, so arbitrary dictionaries sometimes look like one.
PAYLOAD_KEYS = sorted(
    {key.value for key in PayloadKey}
    | {event_type.split(".")[0] for event_type in REAL_EVENT_TYPES}
    | {"router_interface", "router_id", "port_id", "loadbalancer_id", "loadbalancers"}
    | {"id", "tenant_id", "project_id", "device_owner", "device_id"}
)
KNOWN_TEXT = [
    *(command.value for command in Command),
    *sorted(router_events.ROUTER_PORT_OWNERS),
    "*",
    "error",
    "",
    "6e2f5c9a1d3b4c7e8f0a1b2c3d4e5f60",
]

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True)
    | st.text(max_size=12)
    | st.sampled_from(KNOWN_TEXT)
)
json_like = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(PAYLOAD_KEYS) | st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=25,
)
contexts = (
    st.dictionaries(st.sampled_from(["tenant_id", "project_id", "user_id"]), scalars) | json_like
)
event_types = st.sampled_from(REAL_EVENT_TYPES) | st.text(max_size=30)
enabled = st.sets(st.sampled_from(["router", "loadbalancer", "firewall"]))

#: Ids as Neutron writes them, mostly, and anything else sometimes.
ids = st.uuids().map(str) | scalars
#: An API object (router, port, listener...) with the fields the normaliser reads.
api_objects = st.fixed_dictionaries(
    {"id": ids, "tenant_id": ids},
    optional={
        "project_id": ids,
        "router_id": ids,
        "device_owner": st.sampled_from(sorted(router_events.ROUTER_PORT_OWNERS)) | scalars,
        "device_id": ids,
        "loadbalancer_id": ids,
        "loadbalancers": st.lists(st.fixed_dictionaries({"id": ids}), max_size=2) | json_like,
    },
)
tenant_contexts = st.fixed_dictionaries({"tenant_id": ids}, optional={"project_id": ids})


def shaped_like(event_type: str) -> st.SearchStrategy[dict[str, Any]]:
    """Payloads with the parts a notification of ``event_type`` carries, filled at random."""
    if event_type == COMMAND_EVENT_TYPE:
        arguments = {key.value: ids for key in PayloadKey if key is not PayloadKey.COMMAND}
        command = st.sampled_from([command.value for command in Command]) | scalars
        return st.fixed_dictionaries({"command": command}, optional=arguments)
    kind = event_type.split(".")[0]
    optional: dict[str, st.SearchStrategy[Any]] = {
        part: api_objects | json_like
        for part in (kind, "router_interface", "router.interface", "loadbalancer")
    }
    optional.update({kind + "_id": ids, "router_id": ids, "loadbalancer_id": ids})
    return st.fixed_dictionaries({}, optional=optional)


real_notifications = st.sampled_from(REAL_EVENT_TYPES).flatmap(
    lambda event_type: st.tuples(st.just(event_type), shaped_like(event_type))
)


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def logged() -> Iterator[list[logging.LogRecord]]:
    """Collect what normalise() logs (caplog does not reset between hypothesis examples)."""
    collector = _Collector()
    logger = logging.getLogger("astara.orchestrator.notifications")
    logger.addHandler(collector)
    try:
        yield collector.records
    finally:
        logger.removeHandler(collector)


def normalise_and_check(
    event_type: Any, payload: Any, context: Any, drivers: frozenset[str]
) -> list[Event]:
    """Run normalise() and check everything that must hold whatever the input."""
    before = copy.deepcopy((payload, context))
    with logged() as records:
        events = normalise(event_type, payload, context, drivers)
    assert isinstance(events, list)
    assert len(records) <= 1, "at most one warning per notification"
    if records:
        assert records[0].levelno == logging.WARNING
        assert events == []
    for event in events:
        assert isinstance(event, Event)
        assert isinstance(event.resource.id, str)
        assert isinstance(event.resource.tenant_id, str)
        assert event.resource.tenant_id
        if event_type == COMMAND_EVENT_TYPE:
            assert event.crud in COMMAND_CRUDS
        else:
            assert event.crud in NOTIFICATION_CRUDS
            assert event.resource.driver in drivers
            assert not event.resource.is_wildcard
            assert event.body is payload
    assert repr((payload, context)) == repr(before), "the input is left as it was"
    return events


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(event_types, json_like, contexts, enabled.map(frozenset))
def test_anything_at_all(
    event_type: str, payload: Any, context: Any, drivers: frozenset[str]
) -> None:
    normalise_and_check(event_type, payload, context, drivers)


@settings(max_examples=400)
@given(real_notifications, tenant_contexts, st.just(BOTH_DRIVERS) | enabled.map(frozenset))
def test_payloads_shaped_like_real_ones(
    notification: tuple[str, dict[str, Any]], context: Any, drivers: frozenset[str]
) -> None:
    event_type, payload = notification
    normalise_and_check(event_type, payload, context, drivers)


@given(scalars | json_like)
def test_event_type_of_any_type(event_type: Any) -> None:
    normalise_and_check(event_type, {"router": {"id": "r", "tenant_id": "t"}}, {}, BOTH_DRIVERS)
