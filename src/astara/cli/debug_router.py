"""``astara-debug-router``: one router's state machine, in the foreground, for one UPDATE.

When a router misbehaves, the operator wants to watch (or step through, in
pdb) exactly what a worker does for it. So the machine is built by the
wiring's ``machine_factory``, as a worker builds it, and driven as a worker
drives it: one UPDATE, ``update()`` while work is queued, and a POLL at each
wake-up the machine asks for (a boot being checked, a retry after a failure)
for up to ``--wait`` seconds. Each state is printed as the machine enters
it, with its appliance's state.

The router must be in debug mode first (``astara-ctl router debug ID``):
the live orchestrator then ignores its events. Otherwise two state machines
would drive one appliance (two boots, config pushes over each other), so
the tool refuses, exit 2.

Transitions are observed from outside: the state machine logs a DEBUG
record for each one, carrying the machine and the (state, next state) pair
(the record the state machine's tests observe too), so this tool needs no
hook inside the state machine.
"""

from __future__ import annotations

import argparse
import logging
import pdb
import shlex
import sys
import time
import traceback
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, TextIO

from astara.cli.config_context import (
    SetupError,
    add_installation_options,
    configured_wiring,
    installation_config,
)
from astara.orchestrator.event import Crud, Event, Resource
from astara.orchestrator.machine import Machine

if TYPE_CHECKING:
    from astara.orchestrator.wiring import ConfiguredWiring

PROG = "astara-debug-router"
#: The logger whose DEBUG records carry each transition (see the module docstring).
STATE_MACHINE_LOGGER = "astara.orchestrator.state_machine"
#: The boot timeout while stepping in pdb, as the original: a boot must not fail
#: because the operator took ten minutes to step through CheckBoot.
DEBUGGER_BOOT_TIMEOUT = 60000
#: Exit status when the router is not in debug mode.
NOT_IN_DEBUG = 2
#: Exit status after Ctrl-C, as a shell reports SIGINT.
INTERRUPTED = 130


class DebugRouterError(Exception):
    """A problem the operator can fix; shown as one line."""


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Run one router's state machine in the foreground for one UPDATE, "
        "printing each state it enters (state, appliance state), exactly as a worker "
        "of the orchestrator would run it. Put the router in debug mode first "
        "(astara-ctl router debug ID --reason ...) so the orchestrator leaves it alone; "
        "astara-ctl router manage ID hands it back afterwards.",
    )
    parser.add_argument("--router-id", required=True, metavar="ID", help="the router to run")
    add_installation_options(parser)
    parser.add_argument(
        "--pdb", action="store_true",
        help="stop in the Python debugger just before the machine runs (`s` steps into "
        f"update()); the boot timeout is raised to {DEBUGGER_BOOT_TIMEOUT} s meanwhile",
    )  # fmt: skip
    parser.add_argument(
        "--wait", type=float, default=600, metavar="SECONDS",
        help="how long to follow the wake-ups the machine asks for, such as the checks of a "
        "booting appliance or a retry (default: 600; 0: a single update() pass)",
    )  # fmt: skip
    parser.add_argument(
        "--debug", action="store_true", help="log at DEBUG and show tracebacks of errors"
    )
    return parser.parse_args(argv)


def find_router(wiring: ConfiguredWiring, router_id: str) -> Resource:
    """The router as a worker's Resource; its tenant comes from the network model."""
    router = wiring.network_model().get_router(router_id)
    if router is None:
        raise DebugRouterError(f"there is no router {router_id} in the network model")
    return Resource("router", router.id, router.tenant_id)


def debug_reason(wiring: ConfiguredWiring, resource: Resource) -> str | None:
    """Why the orchestrator ignores ``resource`` (global, tenant or own debug mode), or None."""
    store = wiring.debug_store()
    try:
        return store.snapshot().ignores(resource)
    finally:
        store.close()


class StatePrinter(logging.Handler):
    """Prints ``<state> <appliance state>`` for each transition of one machine."""

    def __init__(self, machine: Machine, out: TextIO) -> None:
        super().__init__(logging.DEBUG)
        self._machine = machine
        self._out = out

    def emit(self, record: logging.LogRecord) -> None:
        transition = getattr(record, "transition", None)
        if transition is not None and getattr(record, "machine", None) is self._machine:
            print_state(self._out, transition[1], self._machine)

    def handleError(self, record: logging.LogRecord) -> None:
        """A failed print (a closed pipe) must not turn into a logging traceback."""


def print_state(out: TextIO, state: str, machine: Machine) -> None:
    print(f"{state:<18} {machine.instance_state.name}", file=out, flush=True)


@contextmanager
def watching(machine: Machine, out: TextIO) -> Iterator[None]:
    """Print the states of ``machine`` while in the block."""
    logger = logging.getLogger(STATE_MACHINE_LOGGER)
    printer = StatePrinter(machine, out)
    level = logger.level
    if not logger.isEnabledFor(logging.DEBUG):
        logger.setLevel(logging.DEBUG)
    logger.addHandler(printer)
    try:
        yield
    finally:
        logger.removeHandler(printer)
        logger.setLevel(level)


def drive(machine: Machine, wait: float, debugger: bool) -> bool:
    """Send one UPDATE and run the machine as a worker would; False if it still waits.

    A worker POLLs a machine at the time ``wake_at`` names; so does this, until
    ``wait`` seconds have passed.
    """
    deadline = time.monotonic() + wait
    machine.send_message(Event(machine.resource, Crud.UPDATE))
    if debugger:
        pdb.set_trace()  # `s` steps into update()
    machine.update()
    while True:
        if machine.has_more_work():
            machine.update()
            continue
        wake_at = machine.wake_at()
        if wake_at is None:
            return True
        if wake_at > deadline:
            return False
        time.sleep(max(0.0, wake_at - time.monotonic()))
        if not machine.send_message(Event(machine.resource, Crud.POLL)):
            return True  # a machine in ERROR takes no POLL: it rests, as under a worker


def run(options: argparse.Namespace, out: TextIO) -> int:
    """Everything after the command line; the exit status."""
    with warnings.catch_warnings():  # the orchestrator's imports warn about deprecations
        warnings.simplefilter("ignore")
        wiring = configured_wiring(installation_config(
            PROG, options.config_file, single_host=options.single_host,
            state_dir=options.state_dir,
        ))  # fmt: skip
    resource = find_router(wiring, options.router_id)
    reason = debug_reason(wiring, resource)
    if reason is None:
        print(f"{PROG}: error: {not_in_debug_message(options, resource.id)}", file=sys.stderr)
        return NOT_IN_DEBUG
    if options.pdb:
        wiring.conf.set_override("boot_timeout", DEBUGGER_BOOT_TIMEOUT)
    machine = wiring.machine_factory()(resource)
    print(f"{reason}: sending router {resource.id} (tenant {resource.tenant_id}) one UPDATE",
          file=out)
    print_state(out, machine.current_state_name, machine)
    with watching(machine, out):
        settled = drive(machine, options.wait, options.pdb)
    if not settled:
        print(
            f"still waiting after {options.wait:g} s (for a boot or a retry); the orchestrator "
            f"carries on once the router is managed again", file=out,
        )  # fmt: skip
    return 0


def not_in_debug_message(options: argparse.Namespace, router_id: str) -> str:
    """Why the tool refuses, and the astara-ctl command (same installation) that fixes it."""
    installation = [arg for path in options.config_file for arg in ("--config-file", path)]
    if options.single_host:
        installation += ["--single-host", "--state-dir", options.state_dir]
    command = shlex.join(["astara-ctl", *installation, "router", "debug", router_id])
    return (
        f"router {router_id} is not in debug mode, so the orchestrator drives it too; "
        f"put it in debug mode first: {command} --reason '...'"
    )


@contextmanager
def logging_to_stderr(debug: bool) -> Iterator[None]:
    """One line per warning or error (every record with --debug) on stderr, while in the block."""
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.DEBUG if debug else logging.WARNING)
    handler.setFormatter(logging.Formatter(f"{PROG}: %(levelname)s: %(name)s: %(message)s"))
    level = root.level
    if debug:
        root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_arguments(sys.argv[1:] if argv is None else argv)
    with logging_to_stderr(options.debug):
        try:
            return run(options, sys.stdout)
        except KeyboardInterrupt:
            print(f"{PROG}: interrupted", file=sys.stderr)
            return INTERRUPTED
        except (DebugRouterError, SetupError) as error:
            print(f"{PROG}: error: {error}", file=sys.stderr)
        except Exception as error:
            if options.debug:
                traceback.print_exc()
            print(f"{PROG}: error: {type(error).__name__}: {error}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
