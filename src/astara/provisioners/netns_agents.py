"""Starting, stopping and watching the appliance agents of netns appliances.

Two ways, one interface (:class:`AgentSupervisor`):

* :class:`ProcessAgents`: one ``astara-appliance`` process per namespace,
  started inside it. Strongest isolation, about 40-50 MB per appliance.
* :class:`SharedAgents`: one agent host process serving every namespace
  (:mod:`astara.provisioners.netns_agent_host`), a few MB per appliance.

Agents outlive the orchestrator process that started them (their own session,
output to a log file in the state root), so an orchestrator restart does not
take every appliance's API down; what runs is found again from the records.
Both need root: they are long-lived root daemons, which rootwrap (a door for
commands that run to completion) cannot start; single-host mode runs as root.
"""

from __future__ import annotations

import fcntl
import logging
import os
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from astara.provisioners.base import InstanceStatus, ProvisionerError
from astara.provisioners.netns_host_protocol import (
    HOST_LOG,
    LAUNCH_LOCK,
    HostUnavailable,
    Request,
    ServingState,
    ask_host,
)
from astara.provisioners.netns_plumbing import process_alive, process_start_time, stop_processes
from astara.provisioners.netns_records import NamespaceRecord, RecordStore

LOG = logging.getLogger(__name__)

AGENT_LOG = "agent.log"
#: Seconds a control request to the agent host may take (a sync waits for detaches).
HOST_REQUEST_TIMEOUT = 30.0
#: Seconds a new agent host gets to answer its first request (interpreter start, imports).
HOST_START_TIMEOUT = 60.0
#: TCP state LISTEN in /proc/net/tcp{,6}.
_TCP_LISTEN = "0A"
_POLL = 0.05

_HOST_STATUS = {
    ServingState.SERVING: InstanceStatus.ACTIVE,
    ServingState.STARTING: InstanceStatus.BUILDING,
    ServingState.FAILED: InstanceStatus.ERROR,
}


def _require_root() -> None:
    if os.geteuid() != 0:
        raise ProvisionerError(
            "the netns provisioner starts appliance agents as root daemons: "
            "run the orchestrator as root (single-host mode)"
        )


def _spawn(argv: Sequence[str], log: Path) -> subprocess.Popen[bytes]:
    """Start a daemon in its own session, output appended to ``log``."""
    _require_root()
    log.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    with log.open("ab") as out:
        try:
            return subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise ProvisionerError(f"cannot start {argv[0]}: {exc}") from exc


class AgentSupervisor(ABC):
    """Runs the agents of the appliances recorded in one mode."""

    @abstractmethod
    def start(self, record: NamespaceRecord) -> NamespaceRecord:
        """Start serving the (already saved) record's appliance; return the record to save."""

    @abstractmethod
    def stop(self, record: NamespaceRecord) -> None:
        """Stop serving ``record``'s appliance (already deleted from the store); idempotent."""

    @abstractmethod
    def statuses(self, records: Sequence[NamespaceRecord]) -> dict[str, InstanceStatus]:
        """Each record's status: ACTIVE when its API listens, ERROR when its agent is dead."""

    @abstractmethod
    def pid(self, record: NamespaceRecord) -> int | None:
        """The process serving ``record``'s API, None when none does."""


class ProcessAgents(AgentSupervisor):
    """One ``astara.appliance.cli`` process inside each namespace."""

    def __init__(self, store: RecordStore, log_level: str = "info") -> None:
        self._store = store
        self._log_level = log_level
        #: Children started here, kept so they are waited for rather than left as zombies.
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    def start(self, record: NamespaceRecord) -> NamespaceRecord:
        state_dir = self._store.appliance_dir(record.name)
        argv = [
            "ip", "netns", "exec", record.name,
            sys.executable, "-m", "astara.appliance.cli",
            "--host", record.management_address,
            "--port", str(record.api_port),
            "--state-dir", str(state_dir),
            "--log-level", self._log_level,
        ]  # fmt: skip
        child = _spawn(argv, state_dir / AGENT_LOG)
        self._children[child.pid] = child
        LOG.info("%s: agent process %d started", record.name, child.pid)
        return replace(record, agent_pid=child.pid, agent_started=process_start_time(child.pid))

    def stop(self, record: NamespaceRecord) -> None:
        pid = self.pid(record)
        if pid is not None:
            stop_processes([pid])
            LOG.info("%s: agent process %d stopped", record.name, pid)
        child = self._children.pop(record.agent_pid or 0, None)
        if child is not None:
            child.wait()

    def statuses(self, records: Sequence[NamespaceRecord]) -> dict[str, InstanceStatus]:
        result = {}
        for record in records:
            pid = self.pid(record)
            if pid is None:
                result[record.name] = InstanceStatus.ERROR
            elif _listens(pid, record.api_port):
                result[record.name] = InstanceStatus.ACTIVE
            else:
                result[record.name] = InstanceStatus.BUILDING
        return result

    def pid(self, record: NamespaceRecord) -> int | None:
        pid = record.agent_pid
        if pid is None or not process_alive(pid):
            return None
        return pid if process_start_time(pid) == record.agent_started else None


def _listens(pid: int, port: int) -> bool:
    """True when a TCP socket listens on ``port`` in ``pid``'s network namespace.

    ``/proc/<pid>/net`` shows the namespace of that process, so this needs
    neither entering the namespace nor a connection the firewall might drop.
    """
    wanted = f":{port:04X}"
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[1].endswith(wanted) and fields[3] == _TCP_LISTEN:
                return True
    return False


class SharedAgents(AgentSupervisor):
    """The agent host of the state root, started when an appliance needs it."""

    def __init__(self, store: RecordStore, log_level: str = "info") -> None:
        self._store = store
        self._log_level = log_level
        self._host: subprocess.Popen[bytes] | None = None

    def start(self, record: NamespaceRecord) -> NamespaceRecord:
        with self._launch_lock():
            try:
                ask_host(self._store.root, Request.SYNC, HOST_REQUEST_TIMEOUT)
            except HostUnavailable:
                self._start_host()
        return record

    def stop(self, record: NamespaceRecord) -> None:
        try:
            ask_host(self._store.root, Request.SYNC, HOST_REQUEST_TIMEOUT)
        except HostUnavailable:
            LOG.debug("%s: no agent host runs, nothing to detach", record.name)

    def statuses(self, records: Sequence[NamespaceRecord]) -> dict[str, InstanceStatus]:
        if not records:
            return {}
        try:
            report = ask_host(self._store.root, Request.STATUS, HOST_REQUEST_TIMEOUT)
        except HostUnavailable as exc:
            LOG.warning("%s", exc)
            return {record.name: InstanceStatus.ERROR for record in records}
        statuses = {}
        for record in records:
            state = report.states.get(record.name, ServingState.STARTING)
            if state is ServingState.FAILED:
                LOG.warning("%s: the agent host cannot serve it: %s", record.name,
                            report.reasons.get(record.name, "no reason given"))  # fmt: skip
            statuses[record.name] = _HOST_STATUS[state]
        return statuses

    def pid(self, record: NamespaceRecord) -> int | None:
        try:
            report = ask_host(self._store.root, Request.STATUS, HOST_REQUEST_TIMEOUT)
        except HostUnavailable:
            return None
        return report.pid if record.name in report.states else None

    @contextmanager
    def _launch_lock(self) -> Iterator[None]:
        self._store.root.mkdir(mode=0o755, parents=True, exist_ok=True)
        fd = os.open(self._store.root / LAUNCH_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _start_host(self) -> None:
        """Start the host and wait until it answers (it then serves every record)."""
        root = self._store.root
        argv = [
            sys.executable, "-m", "astara.provisioners.netns_agent_host",
            "--state-root", str(root), "--log-level", self._log_level,
        ]  # fmt: skip
        if self._host is not None:
            self._host.poll()  # reap the previous one
        self._host = host = _spawn(argv, root / HOST_LOG)
        LOG.info("agent host %d started for %s", host.pid, root)
        deadline = time.monotonic() + HOST_START_TIMEOUT
        while True:
            try:
                ask_host(root, Request.SYNC, HOST_REQUEST_TIMEOUT)
                return
            except HostUnavailable as exc:
                if host.poll() is not None or time.monotonic() > deadline:
                    raise ProvisionerError(
                        f"the agent host did not start ({exc}); see {root / HOST_LOG}"
                    ) from exc
            time.sleep(_POLL)
