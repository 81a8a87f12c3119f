"""Serving the local API with uvicorn (single-host mode's "neutron-server")."""

from __future__ import annotations

import uvicorn

from astara.localapi.app import create_app
from astara.localapi.notifications import Notify

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9696


def run(
    database_url: str,
    notify: Notify,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
) -> None:
    """Serve until interrupted. Listens on loopback unless told otherwise:
    the API has no authentication of its own."""
    uvicorn.run(create_app(database_url, notify), host=host, port=port, log_level="info")
