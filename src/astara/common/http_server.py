"""An ASGI app served by uvicorn in a thread of the orchestrator's main process.

The control API, and in single-host mode the local API and the metadata
proxy, run beside the orchestrator in one process: threads let them share
its service, the notification bus and the stop signal, and uvicorn in a
non-main thread leaves signal handling to the main thread, which stops
everything in order.
"""

from __future__ import annotations

import logging
import threading
import time

import uvicorn
from fastapi import FastAPI

LOG = logging.getLogger(__name__)

#: Seconds a server gets to start listening, and to finish its open requests at stop.
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
_POLL_S = 0.02


class ServerFailed(RuntimeError):
    """The server did not start listening (port taken, address missing...)."""


class ThreadedServer:
    """Serves ``app`` on ``host:port`` from a daemon thread until :meth:`stop`."""

    def __init__(self, name: str, app: FastAPI, host: str, port: int) -> None:
        self.name = name
        self.host = host
        self.port = port
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=int(STOP_TIMEOUT_S),
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name=name, daemon=True)

    def start(self) -> None:
        """Start serving; ServerFailed when it is not listening within START_TIMEOUT_S."""
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ServerFailed(f"{self.name} could not listen on {self.host}:{self.port}")
            time.sleep(_POLL_S)
        LOG.info("%s listening on %s:%d", self.name, self.host, self.port)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(STOP_TIMEOUT_S + 1.0)
        LOG.info("%s stopped", self.name)
