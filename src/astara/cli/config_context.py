"""Reading the orchestrator's configuration from an operator tool, in either mode.

The operator tools (astara-ctl, astara-debug-router) must reach what the
orchestrator reaches, so they build the same :class:`ConfiguredWiring` from
the same files: in cloud mode ``/etc/astara/orchestrator.ini`` (or the
``--config-file`` files), in single-host mode the ``orchestrator.ini`` that
``astara-orchestrator --single-host`` generated in its state dir, with the
same extra ``--config-file`` overrides and the same wiring. Keeping that in
one place means a tool never reads a configuration the orchestrator would not.

The orchestrator's modules are imported inside the functions:
importing them is slow and warns about deprecations, which a tool's
``--help`` should not pay for.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from oslo_config import cfg

    from astara.orchestrator.wiring import ConfiguredWiring


class SetupError(Exception):
    """The configuration cannot be found or used; the message says how to fix it, in one line."""


def add_installation_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--config-file``, ``--single-host`` and ``--state-dir``, as every tool spells them."""
    parser.add_argument(
        "--config-file", action="append", default=[], metavar="PATH",
        help="orchestrator.ini to read (repeatable; default: /etc/astara/orchestrator.ini; "
        "with --single-host: extra files over the generated one)",
    )  # fmt: skip
    parser.add_argument(
        "--single-host", action="store_true",
        help="act on a single-host installation (astara-orchestrator --single-host)",
    )  # fmt: skip
    parser.add_argument(
        "--state-dir", default="state", metavar="DIR",
        help="that installation's state dir (default: ./state, where `make run` keeps it "
        "when run from the repository)",
    )  # fmt: skip


def installation_config(
    prog: str, config_files: Sequence[str], *, single_host: bool, state_dir: str
) -> cfg.ConfigOpts:
    """The orchestrator's configuration for this installation; SetupError if there is none.

    A configuration that does not load prints one line and raises
    ``SystemExit(2)``, as the orchestrator does (see
    :func:`astara.common.config.parse_config`).
    """
    from astara.common.config import parse_config
    from astara.orchestrator.cli_options import CLI_OPTS
    from astara.singlehost.runner import load_config, orchestrator_argv
    from astara.singlehost.state import StateDir

    if single_host:
        state = StateDir(Path(state_dir).resolve())
        if not state.config_file.is_file():
            raise SetupError(
                f"no single-host installation in {state.root} (no {state.config_file.name}); "
                f"start one with `make run` or `astara-orchestrator --single-host "
                f"--state-dir {state.root}`, or point --state-dir at it"
            )
        return load_config(orchestrator_argv(state, config_files))
    argv = [arg for path in config_files for arg in ("--config-file", path)]
    return parse_config(argv, prog, CLI_OPTS)


def configured_wiring(conf: cfg.ConfigOpts) -> ConfiguredWiring:
    """The orchestrator's wiring for the configuration :func:`installation_config` read."""
    from astara.orchestrator.wiring import ConfiguredWiring, load_wiring

    wiring = load_wiring(conf.wiring, conf)
    if not isinstance(wiring, ConfiguredWiring):
        raise SetupError(f"wiring {conf.wiring} has no provisioner or network model to read")
    return wiring
