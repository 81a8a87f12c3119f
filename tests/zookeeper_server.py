"""A private ZooKeeper server that a test starts, from Debian's ``zookeeper`` package.

Shared by ``tests/integration/test_coordination.py`` (the membership on
ZooKeeper, and through restarts of the server) and
``tests/integration/test_cluster_ring.py`` (real orchestrators on a ring kept
in ZooKeeper), so it lives here, free of pytest: a server that cannot be had
raises :class:`ZooKeeperUnavailable`, which the fixtures turn into a skip.

The server is standalone on 127.0.0.1, with a free port and a data directory
of its own (under the directory it is given), so nothing of the machine's is
touched and two runs never meet; :func:`private_zookeeper` stops it at the
end whatever happens.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tests.ports import free_port

#: Debian's ``zookeeper`` package puts the server (and its dependencies' class path) here.
ZOOKEEPER_JAR = Path("/usr/share/java/zookeeper.jar")
#: The server's tick: sessions may be as short as 2 ticks (1 s) and as long as 20 (10 s).
TICK_MS = 500
#: Bounds, not expectations: a JVM's start and stop on a busy machine.
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 60.0


class ZooKeeperUnavailable(Exception):
    """The private server cannot be had: not installed, or it did not start."""


class PrivateZooKeeper:
    """A standalone ZooKeeper server on 127.0.0.1, with its own port and data directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"kazoo://127.0.0.1:{self.port}"
        self._server: subprocess.Popen[bytes] | None = None
        (directory / "data").mkdir()
        # tickTime 500 ms lets sessions be as short as 1 s (2 ticks): the lease
        # the orchestrators ask for (3 heartbeats, see
        # astara.orchestrator.coordination_lease) is then not raised by the server.
        (directory / "zoo.cfg").write_text(
            f"tickTime={TICK_MS}\ndataDir={directory / 'data'}\nclientPort={self.port}\n"
            "clientPortAddress=127.0.0.1\nadmin.enableServer=false\n"
        )

    def start(self) -> None:
        """Start the server and return once it answers; ZooKeeperUnavailable if it cannot."""
        java = shutil.which("java")
        if java is None or not ZOOKEEPER_JAR.exists():
            raise ZooKeeperUnavailable("ZooKeeper is not installed (Debian package: zookeeper)")
        try:
            import kazoo  # noqa: F401  (a dependency, but a missing one is a skip, not a failure)
        except ImportError as error:
            raise ZooKeeperUnavailable(f"kazoo is not installed: {error}") from error
        with (self.directory / "server.log").open("ab") as log:
            self._server = subprocess.Popen(
                [java, "-cp", str(ZOOKEEPER_JAR),
                 "org.apache.zookeeper.server.ZooKeeperServerMain",
                 str(self.directory / "zoo.cfg")],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        if not self._answers():
            self.stop()
            tail = (self.directory / "server.log").read_text(errors="replace")[-2000:]
            raise ZooKeeperUnavailable(f"the private ZooKeeper server did not start:\n{tail}")

    def stop(self) -> None:
        """SIGTERM the server (SIGKILL if it lingers); nothing if it is not running."""
        if self._server is None:
            return
        self._server.terminate()
        try:
            self._server.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._server.kill()
            self._server.wait()
        self._server = None

    def members(self, group_id: str) -> set[str]:
        """The group's members as the server lists them (tooz keeps them under /tooz)."""
        from kazoo.client import KazooClient
        from kazoo.exceptions import NoNodeError

        client = KazooClient(hosts=f"127.0.0.1:{self.port}")
        client.start(timeout=START_TIMEOUT_S)
        try:
            return set(client.get_children(f"/tooz/{group_id}"))
        except NoNodeError:
            return set()
        finally:
            client.stop()
            client.close()

    def wipe(self) -> None:
        """Lose every session and node, as a rebuilt server would (call it stopped)."""
        shutil.rmtree(self.directory / "data")
        (self.directory / "data").mkdir()

    def _answers(self) -> bool:
        """Whether a client could connect before START_TIMEOUT_S (False if the JVM exited)."""
        from kazoo.client import KazooClient
        from kazoo.handlers.threading import KazooTimeoutError

        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self._server is not None
            if self._server.poll() is not None:
                return False
            client = KazooClient(hosts=f"127.0.0.1:{self.port}")
            try:
                client.start(timeout=1)
            except KazooTimeoutError:
                client.close()  # start() has stopped it already
                continue
            client.stop()
            client.close()
            return True
        return False


@contextlib.contextmanager
def private_zookeeper(directory: Path) -> Iterator[PrivateZooKeeper]:
    """A started server in ``directory`` (which must exist), stopped at the end.

    ZooKeeperUnavailable if it cannot be started.
    """
    server = PrivateZooKeeper(directory)
    try:
        server.start()
        yield server
    finally:
        server.stop()
