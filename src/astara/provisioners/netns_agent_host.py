"""The shared agent host: one process serving the appliance API of many namespaces.

A Python agent process per appliance costs 40-50 MB, most of it the
interpreter and its libraries, which every appliance would load again. Here one
process loads them once and keeps, per appliance, only what is that
appliance's own: an :class:`~astara.appliance.appliance.Appliance` bound to its
namespace and state dir, and a uvicorn server on a listening socket created
*inside* that namespace (a socket belongs to the namespace it was created in,
whichever thread later accepts on it). So isolation holds as with separate
processes: an appliance's API is reachable only on its own management address
and configures only its own namespace. All servers share one asyncio loop;
the API's blocking handlers run in the loop's worker threads.

What to serve comes from the provisioner's records (see
:mod:`astara.provisioners.netns_host_protocol`); the host exits when no record
is left, so an idle single-host install keeps no agent in memory.

Run as ``python -m astara.provisioners.netns_agent_host --state-root DIR``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import ipaddress
import json
import logging
import os
import signal
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from pyroute2 import netns

from astara.appliance.api import create_app
from astara.appliance.appliance import Appliance
from astara.appliance.firewall.policy import AgentAccess
from astara.provisioners.netns_host_protocol import (
    HOST_LOCK,
    HostReport,
    Request,
    ServingState,
    control_socket_path,
)
from astara.provisioners.netns_records import AgentMode, NamespaceRecord, RecordStore

LOG = logging.getLogger(__name__)

#: Pending connections per appliance API; the orchestrator opens a few at most.
_BACKLOG = 64
#: Seconds a detached appliance's open requests get to finish.
_GRACEFUL_SHUTDOWN = 5


def listen_in_namespace(namespace: str, address: str, port: int) -> socket.socket:
    """A non-blocking TCP socket listening on ``address``:``port`` inside ``namespace``."""
    family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    # flags=0: never create the namespace when it is missing.
    sock = netns.create_socket(namespace, family, socket.SOCK_STREAM, flags=0)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.listen(_BACKLOG)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _start_appliance(record: NamespaceRecord, state_dir: Path) -> tuple[Appliance, socket.socket]:
    """Restore the appliance's configuration, then open its API socket (blocking work)."""
    address = ipaddress.ip_address(record.management_address)
    appliance = Appliance(record.name, state_dir, AgentAccess(record.api_port, address))
    appliance.start()
    return appliance, listen_in_namespace(record.name, str(address), record.api_port)


@dataclass
class _Served:
    """One appliance attached to this host, and how far its attach got."""

    record: NamespaceRecord
    state: ServingState = ServingState.STARTING
    reason: str = ""
    attach: asyncio.Task[None] | None = None
    server: uvicorn.Server | None = None
    sockets: list[socket.socket] = field(default_factory=list)


class AgentHost:
    """Serves every appliance recorded in shared mode under one state root."""

    def __init__(self, store: RecordStore) -> None:
        self._store = store
        self._served: dict[str, _Served] = {}
        self._sync_lock = asyncio.Lock()
        #: Set once no appliance is left: the host then stops taking requests and exits.
        self.idle = asyncio.Event()

    async def sync(self) -> HostReport | None:
        """Converge on the records: detach what is gone or changed, start attaching what is new.

        None means the host is exiting (it had nothing left to serve) and did nothing.
        """
        async with self._sync_lock:
            if self.idle.is_set():
                return None
            wanted = {
                r.name: r
                for r in self._store.all()
                if r.agent_mode is AgentMode.SHARED and r.plumbed and not r.deleting
            }
            for name, served in list(self._served.items()):
                if _listen_key(wanted.get(name)) != _listen_key(served.record):
                    await self._detach(self._served.pop(name))
            for name, record in wanted.items():
                if name not in self._served:
                    served = _Served(record)
                    served.attach = asyncio.create_task(self._attach(served))
                    self._served[name] = served
            if not self._served:
                self.idle.set()
            return self.report()

    def report(self) -> HostReport:
        return HostReport(
            pid=os.getpid(),
            states={name: served.state for name, served in self._served.items()},
            reasons={name: s.reason for name, s in self._served.items() if s.reason},
        )

    async def close(self) -> None:
        async with self._sync_lock:
            while self._served:
                await self._detach(self._served.popitem()[1])

    async def _attach(self, served: _Served) -> None:
        name = served.record.name
        try:
            appliance, sock = await asyncio.to_thread(
                _start_appliance, served.record, self._store.appliance_dir(name)
            )
            served.sockets.append(sock)
            config = uvicorn.Config(
                create_app(appliance),
                lifespan="off",
                access_log=False,
                log_config=None,
                timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN,
            )
            config.load()
            server = uvicorn.Server(config)
            server.lifespan = config.lifespan_class(config)
            await server.startup(sockets=served.sockets)
            served.server = server
        except Exception as exc:
            served.state, served.reason = ServingState.FAILED, str(exc) or type(exc).__name__
            LOG.error("%s: cannot serve the appliance API: %s", name, served.reason)
            return
        served.state = ServingState.SERVING
        LOG.info(
            "%s: serving on [%s]:%d",
            name,
            served.record.management_address,
            served.record.api_port,
        )

    async def _detach(self, served: _Served) -> None:
        """Stop serving; once this returns the host holds nothing in the namespace."""
        if served.attach is not None:
            # An attach cannot be interrupted halfway (it runs in a thread): let it end.
            await served.attach
        if served.server is not None:
            await served.server.shutdown(sockets=served.sockets)
        for sock in served.sockets:
            sock.close()
        LOG.info("%s: detached", served.record.name)


def _listen_key(record: NamespaceRecord | None) -> tuple[str, int] | None:
    """What an attached appliance's socket depends on; a change means re-attach."""
    return None if record is None else (record.management_address, record.api_port)


async def _handle_control(
    host: AgentHost, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        line = await reader.readline()
        try:
            request = Request(json.loads(line)["request"])
        except (ValueError, KeyError, TypeError):
            LOG.error("control socket: malformed request %r", line[:200])
            return
        if request is Request.SYNC:
            report = await host.sync()
        else:
            report = None if host.idle.is_set() else host.report()
        if report is None:
            return  # exiting: no answer tells the provisioner to start a new host
        writer.write(json.dumps(report.to_json()).encode() + b"\n")
        await writer.drain()
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def serve(state_root: Path) -> None:
    """Serve until no appliance is recorded any more, or until SIGTERM/SIGINT."""
    host = AgentHost(RecordStore(state_root))
    path = control_socket_path(state_root)
    path.unlink(missing_ok=True)  # left by a host that died
    control = await asyncio.start_unix_server(
        lambda r, w: _handle_control(host, r, w), path=str(path)
    )
    path.chmod(0o600)
    _stop_on_signals(host)
    await host.sync()
    LOG.info("agent host %d started for %s", os.getpid(), state_root)
    await host.idle.wait()
    control.close()
    await host.close()
    LOG.info("agent host %d: no appliance left, exiting", os.getpid())


def _stop_on_signals(host: AgentHost) -> None:
    """Make SIGTERM and SIGINT stop the host, and only the host.

    Not ``loop.add_signal_handler``: its wakeup fd is inherited by the short
    lived children pyroute2 forks to open sockets in namespaces, and the
    SIGTERM pyroute2 sends such a child would reach this loop through it.
    """
    loop = asyncio.get_running_loop()
    host_pid = os.getpid()

    def stop(signum: int, frame: object) -> None:
        if os.getpid() == host_pid:
            loop.call_soon_threadsafe(host.idle.set)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop)


def _hold_host_lock(state_root: Path) -> int:
    """Wait until no other host runs for ``state_root``, then keep it that way."""
    fd = os.open(state_root / HOST_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    # Blocks only while a previous host is finishing its exit.
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="astara-netns-agent-host",
        description="Serve the appliance API of every shared-mode netns appliance.",
    )
    parser.add_argument("--state-root", type=Path, required=True)
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    lock = _hold_host_lock(args.state_root)
    try:
        asyncio.run(serve(args.state_root))
    finally:
        os.close(lock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
