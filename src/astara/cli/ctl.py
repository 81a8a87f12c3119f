"""``astara-ctl``: the operator's command line (cliff: table, json, yaml, csv, value output).

It reads the orchestrator's configuration to reach what the orchestrator
reaches: in cloud mode ``/etc/astara/orchestrator.ini`` (or ``--config-file``),
in single-host mode the configuration ``astara-orchestrator --single-host``
generated in its state dir (``--single-host --state-dir DIR``), with the same
extra ``--config-file`` overrides. Commands and reads go through the
orchestrator's control API; in cloud mode commands are cast to every
orchestrator over RabbitMQ instead (:mod:`astara.cli.cloud_control`), so each
member of a cluster acts on the resources it owns. Errors are one line on
stderr and exit 1; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

from cliff.app import App
from cliff.command import Command as CliffCommand
from cliff.commandmanager import CommandManager

from astara.cli.browse import Browse
from astara.cli.config_context import add_installation_options
from astara.cli.control_client import ControlClient
from astara.cli.control_commands import COMMANDS as CONTROL_COMMANDS
from astara.cli.instances import InstanceList
from astara.cli.ssh import Ssh

if TYPE_CHECKING:
    from oslo_config import cfg

PROG = "astara-ctl"
COMMANDS: dict[str, type[CliffCommand]] = {
    **CONTROL_COMMANDS,
    "instance list": InstanceList,
    "ssh": Ssh,
    "browse": Browse,
}


@dataclass(frozen=True)
class Context:
    """What the commands that read the cloud directly act on, built from the configuration."""

    provisioner: Any
    network_model: Any


class CtlError(Exception):
    """A problem the operator can fix; shown as one line."""


def load_config(options: argparse.Namespace) -> cfg.ConfigOpts:
    """The orchestrator's configuration for the installation ``options`` name.

    The orchestrator's modules are imported here, not at the top, because
    importing them (eventlet, dnspython, privsep) warns about deprecations
    that mean nothing to an operator; ``--help`` stays fast too.
    """
    from astara.cli.config_context import installation_config

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return installation_config(
            PROG, options.config_file, single_host=options.single_host,
            state_dir=options.state_dir,
        )  # fmt: skip


def control_client(conf: cfg.ConfigOpts, *, single_host: bool) -> ControlClient:
    """The orchestrator's control API, with its token; in cloud mode commands go over RPC."""
    from astara.common.secret_file import SecretFileError
    from astara.orchestrator.control_api.access import TOKEN_FILE, client_token, client_url

    try:
        token = client_token(conf)
    except (OSError, SecretFileError) as error:
        where = conf.api_token_file if conf.api_auth_strategy == TOKEN_FILE else "Keystone"
        raise CtlError(
            f"cannot get a control API token from {where}: {error} "
            "(only root may read the token file)"
        ) from None
    except Exception as error:  # keystoneauth1 raises its own errors, one per failure
        raise CtlError(f"Keystone refused a token for [keystone_authtoken]: {error}") from None
    url = client_url(conf, single_host=single_host)
    if single_host:
        return ControlClient(url, token)
    from astara.cli.cloud_control import CloudControl

    return CloudControl(url, token, conf)


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
            description="Operate Astara: send commands to the orchestrator, read the state "
            "of every resource, browse them live, reach their appliances.",
            version=version("astara"),
            command_manager=manager,
            deferred_help=True,
        )
        self._config: cfg.ConfigOpts | None = None
        self._context: Context | None = None
        self._control: ControlClient | None = None

    def build_option_parser(
        self, description: str | None, version: str | None, argparse_kwargs: Any = None
    ) -> Any:
        """No abbreviations: the app's parser reads first, so it would take a command's
        ``--state up`` as ``--state-dir up``."""
        kwargs = {**(argparse_kwargs or {}), "allow_abbrev": False}
        parser = super().build_option_parser(description, version, kwargs)
        add_installation_options(parser)
        return parser

    def config(self) -> cfg.ConfigOpts:
        """Read on first use, so --help and bad arguments need no configuration."""
        if self._config is None:
            self._config = load_config(self.options)
        return self._config

    def context(self) -> Context:
        """The configured provisioner and network model, as the orchestrator builds them."""
        if self._context is None:
            from astara.cli.config_context import configured_wiring

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                wiring = configured_wiring(self.config())
                self._context = Context(wiring.provisioner(), wiring.network_model())
        return self._context

    def control(self) -> ControlClient:
        """The orchestrator's control API, which every operator command goes through."""
        if self._control is None:
            self._control = control_client(self.config(), single_host=self.options.single_host)
        return self._control

    def clean_up(self, cmd: Any, result: int, err: BaseException | None) -> None:
        if self._control is not None:
            self._control.close()


def main(argv: Sequence[str] | None = None) -> int:
    return int(AstaraCtl().run(list(sys.argv[1:] if argv is None else argv)))


if __name__ == "__main__":
    sys.exit(main())
