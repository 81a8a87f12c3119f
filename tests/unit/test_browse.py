"""``astara-ctl browse``: the console driven headless by textual's pilot, and ``--dump``.

The control API is an in-memory fake of the ``Control`` protocol whose
resources the tests change between refreshes, and which can be told to fail
as the real client does (one :class:`ControlClientError`).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from rich.text import Text
from textual.message import Message
from textual.notifications import Notification, Notify
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from astara.cli.browse import (
    COLUMNS,
    DEBUG_REASON,
    Browse,
    BrowseApp,
    BrowseError,
    age,
    matches,
    refresh_seconds,
    resource_row,
    summary,
)
from astara.cli.control_client import ControlClientError
from astara.orchestrator.control_api.models import ResourceView

NOW = 1_700_000_000.0
ROUTER_A = "0a5e7cc1-8a42-4d57-9f0b-0d3e7c1c2f11"
ROUTER_B = "1b6f8dd2-9b53-4e68-a01c-1e4f8d2d3a22"
BALANCER_C = "2c709ee3-ac64-4f79-b12d-2f509e3e4b33"
ROUTER_D = "00d1aff4-bd75-4a8a-c23e-3a61af4f5c44"  # sorts first
INTERVAL_S = 0.05


def resource(resource_id: str, **fields: Any) -> dict[str, Any]:
    """A resource as the control API lists it: built by its model, so no field is missing."""
    view = {
        "driver": "router", "id": resource_id, "tenant_id": "tenant-a", "state": "Alive",
        "instance_state": "up", "queue_depth": 0, "debug": None, "worker": "w-1", "host": "h-1",
        "last_configured_at": NOW - 30,
    }  # fmt: skip
    return ResourceView.model_validate({**view, **fields}).model_dump()


class FakeControl:
    """The control API in memory: ``listed`` is what the next refresh sees."""

    def __init__(self, listed: list[dict[str, Any]]) -> None:
        self.listed = listed
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.unreachable: str | None = None  # the next refreshes fail with this message
        self.refusal: str | None = None  # the next commands fail with this message

    def resources(self) -> list[dict[str, Any]]:
        if self.unreachable is not None:
            raise ControlClientError(self.unreachable)
        return [dict(r) for r in self.listed]

    def resource(self, resource_id: str) -> dict[str, Any]:
        return next(dict(r) for r in self.listed if r["id"] == resource_id)

    def command(self, command: str, **arguments: Any) -> dict[str, Any]:
        self.sent.append((command, arguments))
        if self.refusal is not None:
            raise ControlClientError(self.refusal)
        return {"command": command, "host": "h-1", "scheduled": 1}

    def workers(self) -> list[dict[str, Any]]:
        return []


def listing() -> list[dict[str, Any]]:
    return [
        resource(ROUTER_B, tenant_id="tenant-b", state="ConfigureVM", instance_state="booting"),
        resource(ROUTER_A, debug="investigating #123", last_error="[Errno 113] no route"),
        resource(BALANCER_C, driver="loadbalancer", tenant_id="tenant-c", state="CalcAction"),
    ]


Scenario = Callable[[Pilot[None], list[Notification]], Awaitable[None]]


def drive(control: FakeControl, scenario: Scenario) -> BrowseApp:
    """Run the console headless through ``scenario``, which sees every notification sent."""
    app = BrowseApp(control, refresh_s=INTERVAL_S)
    notices: list[Notification] = []

    def hook(message: Message) -> None:
        if isinstance(message, Notify):
            notices.append(message.notification)

    async def main() -> None:
        async with app.run_test(size=(200, 30), message_hook=hook) as pilot:
            await scenario(pilot, notices)

    asyncio.run(main())
    return app


async def until(pilot: Pilot[None], condition: Callable[[], bool], what: str) -> None:
    """Let the app run until ``condition`` holds, failing after a generous deadline."""
    deadline = asyncio.get_running_loop().time() + 5
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"never saw {what}"
        await pilot.pause(0.01)


def table(pilot: Pilot[None]) -> DataTable[Text]:
    return pilot.app.query_one("#resources", DataTable)


def rows(pilot: Pilot[None]) -> dict[str, dict[str, str]]:
    """Each shown row by its resource id, as column -> text, in the table's order."""
    shown = table(pilot)
    return {
        str(key.value): dict(zip(COLUMNS, (c.plain for c in shown.get_row(key)), strict=True))
        for key in (row.key for row in shown.ordered_rows)
    }


def status(pilot: Pilot[None]) -> str:
    return str(pilot.app.query_one("#status", Static).content)


def selected(pilot: Pilot[None]) -> str | None:
    shown = table(pilot)
    return shown.coordinate_to_cell_key(shown.cursor_coordinate).row_key.value


def test_the_table_lists_every_resource_with_its_state_sorted_by_id() -> None:
    async def scenario(pilot: Pilot[None], notices: list[Notification]) -> None:
        await until(pilot, lambda: len(rows(pilot)) == 3, "three rows")
        shown = rows(pilot)
        assert list(shown) == [ROUTER_A, ROUTER_B, BALANCER_C]
        assert shown[ROUTER_B]["State"] == "ConfigureVM"
        assert shown[ROUTER_B]["Instance"] == "booting"
        assert shown[BALANCER_C]["Driver"] == "loadbalancer"
        assert shown[ROUTER_A]["Debug"] == "investigating #123"
        assert shown[ROUTER_A]["Last error"] == "[Errno 113] no route"  # not read as markup
        assert shown[ROUTER_A]["Last configured"].endswith("ago")
        assert status(pilot).startswith("3 resources, 3 shown, 1 in debug · refreshed ")

    drive(FakeControl(listing()), scenario)


def test_the_table_follows_state_changes_additions_and_removals_keeping_the_cursor() -> None:
    control = FakeControl(listing())

    async def scenario(pilot: Pilot[None], notices: list[Notification]) -> None:
        await until(pilot, lambda: len(rows(pilot)) == 3, "three rows")
        await pilot.press("down", "down")
        assert selected(pilot) == BALANCER_C
        control.listed = [
            resource(BALANCER_C, driver="loadbalancer", tenant_id="tenant-c", state="Alive"),
            resource(ROUTER_B, tenant_id="tenant-b", state="ConfigureVM"),
            resource(ROUTER_D, state="CreateVM"),
        ]  # A is gone, C changed, D is new and comes first
        await until(pilot, lambda: ROUTER_D in rows(pilot), "the new resource")
        shown = rows(pilot)
        assert list(shown) == [ROUTER_D, ROUTER_B, BALANCER_C]
        assert shown[BALANCER_C]["State"] == "Alive"
        assert shown[ROUTER_D]["State"] == "CreateVM"
        assert selected(pilot) == BALANCER_C
        assert status(pilot).startswith("3 resources, 3 shown, 0 in debug")

    drive(control, scenario)


def test_typing_a_filter_narrows_the_rows_in_any_case_and_clearing_it_restores_them() -> None:
    async def scenario(pilot: Pilot[None], notices: list[Notification]) -> None:
        await until(pilot, lambda: len(rows(pilot)) == 3, "three rows")
        await pilot.press("slash")
        assert pilot.app.focused is pilot.app.query_one("#filter", Input)
        await pilot.press(*"BOOT")  # B's instance state, typed in capitals
        assert list(rows(pilot)) == [ROUTER_B]
        assert "3 resources, 1 shown" in status(pilot)
        await pilot.press("escape")
        assert pilot.app.focused is table(pilot)
        await pilot.press("slash", "ctrl+u", *"t-c")  # C's tenant
        assert list(rows(pilot)) == [BALANCER_C]
        await pilot.press("ctrl+u")
        assert list(rows(pilot)) == [ROUTER_A, ROUTER_B, BALANCER_C]
        assert "3 resources, 3 shown" in status(pilot)

    drive(FakeControl(listing()), scenario)


def test_the_keys_send_their_command_to_exactly_the_selected_resource() -> None:
    control = FakeControl(listing())

    async def scenario(pilot: Pilot[None], notices: list[Notification]) -> None:
        await until(pilot, lambda: len(rows(pilot)) == 3, "three rows")
        await pilot.press("down", "r")
        await until(pilot, lambda: len(notices) == 1, "the rebuild's outcome")
        assert notices[0].message == f"rebuild sent to {ROUTER_B}"
        await pilot.press("down", "d")
        await pilot.press("up", "up", "m", "u")
        await until(pilot, lambda: len(notices) == 4, "every outcome")

    drive(control, scenario)
    assert control.sent == [
        ("resource-rebuild", {"resource_id": ROUTER_B}),
        ("resource-debug", {"resource_id": BALANCER_C, "reason": DEBUG_REASON}),
        ("resource-manage", {"resource_id": ROUTER_A}),
        ("resource-update", {"resource_id": ROUTER_A}),
    ]


def test_a_refused_command_shows_its_message_and_the_console_keeps_going() -> None:
    control = FakeControl(listing())
    control.refusal = "the control API refused (403): not an admin"

    async def scenario(pilot: Pilot[None], notices: list[Notification]) -> None:
        await until(pilot, lambda: len(rows(pilot)) == 3, "three rows")
        await pilot.press("r")
        await until(pilot, lambda: len(notices) == 1, "the refusal")
        assert (notices[0].message, notices[0].severity) == (control.refusal, "error")
        control.refusal = None
        await pilot.press("m")
        await until(pilot, lambda: len(notices) == 2, "the next command's outcome")
        assert notices[1].message == f"manage sent to {ROUTER_A}"

    app = drive(control, scenario)
    assert app.return_code is None  # nothing ended it but the test
    assert [command for command, _ in control.sent] == ["resource-rebuild", "resource-manage"]


def test_with_no_resource_a_key_sends_nothing_and_says_so() -> None:
    control = FakeControl([])

    async def scenario(pilot: Pilot[None], notices: list[Notification]) -> None:
        await until(pilot, lambda: "refreshed" in status(pilot), "a refresh")
        await pilot.press("r")
        await until(pilot, lambda: len(notices) == 1, "the warning")
        assert (notices[0].message, notices[0].severity) == ("no resource selected", "warning")

    drive(control, scenario)
    assert control.sent == []


def test_an_unreachable_api_keeps_the_last_rows_shows_why_and_recovers() -> None:
    control = FakeControl(listing())
    down = "cannot reach the control API at http://127.0.0.1:9090: [Errno 111] refused"

    async def scenario(pilot: Pilot[None], notices: list[Notification]) -> None:
        await until(pilot, lambda: len(rows(pilot)) == 3, "three rows")
        before = rows(pilot)
        control.unreachable = down
        await until(pilot, lambda: status(pilot).endswith(down), "the error in the status line")
        assert list(rows(pilot)) == list(before)
        assert status(pilot).startswith("3 resources, 3 shown, 1 in debug · refreshed ")
        control.unreachable = None
        control.listed = [resource(ROUTER_A, state="Alive")]
        await until(pilot, lambda: list(rows(pilot)) == [ROUTER_A], "the recovered listing")
        assert down not in status(pilot)

    drive(control, scenario)


def test_a_slow_api_gets_one_request_at_a_time_and_the_keys_still_answer() -> None:
    control = FakeControl(listing())
    answer = threading.Event()
    calls: list[float] = []
    listed = control.resources

    def slow_resources() -> list[dict[str, Any]]:
        calls.append(time.monotonic())
        answer.wait(5)
        return listed()

    control.resources = slow_resources  # type: ignore[method-assign]

    async def scenario(pilot: Pilot[None], notices: list[Notification]) -> None:
        try:
            await pilot.press("slash", *"up")  # typed while the first fetch hangs
            assert pilot.app.query_one("#filter", Input).value == "up"
            await pilot.pause(INTERVAL_S * 6)
            assert len(calls) == 1
        finally:
            answer.set()
        await until(pilot, lambda: len(calls) > 1, "the next refresh once the first ended")
        assert list(rows(pilot)) == [ROUTER_A, BALANCER_C]  # filtered by what was typed

    drive(control, scenario)


def test_q_quits() -> None:
    async def scenario(pilot: Pilot[None], notices: list[Notification]) -> None:
        await until(pilot, lambda: len(rows(pilot)) == 3, "three rows")
        await pilot.press("q")

    assert drive(FakeControl(listing()), scenario).return_code == 0


def test_age_reads_as_how_long_ago_in_its_largest_unit() -> None:
    assert age(None, NOW) == "never"
    assert age(NOW - 12.9, NOW) == "12s ago"
    assert age(NOW - 300, NOW) == "5m ago"
    assert age(NOW - 3 * 3600 - 59, NOW) == "3h ago"
    assert age(NOW - 2 * 86400, NOW) == "2d ago"
    assert age(NOW + 5, NOW) == "0s ago"  # the orchestrator's clock a little ahead


def test_a_row_has_every_column_each_on_one_line() -> None:
    failed = resource(
        ROUTER_A, debug="", last_error="boot timed out\n  after 3 tries",
        last_error_at=NOW - 120, last_configured_at=None,
    )  # fmt: skip
    assert resource_row(failed, NOW) == (
        ROUTER_A, "router", "tenant-a", "Alive", "up", "yes",
        "boot timed out after 3 tries (2m ago)", "never", "w-1",
    )  # fmt: skip
    assert resource_row(resource(ROUTER_B), NOW)[5:8] == ("", "", "30s ago")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", True),
        ("0A5E7", True),
        ("Tenant-A", True),
        ("alive", True),
        (" UP ", True),
        ("rout", True),
        ("w-1", False),  # the worker is not what operators filter by
        ("h-1", False),
        ("tenant-b", False),
    ],
)
def test_the_filter_looks_in_id_tenant_state_instance_state_and_driver(
    text: str, expected: bool
) -> None:
    assert matches(resource(ROUTER_A), text) is expected


def test_the_summary_counts_all_shown_and_in_debug() -> None:
    assert summary(listing(), 2) == "3 resources, 2 shown, 1 in debug"
    assert summary([resource(ROUTER_A)], 0) == "1 resource, 0 shown, 0 in debug"


class FakeCtl:
    """astara-ctl's app as the command sees it: its stdout and its control client."""

    def __init__(self, control: FakeControl, *, tty: bool) -> None:
        self.stdout = io.StringIO()
        self.stdout.isatty = lambda: tty  # type: ignore[method-assign]
        self._control = control
        self.controls = 0

    def control(self) -> FakeControl:
        self.controls += 1
        return self._control


def browse(ctl: FakeCtl, *argv: str) -> int:
    command = Browse(ctl, argparse.Namespace())
    return int(command.run(command.get_parser("astara-ctl browse").parse_args(list(argv))))


def test_dump_prints_a_header_and_one_tab_separated_row_per_resource() -> None:
    ctl = FakeCtl(FakeControl(listing()), tty=True)
    assert browse(ctl, "--dump") == 0
    lines = ctl.stdout.getvalue().splitlines()
    assert lines[0] == "\t".join(COLUMNS)
    assert [line.split("\t")[:4] for line in lines[1:]] == [
        [ROUTER_A, "router", "tenant-a", "Alive"],
        [ROUTER_B, "router", "tenant-b", "ConfigureVM"],
        [BALANCER_C, "loadbalancer", "tenant-c", "CalcAction"],
    ]
    assert all(len(line.split("\t")) == len(COLUMNS) for line in lines)


def test_without_a_terminal_and_without_dump_it_says_to_use_dump() -> None:
    ctl = FakeCtl(FakeControl(listing()), tty=False)
    with pytest.raises(BrowseError, match="--dump") as raised:
        browse(ctl)
    assert "\n" not in str(raised.value)
    assert (ctl.controls, ctl.stdout.getvalue()) == (0, "")


def test_on_a_terminal_it_runs_the_console_on_the_apps_client_at_the_asked_pace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[tuple[object, float]] = []

    class Console:
        def __init__(self, control: object, refresh_s: float) -> None:
            self.started = (control, refresh_s)

        def run(self) -> None:
            started.append(self.started)

    monkeypatch.setattr("astara.cli.browse.BrowseApp", Console)
    control = FakeControl(listing())
    assert browse(FakeCtl(control, tty=True), "--refresh", "0.5") == 0
    assert started == [(control, 0.5)]


def test_dump_fails_with_the_clients_one_line_error() -> None:
    control = FakeControl(listing())
    control.unreachable = "the control API at http://127.0.0.1:9090 did not answer in time"
    with pytest.raises(ControlClientError, match="did not answer in time"):
        browse(FakeCtl(control, tty=False), "--dump")


def test_refresh_takes_seconds_above_zero() -> None:
    parser = Browse(FakeCtl(FakeControl([]), tty=True), argparse.Namespace()).get_parser("b")
    assert parser.parse_args([]).refresh == 2.0
    assert parser.parse_args(["--refresh", "0.5"]).refresh == 0.5
    for wrong in ("0", "-1", "soon", "inf", "nan"):
        with pytest.raises(argparse.ArgumentTypeError, match="seconds above 0"):
            refresh_seconds(wrong)
