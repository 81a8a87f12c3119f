"""Traffic through an HA router's appliances, and the primary's death: shared, not a test.

Used by ``tests/e2e/singlehost/test_ha_router.py`` and ``bench/failover.py``
(its data plane part), so the test and the benchmark measure one thing one
way. It imports nothing of pytest: a waiter is passed in where something must
be waited for (``Wait``: ``SingleHost.wait`` in the test, the benchmark's own
outside pytest).

* :class:`Pings`: ``ping`` at 10 per second with timestamped answers, and
  what a flow lost (:class:`PingResult`); :func:`data_plane_failover_s` is
  the figure both print.
* :class:`LineExchange`: a TCP connection exchanging a numbered line every
  100 ms (an echo client and server), and :func:`carry_on`.
* :func:`power_off`: the primary appliance dies as a VM losing power.
* VIP ownership (:func:`addresses`, :func:`holders`, :func:`wait_for_vips`),
  the appliances' daemons and conntrackd's synced state, and
  :class:`StateWatch`, the orchestrator's view of the router.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from astara.appliance.namespace_thread import run_in_namespace
from tests.ports import free_port

#: ``Wait(condition, what, timeout)``: return once ``condition()`` holds, fail after ``timeout``.
Wait = Callable[[Callable[[], bool], str, float], None]

PING_INTERVAL_S = "0.1"
EXCHANGE_INTERVAL_S = 0.1
#: How long one echo may take before the connection counts as dead (TCP retransmits meanwhile).
STALL_LIMIT_S = 60.0
#: Lines each connection must exchange to count as carrying on.
LINES_TO_CARRY_ON = 20
#: Longer than a backup waits for adverts before promoting itself (3 x the advert interval,
#: at most 1 s, + skew): a replacement that could not hear the survivor would hold the
#: addresses by then.
DEAF_BACKUP_PROMOTION_S = 5.0
#: Daemons an appliance runs in its namespace; the survivor's must be the same processes.
DAEMONS = ("keepalived", "conntrackd", "dnsmasq")
TOKEN_HEADER = "X-Auth-Token"
_ANSWER = re.compile(r"^\[(\d+\.\d+)\] \d+ bytes from", re.MULTILINE)


def in_namespace(namespace: str | None, *argv: str) -> list[str]:
    """``argv`` run inside ``namespace`` (None: the host)."""
    return ["ip", "netns", "exec", namespace, *argv] if namespace else list(argv)


def answers_ping(namespace: str | None, address: str) -> bool:
    """Whether one ping from ``namespace`` (None: the host) to ``address`` is answered."""
    return subprocess.run(in_namespace(namespace, "ping", "-n", "-c", "1", "-W", "1", address),
                          capture_output=True, check=False).returncode == 0  # fmt: skip


# -- the appliances ----------------------------------------------------------------------


def addresses(namespace: str) -> set[str]:
    """Every address configured in ``namespace``."""
    out = subprocess.run(["ip", "-n", namespace, "-j", "addr", "show"], capture_output=True,
                         text=True, check=False).stdout  # fmt: skip
    return {a["local"] for link in json.loads(out or "[]") for a in link.get("addr_info", [])}


def holders(vips: set[str], members: Iterable[str]) -> dict[str, set[str]]:
    """member -> the router addresses (``vips``) it holds now."""
    return {member: vips & addresses(member) for member in members}


def one_holds_all(vips: set[str], members: Iterable[str]) -> bool:
    """Exactly one member (the VRRP master) holds every router address, the others none."""
    held = sorted(holders(vips, members).values(), key=len)
    return held[-1:] == [vips] and all(not rest for rest in held[:-1])


def wait_for_vips(wait: Wait, member: str, vips: set[str], timeout: float) -> None:
    """Wait until ``member`` holds every router address."""
    wait(lambda: vips <= addresses(member), f"{member} to take every router address", timeout)


def namespace_inode(namespace: str) -> int | None:
    """The namespace's identity: a replaced namespace of the same name has another inode."""
    try:
        return os.stat(f"/run/netns/{namespace}").st_ino
    except FileNotFoundError:
        return None


def daemons(namespace: str) -> dict[int, str]:
    """The appliance daemons running in ``namespace``: pid -> program."""
    out = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True,
                         check=False).stdout  # fmt: skip
    found = {}
    for token in out.split():
        with contextlib.suppress(OSError):
            comm = Path(f"/proc/{token}/comm").read_text().strip()
            if comm in DAEMONS:
                found[int(token)] = comm
    return found


def power_off(namespace: str) -> None:
    """The appliance dies as a VM losing power: its NICs vanish, then all its processes.

    The namespace itself stays (a dead VM is still listed); finding and
    replacing it is the orchestrator's job.
    """
    out = subprocess.run(["ip", "-n", namespace, "-j", "link", "show"], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    for link in json.loads(out or "[]"):
        if link["ifname"] != "lo":
            subprocess.run(["ip", "-n", namespace, "link", "del", link["ifname"]],
                           capture_output=True, check=False)  # fmt: skip
    pids = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True,
                          check=True).stdout.split()  # fmt: skip
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)


def refuse_midstream_pickup(namespace: str) -> None:
    """``nf_conntrack_tcp_loose=0``: a connection survives only on the state conntrackd synced."""
    subprocess.run(["ip", "netns", "exec", namespace, "sysctl", "-q", "-w",
                    "net.netfilter.nf_conntrack_tcp_loose=0"], check=True)  # fmt: skip


def conntrackd_configs(state_dir: Path, namespace: str) -> list[Path]:
    directory = state_dir / "netns" / "appliances" / namespace / "conntrackd"
    return sorted(directory.glob("conntrackd-*.conf"))


def synced(state_dir: Path, namespace: str, ports: Collection[int]) -> bool:
    """Whether the member's conntrackd received every connection to ``ports`` from its peer."""
    for config in conntrackd_configs(state_dir, namespace):
        cache = subprocess.run(
            ["ip", "netns", "exec", namespace, "conntrackd", "-C", str(config), "-e"],
            capture_output=True, text=True, check=False,
        ).stdout  # fmt: skip
        if all(f"dport={port} " in cache for port in ports):
            return True
    return False


def control_sockets(state_dir: Path, namespace: str) -> set[Path]:
    """The control sockets the member's conntrackds bind (as their configs name them).

    A short-path socket (see ``astara.appliance.services.conntrack_sync``)
    lives outside the appliance's state dir, and a conntrackd killed with its
    appliance cannot remove it: whoever killed it removes them once no
    conntrackd of the installation runs.
    """
    sockets = set()
    for config in conntrackd_configs(state_dir, namespace):
        with contextlib.suppress(FileNotFoundError):
            found = re.search(r"^\s*Path (\S+)$", config.read_text(), re.MULTILINE)
            if found:
                sockets.add(Path(found[1]))
    return sockets


# -- the orchestrator's view -----------------------------------------------------------


class StateWatch:
    """Samples the resource's instance state through the control API, every 50 ms."""

    def __init__(self, control_port: int, state_dir: Path, resource_id: str) -> None:
        self._url = f"http://127.0.0.1:{control_port}/v1/resources/{resource_id}"
        self._token = (state_dir / "control-api.token").read_text().strip()
        #: Each distinct instance state in the order seen.
        self.seen: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def now(self) -> str | None:
        try:
            answer = httpx.get(self._url, headers={TOKEN_HEADER: self._token}, timeout=10)
        except httpx.HTTPError:
            return None
        if answer.status_code != 200:
            return None
        return str(answer.json()["resource"]["instance_state"])

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            state = self.now()
            if state is not None and (not self.seen or self.seen[-1] != state):
                self.seen.append(state)
            self._stop.wait(0.05)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(30)


def pair_rebuilt(
    watch: StateWatch,
    lost_member: str,
    dead_inode: int | None,
    degraded_logged: Callable[[], bool],
    router_active: Callable[[], bool],
) -> bool:
    """The pair is two members again, configured: the orchestrator replaced ``lost_member``.

    It went DEGRADED (seen on the control API, or, as it may last under a
    second, in its log: ``degraded_logged``), is back to ``configured``, the
    member is a new namespace running keepalived and conntrackd, and the
    router is ACTIVE again.
    """
    inode = namespace_inode(lost_member)
    return (
        ("degraded" in watch.seen or degraded_logged())
        and watch.seen[-1:] == ["configured"]
        and inode is not None
        and inode != dead_inode
        and {"keepalived", "conntrackd"} <= set(daemons(lost_member).values())
        and router_active()
    )


# -- traffic ---------------------------------------------------------------------------


class LineExchange:
    """A TCP connection through the router: a numbered line goes out every 100 ms, comes back.

    It also notes the longest wait for an echo. ``client``/``server`` are
    (namespace or None for the host, address); the client connects to ``via``
    on ``port`` (a free one unless given).
    """

    def __init__(
        self,
        client: tuple[str | None, str],
        server: tuple[str | None, str],
        via: str,
        port: int | None = None,
    ) -> None:
        self.port = port = port or free_port()
        listener = run_in_namespace(server[0], lambda: socket.create_server((server[1], port)))
        with listener:
            self._client = run_in_namespace(
                client[0],
                lambda: socket.create_connection(
                    (via, self.port), timeout=STALL_LIMIT_S, source_address=(client[1], 0)
                ),
            )
            listener.settimeout(STALL_LIMIT_S)
            self._server, (self.seen_from, _port) = listener.accept()
        self.echoed = 0
        self.longest_wait = 0.0
        self._wait_lock = threading.Lock()
        self.failure: str | None = None
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._echo, daemon=True),
            threading.Thread(target=self._talk, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _echo(self) -> None:
        try:
            with self._server.makefile("rb") as lines:
                for line in lines:
                    self._server.sendall(line)
        except OSError:
            return

    def _talk(self) -> None:
        try:
            with self._client.makefile("rb") as replies:
                while not self._stop.is_set():
                    line = f"{self.echoed}\n".encode()
                    sent = time.monotonic()
                    self._client.sendall(line)
                    if replies.readline() != line:
                        self.failure = f"line {self.echoed} did not come back"
                        return
                    with self._wait_lock:
                        self.longest_wait = max(self.longest_wait, time.monotonic() - sent)
                    self.echoed += 1
                    self._stop.wait(EXCHANGE_INTERVAL_S)
        except OSError as exc:
            self.failure = f"after {self.echoed} lines: {exc!r}"

    @property
    def alive(self) -> bool:
        return self.failure is None and self._threads[1].is_alive()

    def take_longest_wait(self) -> float:
        """The longest wait for an echo so far; the next call counts from now on."""
        with self._wait_lock:
            longest, self.longest_wait = self.longest_wait, 0.0
        return longest

    def close(self) -> None:
        self._stop.set()
        self._threads[1].join(STALL_LIMIT_S)
        self._client.close()
        self._server.close()


def carry_on(wait: Wait, exchanges: Sequence[LineExchange], what: str) -> list[str]:
    """Let each connection exchange more lines on the same socket; why those that failed did.

    Returns once every connection has exchanged :data:`LINES_TO_CARRY_ON`
    more lines or died; an empty list when none died.
    """
    failures = []
    for exchange in exchanges:
        mark = exchange.echoed
        wait(
            lambda e=exchange, m=mark: e.echoed >= m + LINES_TO_CARRY_ON or not e.alive,  # type: ignore[misc]
            f"{what}: the connection on port {exchange.port} to exchange lines",
            STALL_LIMIT_S * 2,
        )
        if not exchange.alive:
            failures.append(f"{what}: the connection on port {exchange.port}: {exchange.failure}")
    return failures


@dataclass(frozen=True)
class PingResult:
    #: Echo requests sent that got no answer.
    lost: int
    #: The longest time between two answers, in seconds.
    longest_silence_s: float
    #: When each answer came (epoch seconds, as ``ping -D`` stamps them).
    answers: tuple[float, ...]

    def end_of_longest_silence(self) -> float | None:
        """When the answer that ended the longest silence came (the first through the backup)."""
        gaps = [(later - earlier, later) for earlier, later in itertools.pairwise(self.answers)]
        return max(gaps)[1] if gaps else None


@dataclass
class Pings:
    """``ping`` at 10 per second from a namespace until stopped.

    Its output goes to a file, not a pipe: nothing reads it until the end,
    and a full pipe (some 800 answers) would hold ping back, which would show
    as a silence.
    """

    process: subprocess.Popen[bytes]
    log: Path
    output: str = ""

    @classmethod
    def start(cls, namespace: str | None, address: str) -> Pings:
        """From ``namespace`` (None: the host) to ``address``, with timestamps (``-D``)."""
        argv = in_namespace(namespace, "ping", "-n", "-D", "-i", PING_INTERVAL_S, address)
        fd, name = tempfile.mkstemp(prefix="ha-traffic-ping-", suffix=".log")
        with os.fdopen(fd, "wb") as out:
            process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        return cls(process, Path(name))

    def stop(self) -> PingResult:
        """Stop pinging; what the flow lost."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=30)
        self.output = self.log.read_text(errors="replace")
        self.log.unlink(missing_ok=True)
        found = re.search(r"(\d+) packets transmitted, (\d+) received", self.output)
        if not found:
            raise RuntimeError(f"ping printed no summary:\n{self.output[-2000:]}")
        answered = tuple(float(t) for t in _ANSWER.findall(self.output))
        gaps = [later - earlier for earlier, later in itertools.pairwise(answered)]
        return PingResult(int(found[1]) - int(found[2]), max(gaps, default=0.0), answered)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
        self.log.unlink(missing_ok=True)


def data_plane_failover_s(results: Iterable[PingResult]) -> float:
    """The longest time any of the ping flows went without an answer.

    With the flows started before the kill and stopped once the backup holds
    every router address and the TCP connections carry on, that is the outage:
    from the last answer before the kill (at most one ping interval, 0.1 s,
    before it) to the first answer through the backup.
    """
    return max(result.longest_silence_s for result in results)


@dataclass
class Traffic:
    """Everything started that must stop whatever happens."""

    exchanges: list[LineExchange] = field(default_factory=list)
    pings: list[Pings] = field(default_factory=list)
    watches: list[StateWatch] = field(default_factory=list)

    def close(self) -> None:
        for watch in self.watches:
            watch.stop()
        for pings in self.pings:
            pings.kill()
        for exchange in self.exchanges:
            exchange.close()
        self.exchanges.clear()
