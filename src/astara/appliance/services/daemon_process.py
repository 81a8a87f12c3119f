"""A daemon the agent runs in an appliance's namespace from one configuration file.

bird, keepalived and conntrackd share one life cycle: the agent renders a
configuration, writes it only when its text changed, starts the daemon when
it is needed and not running, makes it re-read the file when the file changed
(or restarts it when it cannot re-read), and stops it when the configuration
no longer needs it.  Re-applying the same configuration therefore touches no
process.

The running daemon is found by its command line, which names this
appliance's configuration file: no pid file can point at a recycled pid, one
appliance never signals another appliance's daemon, and a daemon that died
since the last apply is noticed and started again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

from astara.appliance.files import read_or_none, write_atomically
from astara.appliance.netns import Namespace

LOG = logging.getLogger(__name__)

STOP_TIMEOUT_S = 5.0
PROC = Path("/proc")

Action = Literal["none", "start", "stop", "reload", "restart"]
ArgvFor = Callable[[Path], Sequence[str]]
"""Builds a command line for a given configuration file."""


def decide(needed: bool, running: bool, changed: bool) -> Action:
    """What the daemon needs, given whether it is wanted, alive, and its file changed."""
    if not needed:
        return "stop" if running else "none"
    if not running:
        return "start"
    return "reload" if changed else "none"


class ConfiguredDaemon:
    """One daemon, one configuration file, one namespace.

    ``start_argv`` must make the daemon detach (its start command returns once
    it runs, and a non-zero exit fails the apply).  ``check_argv``, when the
    daemon has a parse-only mode, validates a new file before it replaces the
    running one, so a bad render never reaches a live daemon.  Without
    ``reload_signal`` a changed file means a restart.
    """

    def __init__(
        self,
        ns: Namespace,
        program: str,
        config_path: Path,
        start_argv: ArgvFor,
        check_argv: ArgvFor | None = None,
        reload_signal: signal.Signals | None = signal.SIGHUP,
    ) -> None:
        self._ns = ns
        self.program = program
        self.config_path = config_path
        self._start_argv = start_argv
        self._check_argv = check_argv
        self._reload_signal = reload_signal

    def converge(self, text: str | None) -> Action:
        """Run the daemon with ``text`` as its configuration, or stop it for None."""
        pids = self.running_pids()
        if text is None:
            action = decide(needed=False, running=bool(pids), changed=False)
            if action == "stop":
                self._stop(pids)
            self.config_path.unlink(missing_ok=True)
            return action
        changed = read_or_none(self.config_path) != text
        if changed:
            self._install(text)
        action = decide(needed=True, running=bool(pids), changed=changed)
        if action == "reload" and self._reload_signal is None:
            action = "restart"
        if action == "restart":
            self._stop(pids)
        if action in ("start", "restart"):
            self._ns.run(self._start_argv(self.config_path))
        elif action == "reload":
            for pid in pids:
                os.kill(pid, self._reload_signal or signal.SIGHUP)
        if action != "none":
            LOG.info("%s: %s %s", self._ns, self.program, action)
        return action

    def running_pids(self) -> list[int]:
        """The daemon's top processes (children it forked are left to it)."""
        matches = {pid: ppid for pid, ppid in self._matching_processes()}
        return sorted(pid for pid, ppid in matches.items() if ppid not in matches)

    def _matching_processes(self) -> list[tuple[int, int]]:
        wanted = str(self.config_path)
        found = []
        for entry in PROC.iterdir():
            if not entry.name.isdigit():
                continue
            argv = (read_or_none(entry / "cmdline") or "").split("\0")
            if Path(argv[0]).name != self.program or wanted not in argv:
                continue
            state = _state_and_parent(entry)
            if state is not None and state[0] != "Z":
                found.append((int(entry.name), state[1]))
        return found

    def _install(self, text: str) -> None:
        self.config_path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        if self._check_argv is None:
            write_atomically(self.config_path, text)
            return
        candidate = self.config_path.with_name(f".{self.config_path.name}.candidate")
        write_atomically(candidate, text)
        try:
            self._ns.run(self._check_argv(candidate))
            os.replace(candidate, self.config_path)
        finally:
            candidate.unlink(missing_ok=True)

    def _stop(self, pids: Sequence[int]) -> None:
        for pid in pids:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while self._matching_processes() and time.monotonic() < deadline:
            time.sleep(0.02)
        for pid, _ppid in self._matching_processes():
            _signal(pid, signal.SIGKILL)


def _state_and_parent(entry: Path) -> tuple[str, int] | None:
    stat = read_or_none(entry / "stat")
    if stat is None:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[0], int(fields[1])


def _signal(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)
