"""``astara-ctl browse``: a live, full-screen console of every resource the orchestrators drive.

Operators watching an outage want one screen that keeps itself current and
lets them act on what they see, instead of re-running ``resource list`` and
pasting ids into ``resource rebuild``. The console lists every resource from
the control API, refreshes it every few seconds without blocking the keys,
filters it as the operator types, and sends rebuild, debug, manage and update
for the selected row through the same :class:`~astara.cli.control_client.Control`
client astara-ctl uses, so a command refused here is refused the same way there.

``--dump`` prints one snapshot as text through the same row formatting, for
scripts and for terminals the console cannot take over.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar, Protocol, cast

import cliff.command
from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Header, Input, Static

from astara.cli.control_client import Control, ControlClientError
from astara.orchestrator.commands import Command

#: Seconds between two refreshes unless ``--refresh`` says otherwise.
DEFAULT_REFRESH_S = 2.0
#: The reason ``d`` records, so whoever finds the resource in debug knows where it came from.
DEBUG_REASON = "astara-ctl browse"
COLUMNS = (
    "ID", "Driver", "Tenant", "State", "Instance", "Debug", "Last error", "Last configured",
    "Worker",
)  # fmt: skip
#: The fields the filter looks in: what an operator knows a resource by, or is hunting for.
FILTERED_FIELDS = ("id", "tenant_id", "state", "instance_state", "driver")
#: The command each key sends, by the verb its outcome is reported with.
COMMANDS: dict[str, Command] = {
    "rebuild": Command.RESOURCE_REBUILD,
    "debug": Command.RESOURCE_DEBUG,
    "manage": Command.RESOURCE_MANAGE,
    "update": Command.RESOURCE_UPDATE,
}
_ID_COLUMN = COLUMNS[0]
_AGE_UNITS = (("d", 86400), ("h", 3600), ("m", 60))


def age(epoch: float | None, now: float) -> str:
    """``12s ago``, ``5m ago``, ``3h ago``, ``2d ago``: how stale, what an operator asks."""
    if epoch is None:
        return "never"
    seconds = max(0, int(now - epoch))  # a clock a little ahead of ours is "just now"
    for unit, size in _AGE_UNITS:
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def resource_row(resource: Mapping[str, Any], now: float) -> tuple[str, ...]:
    """One resource as a row of :data:`COLUMNS`, every cell one line of plain text.

    A resource in debug mode with no recorded reason still shows as in debug.
    """
    debug = resource["debug"]
    error = resource.get("last_error") or ""
    error_at = resource.get("last_error_at")
    if error and error_at is not None:
        error = f"{error} ({age(error_at, now)})"
    cells = (
        resource["id"], resource["driver"], resource["tenant_id"], resource["state"],
        resource["instance_state"], "" if debug is None else debug or "yes", error,
        age(resource.get("last_configured_at"), now), resource["worker"],
    )  # fmt: skip
    return tuple(" ".join(str(cell).split()) for cell in cells)


def matches(resource: Mapping[str, Any], text: str) -> bool:
    """Whether ``text`` (any case; empty matches all) is part of one of :data:`FILTERED_FIELDS`."""
    needle = text.strip().casefold()
    return any(needle in str(resource[field]).casefold() for field in FILTERED_FIELDS)


def visible(resources: Iterable[Mapping[str, Any]], text: str) -> list[Mapping[str, Any]]:
    """The resources the filter ``text`` lets through, by id, so rows keep their places."""
    return sorted((r for r in resources if matches(r, text)), key=lambda r: str(r["id"]))


def summary(resources: Sequence[Mapping[str, Any]], shown: int) -> str:
    """``12 resources, 3 shown, 1 in debug``: what the filter hides and what needs a look."""
    in_debug = sum(1 for r in resources if r["debug"] is not None)
    noun = "resource" if len(resources) == 1 else "resources"
    return f"{len(resources)} {noun}, {shown} shown, {in_debug} in debug"


def dump_lines(resources: Iterable[Mapping[str, Any]], now: float) -> list[str]:
    """The table as tab-separated lines, header first: cells hold spaces, never tabs."""
    rows = [COLUMNS, *(resource_row(r, now) for r in visible(resources, ""))]
    return ["\t".join(row) for row in rows]


class BrowseApp(App[None]):
    """The console: the table, its filter, a status line, and the keys that act on a row."""

    TITLE = "astara-ctl browse"
    CSS = """
    #resources { height: 1fr; }
    #status { height: 1; padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_filter", "Filter"),
        Binding("escape", "leave_filter", "Leave filter", show=False),
        Binding("r", "send('rebuild')", "Rebuild"),
        Binding("d", "send('debug')", "Debug"),
        Binding("m", "send('manage')", "Manage"),
        Binding("u", "send('update')", "Update"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, control: Control, refresh_s: float = DEFAULT_REFRESH_S) -> None:
        super().__init__()
        self._control = control
        self._refresh_s = refresh_s
        self._resources: list[dict[str, Any]] = []
        self._shown: dict[str, tuple[str, ...]] = {}  # each row's cells, as last put in the table
        self._filter = ""
        self._fetching = False
        self._refreshed_at: float | None = None
        self._problem: str | None = None  # why the last refresh failed; None once one succeeds

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder="/ to filter by id, tenant, state, instance state or driver",
                    id="filter")  # fmt: skip
        yield DataTable[Text](id="resources", cursor_type="row", zebra_stripes=True)
        yield Static(id="status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        table = self._table()
        for column in COLUMNS:
            table.add_column(column, key=column)
        table.focus()
        self._refresh()
        self.set_interval(self._refresh_s, self._refresh)

    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_leave_filter(self) -> None:
        self._table().focus()

    def action_send(self, verb: str) -> None:
        """Send ``verb``'s command to the selected resource, off the UI thread."""
        resource_id = self._selected_id()
        if resource_id is None:
            self.notify("no resource selected", severity="warning")
            return
        self._send(verb, resource_id)

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self._filter = event.value
        self._show()

    def _refresh(self) -> None:
        """One fetch at a time: a slow API must not pile up requests, one per tick."""
        if not self._fetching:
            self._fetching = True
            self._fetch()

    @work(group="refresh")
    async def _fetch(self) -> None:
        """Fetch in a thread (the client blocks); apply here, on the UI's loop."""
        try:
            self._resources = await asyncio.to_thread(self._control.resources)
        except ControlClientError as error:
            self._problem = str(error)  # the table keeps the last rows it had
        else:
            self._problem = None
            self._refreshed_at = time.time()
        finally:
            self._fetching = False
        if self.is_running:  # not quitting, which takes the table away while the fetch ran
            self._show()

    @work(group="commands")
    async def _send(self, verb: str, resource_id: str) -> None:
        arguments = {"reason": DEBUG_REASON} if verb == "debug" else {}
        command = str(COMMANDS[verb])
        try:
            await asyncio.to_thread(
                self._control.command, command, resource_id=resource_id, **arguments
            )
        except ControlClientError as error:
            self.notify(str(error), severity="error", timeout=10, markup=False)
        else:
            self.notify(f"{verb} sent to {resource_id}", markup=False)

    def _show(self) -> None:
        """Bring the table to the filtered resources in place, the cursor staying on its row."""
        table = self._table()
        selected = self._selected_id()
        now = time.time()
        shown = visible(self._resources, self._filter)
        wanted = {str(r["id"]): resource_row(r, now) for r in shown}
        for gone in self._shown.keys() - wanted.keys():
            table.remove_row(gone)
        added = [self._put_row(table, resource_id, row) for resource_id, row in wanted.items()]
        if any(added):  # new rows come last; the others never move
            table.sort(_ID_COLUMN, key=lambda cell: cell.plain)
        self._shown = wanted
        if selected in wanted:
            table.move_cursor(row=table.get_row_index(selected))
        self.query_one("#status", Static).update(self._status())

    def _put_row(self, table: DataTable[Text], resource_id: str, row: tuple[str, ...]) -> bool:
        """Add a new row (True); of a shown one, rewrite only the cells that changed.

        Cells are :class:`~rich.text.Text`, as the table would read a ``str`` as markup
        and an error message can hold brackets.
        """
        old = self._shown.get(resource_id)
        if old is None:
            table.add_row(*map(Text, row), key=resource_id)
            return True
        for column, before, after in zip(COLUMNS, old, row, strict=True):
            if before != after:
                table.update_cell(resource_id, column, Text(after), update_width=True)
        return False

    def _status(self) -> str:
        parts = [summary(self._resources, len(self._shown))]
        if self._refreshed_at is not None:
            refreshed = time.strftime("%H:%M:%S", time.localtime(self._refreshed_at))
            parts.append(f"refreshed {refreshed}")
        if self._problem is not None:
            parts.append(self._problem)
        return " · ".join(parts)

    def _selected_id(self) -> str | None:
        table = self._table()
        if table.row_count == 0:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def _table(self) -> DataTable[Text]:
        return self.query_one("#resources", DataTable)


class BrowseError(Exception):
    """Why the console cannot start; one line, which cliff shows as the error."""


class _ControlApp(Protocol):
    """astara-ctl's app, which builds the control API client from its options."""

    def control(self) -> Control: ...


def refresh_seconds(text: str) -> float:
    """``--refresh``'s type: a finite number of seconds above zero (a timer needs one)."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0")
    return seconds


class Browse(cliff.command.Command):
    """Browse every resource live: filter, select, rebuild, debug or manage."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = super().get_parser(prog_name)
        parser.add_argument(
            "--refresh", type=refresh_seconds, default=DEFAULT_REFRESH_S, metavar="SECONDS",
            help=f"seconds between two refreshes (default: {DEFAULT_REFRESH_S:g})",
        )  # fmt: skip
        parser.add_argument(
            "--dump", action="store_true",
            help="print the resources once as tab-separated text and exit (no full screen)",
        )  # fmt: skip
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> int:
        if not parsed_args.dump and not self.app.stdout.isatty():
            raise BrowseError("stdout is not a terminal: use --dump to print the resources")
        control = cast(_ControlApp, self.app).control()
        if parsed_args.dump:
            lines = dump_lines(control.resources(), time.time())
            self.app.stdout.write("".join(f"{line}\n" for line in lines))
        else:
            BrowseApp(control, parsed_args.refresh).run()
        return 0
