"""Where an appliance's services act: a named network namespace or the current one.

Every service gets a ``Namespace`` instead of touching "the" network stack, so
one agent process can serve several appliances (single-host mode) and the
tests can confine an agent to a namespace they own.  Netlink work goes through
pyroute2 in that namespace; programs (nft, dnsmasq, sysctl...) run through
``ip netns exec``, always as argument lists, never as shell lines.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from pyroute2 import IPRoute, NetNS

LOG = logging.getLogger(__name__)

COMMAND_TIMEOUT_S = 30


class CommandError(RuntimeError):
    """A program the appliance runs failed; the message is what it said."""


class Namespace:
    def __init__(self, name: str | None) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Namespace({self.name!r})"

    def __str__(self) -> str:
        return f"netns {self.name}" if self.name else "appliance"

    @contextmanager
    def netlink(self) -> Iterator[IPRoute]:
        """A netlink socket in this namespace, closed when the block ends.

        flags=0: a namespace that is gone stays gone (pyroute2 would otherwise
        create an empty one, which would hide the loss and leak it).
        """
        ipr = NetNS(self.name, flags=0) if self.name else IPRoute()
        try:
            yield ipr
        finally:
            ipr.close()

    def argv(self, argv: Sequence[str]) -> list[str]:
        """The command line that runs ``argv`` inside this namespace."""
        prefix = ["ip", "netns", "exec", self.name] if self.name else []
        return [*prefix, *argv]

    def run(self, argv: Sequence[str], stdin: str | None = None) -> str:
        """Run a program in the namespace and return its stdout, or raise CommandError."""
        full = self.argv(argv)
        try:
            done = subprocess.run(
                full,
                input=stdin,
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise CommandError(f"{argv[0]}: {exc}") from exc
        if done.returncode != 0:
            message = (done.stderr or done.stdout).strip() or f"exit status {done.returncode}"
            raise CommandError(f"{argv[0]}: {message}")
        return done.stdout
