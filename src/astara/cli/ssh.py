"""``astara-ctl ssh <router id>``: a shell on a router's appliance, over the management network.

The appliance's management address is the one on its ``ASTARA:MGT:<router
id>`` port (``ASTARA:HA<n>:MGT:<id>`` for member n of an HA pair), read from
the network model the orchestrator uses, so it is found the same way in both
modes. Appliances accept the ``astara`` user with the key of
``ssh_public_key``; whatever follows the router id goes to ``ssh`` as is
(options, a remote command), and ssh's exit status is astara-ctl's.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
from typing import Any, Protocol, cast

from cliff.command import Command

#: The user every appliance is given, with the operator's key (ssh_public_key).
LOG = logging.getLogger(__name__)

APPLIANCE_USER = "astara"
#: ssh's options that take a value (ssh(1)), so ``-o X -i key cmd`` splits right.
_OPTIONS_WITH_VALUE = frozenset("BbcDEeFIiJLlmOoPpQRSWw")


class NoManagementAddress(Exception):
    """The router has no appliance reachable over the management network (yet)."""


class _ContextApp(Protocol):
    def context(self) -> Any: ...


def management_address(network: Any, router_id: str, member: int = 0) -> str:
    """The address of the router's appliance on the management network.

    The driver module is imported here: it pulls in the orchestrator, which
    every other astara-ctl command would pay for at start.
    """
    from astara.drivers.router import port_name

    name = port_name("MGT", router_id.lower(), member)
    ports = network.list_ports(name=name)
    addresses = [str(address) for port in ports for address in port.addresses]
    if not addresses:
        raise NoManagementAddress(
            f"router {router_id} has no management port {name} with an address: "
            "no appliance has been booted for it (is the id right? `astara-ctl resource list`)"
        )
    return addresses[-1]


def ssh_argv(address: str, extra: list[str]) -> list[str]:
    """``ssh [options] astara@<address> [command]``: ssh reads options before the destination."""
    options, command = _split_options([arg for arg in extra[:1] if arg != "--"] + extra[1:])
    return ["ssh", *options, f"{APPLIANCE_USER}@{address}", *command]


def _split_options(extra: list[str]) -> tuple[list[str], list[str]]:
    """ssh's options (``-x``, ``-o value``) that lead ``extra``, and the remote command after."""
    options: list[str] = []
    index = 0
    while index < len(extra) and extra[index].startswith("-"):
        option = extra[index]
        options.append(option)
        index += 1
        if len(option) == 2 and option[1] in _OPTIONS_WITH_VALUE and index < len(extra):
            options.append(extra[index])
            index += 1
    return options, extra[index:]


class Ssh(Command):
    """Open a shell (or run a command) on a router's appliance as the 'astara' user."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("router_id", metavar="<router id>")
        parser.add_argument(
            "--member", type=int, default=0, metavar="N",
            help="the member of an HA pair to reach (default: 0, the first)",
        )  # fmt: skip
        parser.add_argument(
            "ssh_arguments", nargs=argparse.REMAINDER, metavar="...",
            help="ssh options and a remote command, passed to ssh as they are",
        )  # fmt: skip
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> int:
        network = cast(_ContextApp, self.app).context().network_model
        address = management_address(network, parsed_args.router_id, parsed_args.member)
        argv = ssh_argv(address, list(parsed_args.ssh_arguments))
        LOG.debug("running %s", " ".join(argv))
        return subprocess.call(argv)
