"""Operator commands: the payloads astara-ctl sends and the events they become."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from astara.orchestrator.commands import (
    COMMAND_EVENT_TYPE,
    Command,
    CommandError,
    PayloadKey,
    command_event,
    command_payload,
)
from astara.orchestrator.event import Crud, Event, Resource

TENANT = "6e2f5c9a1d3b4c7e8f0a1b2c3d4e5f60"
ROUTER = "11111111-1111-4111-8111-111111111111"
IMAGE = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
EVERYTHING = Resource("*", "*", "*")

ACCEPTED: list[tuple[dict[str, Any], Event]] = [
    (
        {"command": "workers-debug"},
        Event(EVERYTHING, Crud.COMMAND, {"command": "workers-debug"}),
    ),
    (
        {"command": "config-reload"},
        Event(EVERYTHING, Crud.COMMAND, {"command": "config-reload"}),
    ),
    ({"command": "poll"}, Event(EVERYTHING, Crud.POLL, {"command": "poll"})),
    (
        {"command": "global-debug", "enabled": 1, "reason": "upgrading rabbit"},
        Event(
            EVERYTHING,
            Crud.COMMAND,
            {"command": "global-debug", "enabled": True, "reason": "upgrading rabbit"},
        ),
    ),
    (
        {"command": "global-debug", "enabled": 0},
        Event(
            EVERYTHING, Crud.COMMAND, {"command": "global-debug", "enabled": False, "reason": ""}
        ),
    ),
    (
        {"command": "tenant-debug", "tenant_id": TENANT, "reason": "noisy"},
        Event(
            Resource("*", "*", TENANT),
            Crud.COMMAND,
            {"command": "tenant-debug", "tenant_id": TENANT, "reason": "noisy"},
        ),
    ),
    (
        {"command": "tenant-manage", "tenant_id": "*", "reason": None},
        Event(
            EVERYTHING, Crud.COMMAND, {"command": "tenant-manage", "tenant_id": "*", "reason": ""}
        ),
    ),
    (
        {
            "command": "resource-debug",
            "resource_id": ROUTER.upper(),
            "tenant_id": "*",
            "reason": "x",
        },
        Event(
            Resource("*", ROUTER, "*"),
            Crud.COMMAND,
            {"command": "resource-debug", "resource_id": ROUTER, "tenant_id": "*", "reason": "x"},
        ),
    ),
    (
        {"command": "resource-manage", "resource_id": "*", "tenant_id": "*"},
        Event(
            EVERYTHING,
            Crud.COMMAND,
            {"command": "resource-manage", "resource_id": "*", "tenant_id": "*", "reason": ""},
        ),
    ),
    (
        {"command": "resource-update", "resource_id": "error", "tenant_id": "*"},
        Event(
            Resource("*", "error", "*"),
            Crud.COMMAND,
            {"command": "resource-update", "resource_id": "error", "tenant_id": "*", "reason": ""},
        ),
    ),
    (
        {"command": "resource-update", "resource_id": ROUTER},
        Event(
            Resource("*", ROUTER, "*"),
            Crud.COMMAND,
            {"command": "resource-update", "resource_id": ROUTER, "reason": ""},
        ),
    ),
    (
        {
            "command": "resource-rebuild",
            "resource_id": "*",
            "tenant_id": "*",
            "reason": "",
            "resource_image_uuid": IMAGE,
        },
        Event(
            EVERYTHING,
            Crud.COMMAND,
            {
                "command": "resource-rebuild",
                "resource_id": "*",
                "tenant_id": "*",
                "reason": "",
                "image_uuid": IMAGE,
            },
        ),
    ),
    (
        {"command": "resource-rebuild", "resource_id": ROUTER, "resource_image_uuid": None},
        Event(
            Resource("*", ROUTER, "*"),
            Crud.COMMAND,
            {"command": "resource-rebuild", "resource_id": ROUTER, "reason": ""},
        ),
    ),
    (
        {"command": "router-debug", "router_id": ROUTER, "tenant_id": TENANT, "reason": "ssh"},
        Event(
            Resource("router", ROUTER, TENANT),
            Crud.COMMAND,
            {"command": "router-debug", "router_id": ROUTER, "tenant_id": TENANT, "reason": "ssh"},
        ),
    ),
    (
        {"command": "router-manage", "router_id": ROUTER, "tenant_id": TENANT},
        Event(
            Resource("router", ROUTER, TENANT),
            Crud.COMMAND,
            {"command": "router-manage", "router_id": ROUTER, "tenant_id": TENANT, "reason": ""},
        ),
    ),
    (
        {"command": "router-update", "router_id": "error", "tenant_id": "error"},
        Event(
            Resource("router", "error", "error"),
            Crud.COMMAND,
            {"command": "router-update", "router_id": "error", "tenant_id": "error", "reason": ""},
        ),
    ),
    (
        {"command": "router-rebuild", "router_id": ROUTER, "router_image_uuid": IMAGE},
        Event(
            Resource("router", ROUTER, "*"),
            Crud.COMMAND,
            {"command": "router-rebuild", "router_id": ROUTER, "reason": "", "image_uuid": IMAGE},
        ),
    ),
]


@pytest.mark.parametrize(
    ("payload", "expected"), ACCEPTED, ids=[payload["command"] for payload, _ in ACCEPTED]
)
def test_command_becomes_its_event(payload: dict[str, Any], expected: Event) -> None:
    assert command_event(payload) == expected


def test_every_command_of_the_original_is_known() -> None:
    original = {
        "workers-debug",
        "config-reload",
        "poll",
        "global-debug",
        "tenant-debug",
        "tenant-manage",
        "resource-debug",
        "resource-manage",
        "resource-update",
        "resource-rebuild",
        "router-debug",
        "router-manage",
        "router-update",
        "router-rebuild",
    }
    assert {command.value for command in Command} == original
    assert COMMAND_EVENT_TYPE == "astara.command"


@pytest.mark.parametrize("key", ["image_uuid", "resource_image_uuid", "router_image_uuid"])
@pytest.mark.parametrize("command", ["resource-rebuild", "router-rebuild"])
def test_rebuild_image_is_found_under_any_key_the_cli_ever_used(command: str, key: str) -> None:
    target = "resource_id" if command.startswith("resource") else "router_id"
    event = command_event({"command": command, target: ROUTER, key: f" {IMAGE} "})
    assert event.body["image_uuid"] == IMAGE


def test_image_uuid_wins_over_the_older_keys() -> None:
    event = command_event(
        {
            "command": "resource-rebuild",
            "resource_id": ROUTER,
            "router_image_uuid": "older",
            "image_uuid": IMAGE,
        }
    )
    assert event.body["image_uuid"] == IMAGE


def test_keys_a_command_does_not_take_are_left_out_of_the_body() -> None:
    event = command_event(
        {"command": "resource-update", "resource_id": ROUTER, "image_uuid": IMAGE, "extra": 1}
    )
    assert set(event.body) == {"command", "resource_id", "reason"}


REFUSED: list[tuple[Any, str]] = [
    (None, "mapping"),
    ([("command", "poll")], "mapping"),
    ({}, "unknown command"),
    ({"command": None}, "unknown command"),
    ({"command": "reboot"}, "unknown command"),
    ({"command": ["poll"]}, "unknown command"),
    ({"command": "resource-debug", "resource_id": "*"}, "wildcard"),
    ({"command": "resource-debug", "resource_id": " ERROR "}, "wildcard"),
    ({"command": "router-debug", "router_id": "error", "tenant_id": "*"}, "wildcard"),
    ({"command": "tenant-debug", "tenant_id": "*"}, "wildcard"),
    ({"command": "resource-update"}, "resource_id"),
    ({"command": "resource-update", "resource_id": ""}, "resource_id"),
    ({"command": "resource-update", "resource_id": "   "}, "resource_id"),
    ({"command": "resource-update", "resource_id": 12}, "resource_id"),
    ({"command": "resource-update", "resource_id": ROUTER, "tenant_id": 3}, "tenant_id"),
    ({"command": "resource-update", "resource_id": ROUTER, "reason": 3}, "reason"),
    ({"command": "router-rebuild", "router_id": None}, "router_id"),
    ({"command": "router-rebuild", "router_id": ROUTER, "image_uuid": ""}, "image_uuid"),
    ({"command": "resource-rebuild", "resource_id": ROUTER, "image_uuid": [IMAGE]}, "image_uuid"),
    ({"command": "tenant-manage"}, "tenant_id"),
    ({"command": "tenant-manage", "tenant_id": "Ω" * 65}, "longer than 64"),
    ({"command": "resource-debug", "resource_id": "a" * 65}, "longer than 64"),
    ({"command": "global-debug"}, "enabled"),
    ({"command": "global-debug", "enabled": 2}, "enabled"),
    ({"command": "global-debug", "enabled": "1"}, "enabled"),
    ({"command": "global-debug", "enabled": 1.0}, "enabled"),
]


@pytest.mark.parametrize(("payload", "complaint"), REFUSED, ids=[str(p) for p, _ in REFUSED])
def test_refused_command_says_why(payload: Any, complaint: str) -> None:
    with pytest.raises(CommandError, match=complaint):
        command_event(payload)


def test_a_refusal_is_a_value_error() -> None:
    assert issubclass(CommandError, ValueError)


class TestCommandPayload:
    """What astara-ctl sends; the orchestrator must accept it unchanged."""

    @pytest.mark.parametrize(
        ("command", "arguments", "expected"),
        [
            (Command.POLL, {}, {"command": "poll"}),
            ("workers-debug", {}, {"command": "workers-debug"}),
            (
                Command.GLOBAL_DEBUG,
                {"enabled": 1, "reason": "maintenance"},
                {"command": "global-debug", "enabled": True, "reason": "maintenance"},
            ),
            (
                Command.RESOURCE_REBUILD,
                {"resource_id": ROUTER.upper(), "tenant_id": "*", "image_uuid": IMAGE},
                {
                    "command": "resource-rebuild",
                    "resource_id": ROUTER,
                    "tenant_id": "*",
                    "reason": "",
                    "image_uuid": IMAGE,
                },
            ),
            (
                Command.ROUTER_UPDATE,
                {"router_id": "*", "tenant_id": "*", "reason": "new config"},
                {
                    "command": "router-update",
                    "router_id": "*",
                    "tenant_id": "*",
                    "reason": "new config",
                },
            ),
            (
                Command.TENANT_MANAGE,
                {"tenant_id": TENANT},
                {"command": "tenant-manage", "tenant_id": TENANT, "reason": ""},
            ),
        ],
    )
    def test_builds_the_payload(
        self, command: Command | str, arguments: dict[str, Any], expected: dict[str, Any]
    ) -> None:
        assert command_payload(command, **arguments) == expected

    @pytest.mark.parametrize(
        ("command", "arguments", "complaint"),
        [
            ("reboot", {}, "unknown command"),
            (Command.POLL, {"resource_id": ROUTER}, "does not take resource_id"),
            (Command.RESOURCE_UPDATE, {"resource_id": ROUTER, "image_uuid": IMAGE}, "image_uuid"),
            (
                Command.RESOURCE_REBUILD,
                {"resource_id": ROUTER, "resource_image_uuid": IMAGE},
                "resource_image_uuid",
            ),
            (Command.ROUTER_DEBUG, {"resource_id": ROUTER}, "resource_id"),
            (Command.RESOURCE_DEBUG, {"resource_id": "error"}, "wildcard"),
            (Command.TENANT_DEBUG, {"tenant_id": "*"}, "wildcard"),
            (Command.GLOBAL_DEBUG, {"reason": "no flag"}, "enabled"),
        ],
    )
    def test_refuses_before_anything_is_sent(
        self, command: Command | str, arguments: dict[str, Any], complaint: str
    ) -> None:
        with pytest.raises(CommandError, match=complaint):
            command_payload(command, **arguments)


texts = st.text(min_size=1, max_size=40).filter(str.strip) | st.uuids().map(str)
arguments_by_key: dict[str, st.SearchStrategy[Any]] = {
    PayloadKey.RESOURCE_ID: texts | st.sampled_from(["*", "error"]),
    PayloadKey.ROUTER_ID: texts | st.sampled_from(["*", "error"]),
    PayloadKey.TENANT_ID: texts | st.just("*"),
    PayloadKey.REASON: st.text(max_size=40),
    PayloadKey.ENABLED: st.sampled_from([0, 1, True, False]),
    PayloadKey.IMAGE_UUID: texts,
}


_ID, _ROUTER_ID, _TENANT = PayloadKey.RESOURCE_ID, PayloadKey.ROUTER_ID, PayloadKey.TENANT_ID
_REASON, _IMAGE = PayloadKey.REASON, PayloadKey.IMAGE_UUID
#: Per command: the arguments it needs, and those it may be given (the catalogue's table).
TAKES: dict[Command, tuple[list[PayloadKey], list[PayloadKey]]] = {
    Command.WORKERS_DEBUG: ([], []),
    Command.CONFIG_RELOAD: ([], []),
    Command.POLL: ([], []),
    Command.GLOBAL_DEBUG: ([PayloadKey.ENABLED], [_REASON]),
    Command.TENANT_DEBUG: ([_TENANT], [_REASON]),
    Command.TENANT_MANAGE: ([_TENANT], [_REASON]),
    Command.RESOURCE_DEBUG: ([_ID], [_REASON, _TENANT]),
    Command.RESOURCE_MANAGE: ([_ID], [_REASON, _TENANT]),
    Command.RESOURCE_UPDATE: ([_ID], [_REASON, _TENANT]),
    Command.RESOURCE_REBUILD: ([_ID], [_REASON, _TENANT, _IMAGE]),
    Command.ROUTER_DEBUG: ([_ROUTER_ID], [_REASON, _TENANT]),
    Command.ROUTER_MANAGE: ([_ROUTER_ID], [_REASON, _TENANT]),
    Command.ROUTER_UPDATE: ([_ROUTER_ID], [_REASON, _TENANT]),
    Command.ROUTER_REBUILD: ([_ROUTER_ID], [_REASON, _TENANT, _IMAGE]),
}


@st.composite
def valid_commands(draw: st.DrawFn) -> tuple[Command, dict[str, Any]]:
    """A command with arguments it takes; wildcards included, so debug may be refused."""
    command = draw(st.sampled_from(list(Command)))
    needed, optional = TAKES[command]
    keys = needed + draw(
        st.lists(st.sampled_from(optional), unique=True) if optional else st.just([])
    )
    return command, {key.value: draw(arguments_by_key[key]) for key in keys}


@given(valid_commands())
def test_what_the_cli_sends_the_orchestrator_reads_back_unchanged(
    command_and_arguments: tuple[Command, dict[str, Any]],
) -> None:
    command, arguments = command_and_arguments
    try:
        payload = command_payload(command, **arguments)
    except CommandError as error:
        assert "wildcard" in str(error)
        return
    over_the_wire = json.loads(json.dumps(payload))
    event = command_event(over_the_wire)
    assert event.body == payload
    assert event.resource.id in {payload.get("resource_id"), payload.get("router_id"), "*"}


@given(
    st.dictionaries(
        st.sampled_from([key.value for key in PayloadKey]) | st.text(max_size=5),
        st.none()
        | st.booleans()
        | st.integers()
        | st.text(max_size=5)
        | st.sampled_from([command.value for command in Command] + ["*", "error"])
        | st.lists(st.integers()),
    )
)
def test_any_payload_is_an_event_or_a_command_error(payload: dict[str, Any]) -> None:
    try:
        event = command_event(payload)
    except CommandError:
        return
    assert event.crud in {Crud.COMMAND, Crud.POLL}
    assert event.body["command"] in {command.value for command in Command}
