"""``astara-ctl``: the operator's command line (cliff: table, json, yaml, csv, value output).

It reads the orchestrator's configuration to reach what the orchestrator
reaches: in cloud mode ``/etc/astara/orchestrator.ini`` (or ``--config-file``),
in single-host mode the configuration ``astara-orchestrator --single-host``
generated in its state dir (``--single-host --state-dir DIR``), with the same
extra ``--config-file`` overrides. Errors are one line on stderr and exit 1;
``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

from cliff.app import App
from cliff.commandmanager import CommandManager

from astara.cli.instances import InstanceList

PROG = "astara-ctl"
COMMANDS = {"instance list": InstanceList}


@dataclass(frozen=True)
class Context:
    """What the commands act on, built from the configuration."""

    provisioner: Any
    network_model: Any


class CtlError(Exception):
    """A problem the operator can fix; shown as one line."""


def build_context(options: argparse.Namespace) -> Context:
    """The configured provisioner and network model, as the orchestrator would build them.

    The orchestrator's modules are imported here, not at the top, because
    importing them (eventlet, dnspython, privsep) warns about deprecations
    that mean nothing to an operator; ``--help`` stays fast too.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _configured_context(options)


def _configured_context(options: argparse.Namespace) -> Context:
    from astara.cli.config_context import configured_wiring

    wiring = configured_wiring(
        PROG, options.config_file, single_host=options.single_host, state_dir=options.state_dir
    )
    return Context(provisioner=wiring.provisioner(), network_model=wiring.network_model())


class AstaraCtl(App):
    """cliff reports a failed command's exception as one log line in this format."""

    CONSOLE_MESSAGE_FORMAT = f"{PROG}: %(levelname)s: %(message)s"
    #: Warnings and errors only; ``-v`` adds the libraries' INFO chatter, ``-vv`` DEBUG.
    DEFAULT_VERBOSE_LEVEL = 0

    def __init__(self) -> None:
        manager = CommandManager("astara.ctl")
        for name, command in COMMANDS.items():
            manager.add_command(name, command)
        super().__init__(
            description="Operate Astara: list its appliances (more commands to come).",
            version=version("astara"),
            command_manager=manager,
            deferred_help=True,
        )
        self._context: Context | None = None

    def build_option_parser(
        self, description: str | None, version: str | None, argparse_kwargs: Any = None
    ) -> Any:
        parser = super().build_option_parser(description, version, argparse_kwargs)
        parser.add_argument(
            "--config-file", action="append", default=[], metavar="PATH",
            help="orchestrator.ini to read (repeatable; default: /etc/astara/orchestrator.ini; "
            "with --single-host: extra files over the generated one)",
        )  # fmt: skip
        parser.add_argument(
            "--single-host", action="store_true",
            help="talk to a single-host installation (astara-orchestrator --single-host)",
        )  # fmt: skip
        parser.add_argument(
            "--state-dir", default="state", metavar="DIR",
            help="that installation's state dir (default: ./state, where `make run` keeps it "
            "when run from the repository)",
        )  # fmt: skip
        return parser

    def context(self) -> Context:
        """Built on first use, so --help and bad arguments need no configuration."""
        if self._context is None:
            self._context = build_context(self.options)
        return self._context


def main(argv: Sequence[str] | None = None) -> int:
    return int(AstaraCtl().run(list(sys.argv[1:] if argv is None else argv)))


if __name__ == "__main__":
    sys.exit(main())
