"""A proxy in front of the real Neutron that can make it fail on demand.

Astara in the cloud tier reaches Neutron only through this proxy, so a test
can make Neutron answer every request with a 500 (as a Neutron whose database
went away does) or hold every request without answering (as a hung server
does, until the client's timeout) and then heal it, while the real Neutron
keeps serving the test itself. The proxy listens on the host's loopback only
and relays to Neutron's loopback address.
"""

from __future__ import annotations

import enum
import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler
from types import TracebackType

import httpx
from tests.loopback_http import LoopbackHttpServer, send_answer

#: Headers that describe one hop's connection, not the answer: never relayed.
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding",
     "te", "trailer", "upgrade", "proxy-connection"}
)
#: The longest a stalled request is held if nobody heals Neutron (the test failed).
STALL_LIMIT_S = 300.0


class Fault(enum.Enum):
    """How the proxy answers: relay to Neutron, fail with 500, or never answer."""

    NONE = "none"
    ERROR = "error"
    STALL = "stall"


class FaultyNeutron(LoopbackHttpServer):
    """Relays HTTP to ``upstream`` unless :attr:`fault` says otherwise; counts what it did."""

    def __init__(self, upstream: str) -> None:
        super().__init__(_handler_for(self))
        # No idle connections kept to Neutron: gunicorn closes them when it
        # likes, and a reset on a reused one would look like an injected fault.
        self._upstream = httpx.Client(
            base_url=upstream, timeout=120, limits=httpx.Limits(max_keepalive_connections=0)
        )
        self._fault = Fault.NONE
        self._healed = threading.Event()
        self._healed.set()
        self._lock = threading.Lock()
        #: Requests answered per fault (NONE: relayed), since the proxy started.
        self.answered: Counter[Fault] = Counter()

    @property
    def fault(self) -> Fault:
        return self._fault

    @fault.setter
    def fault(self, fault: Fault) -> None:
        self._fault = fault
        if fault is Fault.STALL:
            self._healed.clear()
        else:
            self._healed.set()  # stalled requests end (unanswered) as soon as it heals

    def count(self, fault: Fault) -> None:
        with self._lock:
            self.answered[fault] += 1

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.fault = Fault.NONE  # releases stalled requests, so the server can stop
        super().__exit__(exc_type, exc, traceback)
        self._upstream.close()

    def relay(self, method: str, path: str, headers: dict[str, str], body: bytes) -> httpx.Response:
        return self._upstream.request(method, path, headers=headers, content=body)

    def hold_while_stalled(self) -> None:
        self._healed.wait(STALL_LIMIT_S)


def _handler_for(proxy: FaultyNeutron) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as keystoneauth's session expects

        def do_GET(self) -> None:
            self._answer()

        do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_GET

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the orchestrator's log says what it asked."""

        def _answer(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            fault = proxy.fault
            proxy.count(fault)
            if fault is Fault.STALL:
                proxy.hold_while_stalled()
                self.close_connection = True  # the client gave up long ago
                return
            if fault is Fault.ERROR:
                problem = {"NeutronError": {"type": "HTTPInternalServerError",
                                            "message": "astt: injected failure", "detail": ""}}
                self._send(500, {"Content-Type": "application/json"},
                           json.dumps(problem).encode())
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            try:
                relayed = proxy.relay(self.command, self.path, headers, body)
            except httpx.TransportError as error:
                self._send(502, {"Content-Type": "text/plain"}, f"astt proxy: {error}".encode())
                return
            kept = {k: v for k, v in relayed.headers.items() if k.lower() not in HOP_BY_HOP}
            self._send(relayed.status_code, kept, relayed.content)

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            send_answer(self, status, headers, body)

    return Handler
