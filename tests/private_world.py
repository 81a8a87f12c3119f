"""A private, test-owned world in which a program may create any network namespace or link.

Why
---
The e2e rules (``tests/e2e/conftest.py``) say a test touches only what it
created, recognised by the marker ``astt`` in the name. That cannot hold for
the orchestrator in cloud mode: it creates bridges, veth pairs and namespaces
named after the UUIDs Neutron picks (``qrouter-<uuid>``, ``tap1a2b…``), so the
names cannot carry the marker, and on a shared host they could even collide
with real ones. Instead of marking the names, the test isolates the program:

* a network namespace ``astt-cloud-<6 hex>`` made on the host, so every link
  the program creates lives there and never in the host namespace;
* a private mount namespace in which ``/run/netns`` is a fresh tmpfs, so
  ``ip netns add`` (or pyroute2) run inside creates the namespace only there,
  invisible to the host's ``ip netns list`` and to other sessions' sweep.
  It is held by an *anchor* process (``sleep infinity``); every command of the
  world runs with ``nsenter --target <anchor> --mount --net``;
* TCP forwarders (:meth:`PrivateWorld.forward`), because services the program
  needs (RabbitMQ, a Neutron API) listen on the host's 127.0.0.1, which is a
  different loopback from the world's. Two socat processes bridge the two
  through a Unix socket in the filesystem: path-bound Unix sockets are not
  network-namespaced (abstract ones are, so they would not do).

Cleanup
-------
:meth:`PrivateWorld.close` (run by :func:`private_world` whatever the block
does) terminates every process of the world, then the host forwarders, then
the anchor, and deletes the world's namespace. "Every process" means any
process whose mount namespace is the anchor's, or whose network namespace is
the world's or one mounted in the world's ``/run/netns``: ``ip netns exec``
gives each command its own mount namespace, so the appliance agents and
daemons the program starts that way are found only by their network
namespace. Once the last process is gone the kernel frees the private mount
namespace, and with it every namespace mounted only there, and every link in
them.

If the test process dies without closing (SIGKILL), the world's namespace is
``astt`` debris: it is registered in ``/run/astara-e2e-owners`` like every
fixture's (:mod:`tests.owned_names`) before it is created, so the next
session's sweep kills its processes and deletes it once our pid is gone, and
never earlier.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import select
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.owned_names import MARKER, claim, release

COMMAND_TIMEOUT = 60.0
#: How long a process of the world gets between SIGTERM and SIGKILL.
TERM_GRACE = 3.0
#: How long SIGKILLed processes may take to disappear before close() gives up.
KILL_WAIT = 10.0
POLL_INTERVAL = 0.05
#: What the anchor prints once /run/netns is private: the world is usable.
_READY = "astt-world-ready"
#: Listen backlog of the forwarders: socat's default (5) drops bursts of connects.
_BACKLOG = 128
#: TCP state LISTEN in /proc/net/tcp; __SO_ACCEPTCON in /proc/net/unix.
_TCP_LISTEN = "0A"
_UNIX_LISTENING = "00010000"

#: A namespace's identity: (st_dev, st_ino) of its nsfs file.
_NsId = tuple[int, int]


def _host_run(*argv: str) -> subprocess.CompletedProcess[str]:
    """Run a host command (argv list, never a shell); raise with its stderr if it fails."""
    result = subprocess.run(
        list(argv), capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {result.returncode}: {result.stderr.strip()}")
    return result


def _ns_id(path: str) -> _NsId | None:
    try:
        stat = os.stat(path)
    except OSError:  # gone, or a zombie (whose /proc/<pid>/ns/* are gone too)
        return None
    return (stat.st_dev, stat.st_ino)


def _live_pids() -> Iterator[int]:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            yield int(entry)


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def _group_members(pgid: int) -> list[int]:
    """The processes of group ``pgid`` that still run (zombies excluded)."""
    members = []
    for pid in _live_pids():
        try:
            after_comm = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the command name: state, ppid, pgrp.
        if after_comm[0] != "Z" and int(after_comm[2]) == pgid:
            members.append(pid)
    return members


def _signal(pids: Sequence[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _wait_for(predicate: Callable[[], bool], what: str, timeout: float = COMMAND_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            raise TimeoutError(f"gave up after {timeout:g}s waiting for {what}")
        time.sleep(POLL_INTERVAL)


@dataclass
class _Forward:
    """The two socats of one forwarded port, each the leader of its own process group."""

    host: subprocess.Popen[bytes]  # UNIX-LISTEN on the host -> host's 127.0.0.1:port
    world: subprocess.Popen[bytes]  # world's 127.0.0.1:port -> the Unix socket


class PrivateWorld:
    """One private world (see the module doc); use :func:`private_world` to get one."""

    def __init__(self, tmp_dir: Path, term_grace: float = TERM_GRACE) -> None:
        self.name = f"{MARKER}-cloud-{secrets.token_hex(3)}"
        self._tmp_dir = tmp_dir
        self._term_grace = term_grace
        self._anchor: subprocess.Popen[str] | None = None
        self._forwards: dict[int, _Forward] = {}
        self._children: list[subprocess.Popen[Any]] = []
        self._socket_dir: Path | None = None
        self._claimed = False
        self._closed = False

    @property
    def anchor_pid(self) -> int:
        if self._anchor is None:
            raise RuntimeError(f"{self.name} is not started")
        return self._anchor.pid

    # ----------------------------------------------------------------------
    # Life cycle

    def start(self) -> PrivateWorld:
        """Create the namespace, the anchor and its private /run/netns; undone if it fails."""
        try:
            self._tmp_dir.mkdir(parents=True, exist_ok=True)
            claim("netns", self.name)
            self._claimed = True
            _host_run("ip", "netns", "add", self.name)
            _host_run("ip", "-n", self.name, "link", "set", "lo", "up")
            self._start_anchor()
            # Unix socket paths may have at most 107 bytes: a pytest tmp_path can be longer.
            self._socket_dir = Path(tempfile.mkdtemp(prefix=f"{self.name}-"))
        except BaseException:
            self.close()
            raise
        return self

    def _start_anchor(self) -> None:
        # `ip netns exec` also remounts /sys for the world's namespace, so
        # /sys/class/net inside shows the world's links. --make-shared mirrors
        # a normal host (and iproute2's own first `ip netns add`): namespaces
        # added later are seen by the mount namespaces `ip netns exec` makes.
        script = (
            "mount -t tmpfs astt-world /run/netns && mount --make-shared /run/netns"
            f" && echo {_READY} && exec sleep infinity"
        )
        log = (self._tmp_dir / f"{self.name}-anchor.log").open("w")
        with log:
            self._anchor = subprocess.Popen(
                ["ip", "netns", "exec", self.name,
                 "unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                start_new_session=True,
            )  # fmt: skip
        assert self._anchor.stdout is not None
        with self._anchor.stdout as out:
            ready, _, _ = select.select([out], [], [], COMMAND_TIMEOUT)
            line = out.readline().strip() if ready else ""
        if line != _READY:
            reason = Path(log.name).read_text().strip() or "no output"
            raise RuntimeError(f"{self.name}: the anchor did not start: {reason}")

    def close(self) -> None:
        """Remove the whole world; idempotent, and safe after a failed or partial start.

        World processes go first while the forwarders still run (a daemon may
        talk to RabbitMQ while it shuts down), then the forwarders, then the
        anchor. Every step is tried; the failures are reported together.
        """
        if self._closed:
            return
        self._closed = True
        failures = []
        steps: list[tuple[str, Callable[[], None]]] = [
            ("world processes", lambda: self._terminate(self._processes_but_forwarders)),
            ("forwarders", self._stop_forwards),
            ("remaining processes", lambda: self._terminate(self._processes_but_anchor)),
            ("anchor", self._stop_anchor),
            # Without the anchor, what still runs in the world's namespace.
            ("stragglers", lambda: self._terminate(self.pids)),
            ("children", self._reap_children),
            ("namespace", self._delete_netns),
        ]
        for what, step in steps:
            try:
                step()
            except Exception as exc:
                failures.append(f"{what}: {exc}")
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
        if failures:
            raise RuntimeError(f"{self.name} cleanup failed: " + "; ".join(failures))

    def _delete_netns(self) -> None:
        if Path(f"/run/netns/{self.name}").exists():
            _host_run("ip", "netns", "delete", self.name)
        if self._claimed:
            release("netns", self.name)
            self._claimed = False

    def _stop_anchor(self) -> None:
        if self._anchor is not None and self._anchor.poll() is None:
            self._anchor.kill()
            self._anchor.wait(timeout=KILL_WAIT)

    def _reap_children(self) -> None:
        """Wait for what popen() started (no zombies) and close the pipes it was given."""
        for child in self._children:
            with contextlib.suppress(ProcessLookupError):
                child.kill()
            child.wait(timeout=KILL_WAIT)
            for stream in (child.stdin, child.stdout, child.stderr):
                if stream is not None:
                    stream.close()

    def _terminate(self, select_pids: Callable[[], list[int]]) -> None:
        """SIGTERM what ``select_pids`` finds, SIGKILL what is left after the grace, until none.

        Every decision uses a fresh scan, so a process started during the
        shutdown (a supervisor respawning a child) is caught too, and a pid
        reused by an unrelated process after ours died is never signalled.
        """
        kill_after = time.monotonic() + self._term_grace
        give_up = kill_after + KILL_WAIT
        termed: set[int] = set()
        while victims := select_pids():
            now = time.monotonic()
            if now >= give_up:
                raise RuntimeError(f"processes {victims} outlived SIGKILL")
            if now >= kill_after:
                _signal(victims, signal.SIGKILL)
            else:
                _signal([pid for pid in victims if pid not in termed], signal.SIGTERM)
                termed.update(victims)
            for child in self._children:  # our own children stay zombies until reaped
                child.poll()
            time.sleep(POLL_INTERVAL)

    # ----------------------------------------------------------------------
    # Running commands in the world

    def argv(self, *argv: str, cwd: str | os.PathLike[str] | None = None) -> list[str]:
        """``argv`` prefixed so that it runs in the world, for callers' own ``Popen``.

        Entering a mount namespace moves the working directory to its root,
        so ``Popen(cwd=...)`` alone would be lost: the directory (``cwd``, by
        default the caller's) is handed to nsenter instead. Without ``--pid``
        nsenter execs ``argv`` in place: the Popen's pid is the program's, and
        signals sent to it reach the program.
        """
        wd = os.fspath(cwd) if cwd is not None else os.getcwd()
        return ["nsenter", f"--target={self.anchor_pid}", "--mount", "--net", f"--wd={wd}",
                "--", *argv]  # fmt: skip

    def run(
        self, *argv: str, check: bool = True, timeout: float = COMMAND_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in the world and capture its text output; with ``check`` fail loudly."""
        result = subprocess.run(
            self.argv(*argv), capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"in {self.name}: {' '.join(argv)} exited {result.returncode}\n"
                f"stdout: {result.stdout.strip()}\nstderr: {result.stderr.strip()}"
            )
        return result

    def popen(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """Start ``argv`` in the world (``Popen`` keywords apply); killed and reaped by close()."""
        cwd = kwargs.pop("cwd", None)
        child = subprocess.Popen(self.argv(*argv, cwd=cwd), **kwargs)
        self._children.append(child)
        return child

    def netns_names(self) -> list[str]:
        """The namespaces ``ip netns list`` shows inside the world."""
        out = self.run("ip", "-j", "netns", "list").stdout.strip()
        entries = json.loads(out) if out else []  # iproute2 prints nothing for none
        return [str(entry["name"]) for entry in entries if "name" in entry]

    def pids(self) -> list[int]:
        """Every live process of the world (see the module doc for which those are).

        Each namespace is identified while something pins it (the anchor, the
        host's /run/netns entry, the world's /run/netns mounts), because the
        kernel reuses the inode number of a freed namespace.
        """
        anchor = self._anchor.pid if self._anchor and self._anchor.poll() is None else None
        mnt = _ns_id(f"/proc/{anchor}/ns/mnt") if anchor else None
        nets = {_ns_id(f"/run/netns/{self.name}")}
        if anchor:
            inner_dir = f"/proc/{anchor}/root/run/netns"
            with contextlib.suppress(OSError):
                nets.update(_ns_id(f"{inner_dir}/{entry}") for entry in os.listdir(inner_dir))
        nets.discard(None)
        found = []
        for pid in _live_pids():
            if pid == os.getpid():
                continue
            if (mnt is not None and _ns_id(f"/proc/{pid}/ns/mnt") == mnt) or (
                _ns_id(f"/proc/{pid}/ns/net") in nets
            ):
                found.append(pid)
        return found

    def _processes_but_anchor(self) -> list[int]:
        anchor = self._anchor.pid if self._anchor is not None else None
        return [pid for pid in self.pids() if pid != anchor]

    def _processes_but_forwarders(self) -> list[int]:
        groups = {forward.world.pid for forward in self._forwards.values()}
        return [pid for pid in self._processes_but_anchor() if _pgid(pid) not in groups]

    # ----------------------------------------------------------------------
    # Forwarders

    def forward(self, port: int) -> None:
        """Make the world's ``127.0.0.1:port`` connect to the host's ``127.0.0.1:port``.

        Returns once the world's side listens. Each connection gets its own
        pair of socat children, so connections are independent and a close on
        either end reaches the other. If nothing listens on the host, a
        connection inside is accepted and then closed (not refused): use
        :meth:`stop_forward` to simulate an outage.
        """
        if port in self._forwards:
            raise ValueError(f"{self.name}: port {port} is already forwarded")
        if self._socket_dir is None:
            raise RuntimeError(f"{self.name} is not started")
        sock = self._socket_dir / f"{port}.sock"
        log = self._tmp_dir / f"{self.name}-forward-{port}.log"
        tcp_options = f"nodelay,backlog={_BACKLOG}"
        host = _spawn_socat(
            ["socat", f"UNIX-LISTEN:{sock},fork,unlink-early,backlog={_BACKLOG}",
             f"TCP:127.0.0.1:{port},nodelay"],
            log,
        )  # fmt: skip
        try:
            self._wait_listening(host, log, lambda: self._unix_listens(host.pid, sock))
            world = _spawn_socat(
                self.argv("socat", f"TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr,{tcp_options}",
                          f"UNIX-CONNECT:{sock}"),
                log,
            )  # fmt: skip
        except BaseException:
            _stop_group(host)
            raise
        self._forwards[port] = _Forward(host=host, world=world)
        try:
            self._wait_listening(world, log, lambda: self._world_tcp_listens(port))
        except BaseException:
            self.stop_forward(port)
            raise

    def expose(self, port: int) -> Path:
        """A Unix socket on the host that connects to the world's ``127.0.0.1:port``.

        The other way round from :meth:`forward`: the host's test code reaches a
        server that listens only inside the world (the orchestrator's control
        API) without starting a process in the world for every request. Each
        connection gets its own socat child; the socat is a world process, so
        close() stops it with the rest.
        """
        if self._socket_dir is None:
            raise RuntimeError(f"{self.name} is not started")
        sock = self._socket_dir / f"exposed-{port}.sock"
        log = self._tmp_dir / f"{self.name}-expose-{port}.log"
        with log.open("a") as out:
            socat = self.popen(
                ["socat", f"UNIX-LISTEN:{sock},fork,unlink-early,backlog={_BACKLOG}",
                 f"TCP:127.0.0.1:{port},nodelay"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        self._wait_listening(socat, log, lambda: self._unix_listens(socat.pid, sock))
        return sock

    def stop_forward(self, port: int) -> None:
        """Stop forwarding ``port``: its connections are cut, new ones refused in the world."""
        forward = self._forwards.pop(port, None)
        if forward is None:
            return
        _stop_group(forward.world)
        _stop_group(forward.host)

    def _stop_forwards(self) -> None:
        for port in list(self._forwards):
            self.stop_forward(port)

    def _world_tcp_listens(self, port: int) -> bool:
        # The anchor is always in the world's network namespace, so its
        # /proc/<pid>/net shows the world's sockets; the socat's own would show
        # the host's (where the real service listens) until nsenter has entered.
        wanted = f"0100007F:{port:04X}"
        lines = Path(f"/proc/{self.anchor_pid}/net/tcp").read_text().splitlines()[1:]
        return any(
            fields[1] == wanted and fields[3] == _TCP_LISTEN
            for fields in (line.split() for line in lines)
        )

    @staticmethod
    def _unix_listens(pid: int, sock: Path) -> bool:
        lines = Path(f"/proc/{pid}/net/unix").read_text().splitlines()[1:]
        return any(
            len(fields) == 8 and fields[7] == str(sock) and fields[3] == _UNIX_LISTENING
            for fields in (line.split() for line in lines)
        )

    @staticmethod
    def _wait_listening(
        proc: subprocess.Popen[bytes], log: Path, listens: Callable[[], bool]
    ) -> None:
        deadline = time.monotonic() + COMMAND_TIMEOUT
        while not listens():
            if proc.poll() is not None:
                raise RuntimeError(f"socat exited {proc.returncode}: {log.read_text().strip()}")
            if time.monotonic() >= deadline:
                raise TimeoutError(f"socat {proc.args} did not listen within {COMMAND_TIMEOUT}s")
            time.sleep(POLL_INTERVAL)


def _spawn_socat(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    """Start a socat as the leader of a new process group, so its forked children can be found."""
    with log.open("a") as out:
        return subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def _stop_group(leader: subprocess.Popen[bytes]) -> None:
    """Stop a socat and the children it forked for each connection (its process group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(leader.pid, signal.SIGTERM)
    try:
        leader.wait(timeout=TERM_GRACE)
    except subprocess.TimeoutExpired:
        leader.kill()
        leader.wait()
    try:
        _wait_for(lambda: not _group_members(leader.pid), "socat's children", TERM_GRACE)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(leader.pid, signal.SIGKILL)
        _wait_for(lambda: not _group_members(leader.pid), "socat's children", KILL_WAIT)


@contextmanager
def private_world(tmp_dir: Path, term_grace: float = TERM_GRACE) -> Iterator[PrivateWorld]:
    """A started :class:`PrivateWorld`, closed when the block ends however it ends."""
    world = PrivateWorld(tmp_dir, term_grace)
    try:
        yield world.start()
    finally:
        world.close()
