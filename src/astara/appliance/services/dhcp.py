"""The DHCP/DNS/RA service: one dnsmasq per appliance, disturbed only when needed.

dnsmasq daemonises itself and reports a failed start (an address it cannot
bind, a bad option) through its exit status, so a failed start fails the
apply.  Its pid file is kept in the state directory; before signalling a pid
the agent checks that the process really is the dnsmasq started with this
appliance's configuration file, so a recycled pid is never killed.

dnsmasq drops to ``nobody`` once started and re-reads its hosts and options
files on SIGHUP as that user. When the state directory sits under a path
``nobody`` cannot traverse (the netns provisioner keeps appliances under the
operator's state dir, which may be in ``/root`` or a private temporary
directory), every reload would fail silently and new ports would get no
lease; dnsmasq then keeps root, and the agent says so in its log.
"""

from __future__ import annotations

import logging
import os
import signal
import stat
import time
from pathlib import Path
from typing import Literal

from astara.appliance import dnsmasq_config
from astara.appliance.files import read_or_none, write_atomically
from astara.appliance.netns import Namespace
from astara.appliance.services.base import Target

LOG = logging.getLogger(__name__)

STOP_TIMEOUT_S = 5.0


Action = Literal["none", "start", "stop", "restart", "reload"]


def decide(needed: bool, running: bool, changed: list[str]) -> Action:
    """What dnsmasq needs after its files changed (``changed``: file names)."""
    if not needed:
        return "stop" if running else "none"
    if not running:
        return "start"
    if any(not name.endswith(dnsmasq_config.RELOADABLE_SUFFIXES) for name in changed):
        return "restart"
    return "reload" if changed else "none"


class DhcpService:
    name = "dhcp"

    def __init__(self, ns: Namespace, directory: Path) -> None:
        self._ns = ns
        self._dir = directory
        self._main = directory / dnsmasq_config.MAIN_FILE
        self._keep_root: bool | None = None

    def apply(self, current: Target, target: Target) -> None:
        self._dir.mkdir(mode=0o755, parents=True, exist_ok=True)
        os.chmod(self._dir, 0o755)
        files = dnsmasq_config.render(target, self._dir, keep_root=self._must_keep_root())
        changed = self._write(files)
        pid = self.running_pid()
        action = decide(needed=bool(files), running=pid is not None, changed=changed)
        if pid is not None and action in ("stop", "restart"):
            self._stop(pid)
        if action in ("start", "restart"):
            self._start()
        elif pid is not None and action == "reload":
            os.kill(pid, signal.SIGHUP)
            LOG.info("%s: dnsmasq reloaded leases and options (%s)", self._ns, ", ".join(changed))

    def rollback(self, attempted: Target, previous: Target) -> None:
        self.apply(attempted, previous)

    def _must_keep_root(self) -> bool:
        """Whether dnsmasq must stay root to re-read its files (see module doc); checked once."""
        if self._keep_root is None:
            self._keep_root = not traversable_by_others(self._dir)
            if self._keep_root:
                LOG.warning(
                    "%s: %s is not reachable by unprivileged users, so dnsmasq keeps root "
                    "to re-read its leases on reload; make its parents world-executable "
                    "(chmod o+x) to let it drop privileges",
                    self._ns, self._dir,
                )  # fmt: skip
        return self._keep_root

    def running_pid(self) -> int | None:
        """The pid of this appliance's dnsmasq, or None if it is not running."""
        text = read_or_none(self._dir / dnsmasq_config.PID_FILE)
        if not text or not text.strip().isdigit():
            return None
        pid = int(text)
        cmdline = read_or_none(Path(f"/proc/{pid}/cmdline")) or ""
        return pid if f"--conf-file={self._main}" in cmdline.split("\0") else None

    def _write(self, files: dict[str, str]) -> list[str]:
        """Write the files that differ, delete stale ones; return the names that changed."""
        changed = []
        for name, content in sorted(files.items()):
            path = self._dir / name
            if read_or_none(path) != content:
                write_atomically(path, content)
                changed.append(name)
        for path in sorted(self._dir.iterdir()):
            if path.name != dnsmasq_config.PID_FILE and path.name not in files:
                path.unlink()
                changed.append(path.name)
        return changed

    def _start(self) -> None:
        self._ns.run(["dnsmasq", f"--conf-file={self._main}"])
        LOG.info("%s: dnsmasq started (pid %s)", self._ns, self.running_pid())

    def _stop(self, pid: int) -> None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        (self._dir / dnsmasq_config.PID_FILE).unlink(missing_ok=True)
        LOG.info("%s: dnsmasq stopped (pid %d)", self._ns, pid)


def traversable_by_others(directory: Path) -> bool:
    """True when a user with no special rights can reach files in ``directory``."""
    for path in (directory.resolve(), *directory.resolve().parents):
        if not os.stat(path).st_mode & stat.S_IXOTH:
            return False
    return True


def _alive(pid: int) -> bool:
    """True while the process exists and is not a zombie waiting to be reaped."""
    stat = read_or_none(Path(f"/proc/{pid}/stat"))
    return stat is not None and stat.rsplit(")", 1)[-1].split()[0] != "Z"
