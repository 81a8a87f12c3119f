"""The appliance's host name, kept in its state directory.

An appliance that shares the host's kernel (a namespace) must not rename the
host, so the name the orchestrator sends is written to ``hostname`` in the
state directory, where the agent's API and the operator tools read it; a
dedicated VM image may link /etc/hostname to it.  The file is rewritten only
when the name changes and removed when the configuration has none.
"""

from __future__ import annotations

from pathlib import Path

from astara.appliance.files import read_or_none, write_atomically
from astara.appliance.services.base import Target

HOSTNAME_FILE = "hostname"


def read_hostname(state_dir: Path) -> str | None:
    text = read_or_none(state_dir / HOSTNAME_FILE)
    return text.strip() if text else None


class HostnameService:
    name = "hostname"

    def __init__(self, state_dir: Path) -> None:
        self._path = state_dir / HOSTNAME_FILE

    def apply(self, current: Target, target: Target) -> None:
        hostname = target.config.hostname
        if hostname is None:
            self._path.unlink(missing_ok=True)
        elif read_or_none(self._path) != hostname + "\n":
            self._path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            write_atomically(self._path, hostname + "\n")

    def rollback(self, attempted: Target, previous: Target) -> None:
        self.apply(attempted, previous)
