"""The private world (tests/private_world.py) isolates what runs in it and cleans up after it.

Real namespaces, real socat, real TCP; clients inside the world are small
Python programs run there, since the test process itself stays on the host.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.owned_names import owned_by_live_process
from tests.ports import free_port
from tests.private_world import PrivateWorld, private_world
from tests.waiting import wait_until

CONNECTIONS = 8


class HostServer:
    """A TCP server on the host's 127.0.0.1, echoing or closing, counting concurrent clients."""

    def __init__(self, close_at_once: bool = False, abort: bool = False) -> None:
        self._close_at_once = close_at_once
        self._abort = abort
        self._lock = threading.Lock()
        self._open = 0
        self.peak = 0
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", free_port()))
        self._listener.listen(64)
        self.port = int(self._listener.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):  # the listener was closed
            while True:
                conn, _ = self._listener.accept()
                threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with self._lock:
            self._open += 1
            self.peak = max(self.peak, self._open)
        try:
            if self._close_at_once:
                # What `rabbitmqctl close_all_connections` does to an idle client.
                conn.sendall(b"bye")
                if self._abort:  # RST instead of FIN
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
                return
            while data := conn.recv(4096):
                conn.sendall(data)
        finally:
            conn.close()
            with self._lock:
                self._open -= 1

    def close(self) -> None:
        self._listener.close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[PrivateWorld]:
    with private_world(tmp_path) as started:
        yield started


@pytest.fixture
def echo_server() -> Iterator[HostServer]:
    server = HostServer()
    yield server
    server.close()


def _in_world_python(world: PrivateWorld, code: str) -> subprocess.CompletedProcess[str]:
    return world.run(sys.executable, "-c", code, check=False, timeout=30)


CONCURRENT_ECHO = """
import json, socket, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
# All connections open and send before any is read: only concurrent forwarding answers them all.
socks = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(count)]
for i, s in enumerate(socks):
    s.sendall(f"payload-{i}".encode())
echoes = [s.recv(100).decode() for s in socks]
print(json.dumps(echoes))
"""


def test_forward_reaches_the_host_service_over_concurrent_connections(
    world: PrivateWorld, echo_server: HostServer
) -> None:
    probe = f"import socket; socket.create_connection(('127.0.0.1', {echo_server.port}), timeout=5)"
    before = _in_world_python(world, probe)
    assert "ConnectionRefusedError" in before.stderr, "the world must not share the host loopback"

    world.forward(echo_server.port)

    result = world.run(
        sys.executable, "-c", CONCURRENT_ECHO, str(echo_server.port), str(CONNECTIONS)
    )
    assert json.loads(result.stdout) == [f"payload-{i}" for i in range(CONNECTIONS)]
    assert echo_server.peak == CONNECTIONS


ECHO_IN_WORLD = """
import socket, sys
listener = socket.create_server(("127.0.0.1", int(sys.argv[1])))
print("listening", flush=True)
while True:
    conn, _ = listener.accept()
    with conn:
        conn.sendall(b"world:" + conn.recv(100))
"""


def test_expose_lets_the_host_reach_a_server_listening_only_inside(world: PrivateWorld) -> None:
    port = free_port()
    server = world.popen(
        [sys.executable, "-c", ECHO_IN_WORLD, str(port)], stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None
    assert server.stdout.readline().strip() == "listening"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()

    sock = world.expose(port)

    answers = []
    for payload in (b"one", b"two"):  # one socat child per connection
        with socket.socket(socket.AF_UNIX) as client:
            client.settimeout(10)
            client.connect(str(sock))
            client.sendall(payload)
            answers.append(client.recv(100))
    assert answers == [b"world:one", b"world:two"]


WAIT_FOR_CLOSE = """
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
received = b""
try:
    while chunk := s.recv(100):
        received += chunk
    print("closed", received.decode())
except ConnectionResetError:
    print("reset", received.decode())
"""


@pytest.mark.parametrize("abort", [False, True], ids=["fin", "rst"])
def test_a_close_on_the_host_side_is_seen_inside(world: PrivateWorld, abort: bool) -> None:
    server = HostServer(close_at_once=True, abort=abort)
    try:
        world.forward(server.port)
        result = world.run(sys.executable, "-c", WAIT_FOR_CLOSE, str(server.port))
    finally:
        server.close()
    # socat turns a host-side reset into an orderly close inside; a reset may
    # discard the data in flight, an orderly close never does.
    expected = [["closed", "bye"], ["closed"]] if abort else [["closed", "bye"]]
    assert result.stdout.split() in expected


HOLD_OPEN = """
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
s.sendall(b"x"); assert s.recv(1) == b"x"
print("connected", flush=True)
print("closed" if s.recv(1) == b"" else "data", flush=True)
"""


def test_stop_forward_cuts_connections_and_forward_restores(
    world: PrivateWorld, echo_server: HostServer
) -> None:
    world.forward(echo_server.port)
    client = world.popen(
        [sys.executable, "-c", HOLD_OPEN, str(echo_server.port)], stdout=subprocess.PIPE, text=True
    )
    assert client.stdout is not None
    assert client.stdout.readline().strip() == "connected"

    world.stop_forward(echo_server.port)

    out, _ = client.communicate(timeout=30)
    assert out.strip() == "closed"
    probe = f"import socket; socket.create_connection(('127.0.0.1', {echo_server.port}), timeout=5)"
    assert "ConnectionRefusedError" in _in_world_python(world, probe).stderr

    world.forward(echo_server.port)
    result = world.run(sys.executable, "-c", CONCURRENT_ECHO, str(echo_server.port), "1")
    assert json.loads(result.stdout) == ["payload-0"]


def _host_netns_names() -> list[str]:
    out = subprocess.run(
        ["ip", "-j", "netns", "list"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return [entry["name"] for entry in json.loads(out)] if out else []


def _host_has_link(name: str) -> bool:
    shown = subprocess.run(["ip", "link", "show", "dev", name], capture_output=True, check=False)
    return shown.returncode == 0


PYROUTE2_NETNS = """
import sys
from pyroute2 import NetNS
ns = NetNS(sys.argv[1], flags=0o100)  # O_CREAT: create it, as the orchestrator does
print(sorted(link.get_attr("IFLA_IFNAME") for link in ns.get_links()))
ns.close()
"""


def test_namespaces_and_links_made_inside_stay_inside(world: PrivateWorld) -> None:
    inner = f"astt-inner-{secrets.token_hex(3)}"
    by_pyroute2 = f"astt-inner-{secrets.token_hex(3)}"
    bridge = f"astt{secrets.token_hex(5)}"

    world.run("ip", "netns", "add", inner)
    assert world.run(sys.executable, "-c", PYROUTE2_NETNS, by_pyroute2).stdout.strip() == "['lo']"
    world.run("ip", "link", "add", bridge, "type", "bridge")
    world.run("ip", "link", "add", "astt-v0", "type", "veth", "peer", "astt-v1", "netns", inner)

    assert sorted(world.netns_names()) == sorted([inner, by_pyroute2])
    assert world.name in _host_netns_names()
    assert inner not in _host_netns_names()
    assert by_pyroute2 not in _host_netns_names()
    world.run("ip", "link", "show", "dev", bridge)
    world.run("ip", "netns", "exec", inner, "ip", "link", "show", "dev", "astt-v1")
    assert not _host_has_link(bridge)
    assert not _host_has_link("astt-v0")


def _running(pid: int, start: str | None) -> bool:
    """Still the same process and not a zombie (this container's init reaps no orphans)."""
    try:
        after_comm = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return after_comm[0] != "Z" and after_comm[19] == start


def _processes_of(world: PrivateWorld) -> dict[int, str]:
    """The world's processes plus the host forwarders (their socket path names the world)."""
    pids = set(world.pids())
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and world.name.encode() in (entry / "cmdline").read_bytes():
                pids.add(int(entry.name))
    starts: dict[int, str] = {}
    for pid in pids:
        with contextlib.suppress(OSError):  # it may have exited since it was listed
            starts[pid] = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    return starts


@dataclass
class Population:
    """What ``_populate`` started that close() can find only by its namespaces."""

    daemon: int  # detached, in an inner namespace and its own mount namespace
    outsider: subprocess.Popen[bytes]  # in the world's network namespace only


def _populate(world: PrivateWorld, server: HostServer) -> Population:
    """A forwarder with an open connection, and processes that make close() work for it."""
    inner = f"astt-inner-{secrets.token_hex(3)}"
    world.run("ip", "netns", "add", inner)
    world.forward(server.port)
    client = world.popen(
        [sys.executable, "-c", HOLD_OPEN, str(server.port)], stdout=subprocess.PIPE, text=True
    )
    assert client.stdout is not None and client.stdout.readline().strip() == "connected"
    # As the netns provisioner starts agents: detached (not our child), in its
    # own session and, through `ip netns exec`, its own mount namespace.
    detach = f"setsid ip netns exec {inner} sleep 600 >/dev/null 2>&1 & echo $!"
    daemon = world.run("sh", "-c", detach)
    # Ignores SIGTERM (inherited by sleep), so only SIGKILL ends it.
    stubborn = world.popen(["sh", "-c", "trap '' TERM; sleep 600; sleep 600"])
    children = Path(f"/proc/{stubborn.pid}/task/{stubborn.pid}/children")
    wait_until(lambda: children.read_text().strip() != "", "the stubborn shell started its sleep")
    # Outside the world's mount namespace, in its network namespace.
    outsider = subprocess.Popen(
        ["ip", "netns", "exec", world.name, "sh", "-c", "echo in && exec sleep 600"],
        stdout=subprocess.PIPE,
    )
    assert outsider.stdout is not None and outsider.stdout.readline() == b"in\n"
    outsider.stdout.close()
    return Population(daemon=int(daemon.stdout), outsider=outsider)


def test_close_removes_the_namespace_and_every_process_and_may_run_twice(
    tmp_path: Path, echo_server: HostServer
) -> None:
    world = PrivateWorld(tmp_path, term_grace=0.5).start()
    try:
        population = _populate(world, echo_server)
        assert owned_by_live_process("netns", world.name), "the sweep must spare a live world"
        processes = _processes_of(world)
        assert population.daemon in processes
        # anchor, 2 socat listeners and their 2 children, client, ip-netns-exec sleep,
        # sh and its sleep, host-side ip-netns-exec sleep
        assert len(processes) >= 10, processes
    finally:
        world.close()

    assert [pid for pid, start in processes.items() if _running(pid, start)] == []
    assert world.name not in _host_netns_names()
    assert not owned_by_live_process("netns", world.name)
    assert world.pids() == []
    assert population.outsider.wait(timeout=5) < 0, "killed by a signal, not exited"
    world.close()


def test_a_failure_inside_the_block_still_cleans_up(
    tmp_path: Path, echo_server: HostServer
) -> None:
    with (
        pytest.raises(RuntimeError, match="the test failed"),
        private_world(tmp_path, term_grace=0.5) as world,
    ):
        population = _populate(world, echo_server)
        processes = _processes_of(world)
        assert population.daemon in processes
        raise RuntimeError("the test failed")

    assert [pid for pid, start in processes.items() if _running(pid, start)] == []
    assert world.name not in _host_netns_names()
    assert not owned_by_live_process("netns", world.name)
    assert population.outsider.wait(timeout=5) < 0, "killed by a signal, not exited"
