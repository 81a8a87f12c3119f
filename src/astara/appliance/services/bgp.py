"""BGP: one bird2 per appliance, in its namespace, announcing the tenant IPv6 prefixes.

Its configuration, control socket and everything else live in the
appliance's state directory, so several appliances on one host (single-host
mode) never share a bird.  bird re-reads its file on SIGHUP and keeps its
sessions up when only the filter or a neighbour changed; a new file is
checked with ``bird -p`` before it replaces the running one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from astara.appliance import bird_config
from astara.appliance.netns import Namespace
from astara.appliance.services.base import Target
from astara.appliance.services.daemon_process import ConfiguredDaemon

CONFIG_FILE = "bird.conf"
CONTROL_SOCKET = "bird.ctl"
PID_FILE = "bird.pid"


class BgpService:
    name = "bgp"

    def __init__(self, ns: Namespace, directory: Path) -> None:
        self.control_socket = directory / CONTROL_SOCKET
        self._pid_file = directory / PID_FILE
        self.daemon = ConfiguredDaemon(
            ns,
            "bird",
            directory / CONFIG_FILE,
            start_argv=self._start_argv,
            check_argv=lambda path: ["bird", "-p", "-c", str(path)],
        )

    def apply(self, current: Target, target: Target) -> None:
        self.daemon.converge(bird_config.render(target))

    def rollback(self, attempted: Target, previous: Target) -> None:
        self.apply(attempted, previous)

    def _start_argv(self, config: Path) -> Sequence[str]:
        socket, pid = str(self.control_socket), str(self._pid_file)
        return ["bird", "-c", str(config), "-s", socket, "-P", pid]
