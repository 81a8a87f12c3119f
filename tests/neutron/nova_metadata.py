"""A stand-in for Nova's metadata API, the only part of Nova the cloud tier needs.

Nova cannot run on this machine. Its metadata API trusts a request only when
``X-Instance-ID-Signature`` is the HMAC-SHA256 of ``X-Instance-ID`` under the
secret it shares with the proxy (``neutron_metadata_proxy_shared_secret``), and
then answers with that instance's data. This server does the same for the one
key the tests read, ``instance-id``, computing the signature itself so that a
proxy signing wrongly is refused, and records every request it trusted.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

from tests.loopback_http import LoopbackHttpServer, send_answer

INSTANCE_ID_PATH = "/latest/meta-data/instance-id"


@dataclass(frozen=True)
class TrustedRequest:
    instance_id: str
    tenant_id: str
    forwarded_for: str


class NovaMetadata(LoopbackHttpServer):
    """Nova's metadata API on the host's loopback, for instances whose requests are signed."""

    def __init__(self, shared_secret: str) -> None:
        super().__init__(_handler_for(self))
        self.shared_secret = shared_secret
        self.trusted: list[TrustedRequest] = []
        self.refused = 0

    def signature_is_valid(self, instance_id: str, signature: str) -> bool:
        expected = hmac.new(
            self.shared_secret.encode(), instance_id.encode(), hashlib.sha256
        ).hexdigest()
        return bool(instance_id) and hmac.compare_digest(expected, signature)


def _handler_for(nova: NovaMetadata) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            instance_id = self.headers.get("X-Instance-ID", "")
            if not nova.signature_is_valid(
                instance_id, self.headers.get("X-Instance-ID-Signature", "")
            ):
                nova.refused += 1
                self._send(403, b"Invalid proxy request signature.")
                return
            nova.trusted.append(TrustedRequest(
                instance_id, self.headers.get("X-Tenant-ID", ""),
                self.headers.get("X-Forwarded-For", ""),
            ))  # fmt: skip
            if self.path != INSTANCE_ID_PATH:
                self._send(404, b"Not Found")
                return
            self._send(200, instance_id.encode())

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the test reads :attr:`NovaMetadata.trusted`."""

        def _send(self, status: int, body: bytes) -> None:
            send_answer(self, status, {"Content-Type": "text/plain"}, body)

    return Handler
