"""A throwaway RabbitMQ virtual host, so a test's queues and exchanges are its own.

Whatever runs in it (a real Neutron publishing, an orchestrator listening
and serving RPC on its usual exchange and topics) cannot meet anyone else's
messages, and deleting the vhost at the end removes every queue in it.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator

import pytest

RABBITMQ_HOST, RABBITMQ_PORT = "127.0.0.1", 5672
_COMMAND_LIMIT_S = 120.0


def rabbitmq_listening() -> bool:
    with contextlib.suppress(OSError), socket.create_connection((RABBITMQ_HOST, RABBITMQ_PORT), 2):
        return True
    return False


def _rabbitmqctl(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["rabbitmqctl", *argv], capture_output=True, text=True, timeout=_COMMAND_LIMIT_S,
        check=False,
    )  # fmt: skip


@contextlib.contextmanager
def throwaway_vhost(stem: str) -> Iterator[str]:
    """The transport URL of a new vhost ``<stem>_<hex>``; skips the test if none can be made."""
    if not rabbitmq_listening():
        pytest.skip(f"RabbitMQ is not reachable at {RABBITMQ_HOST}:{RABBITMQ_PORT}")
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl is not installed: cannot create a throwaway virtual host")
    vhost = f"{stem}_{uuid.uuid4().hex[:12]}"
    created = _rabbitmqctl("add_vhost", vhost)
    if created.returncode != 0:
        pytest.skip(f"rabbitmqctl add_vhost failed: {created.stderr.strip()}")
    try:
        granted = _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        if granted.returncode != 0:
            pytest.fail(f"rabbitmqctl set_permissions failed: {granted.stderr.strip()}")
        yield f"rabbit://guest:guest@{RABBITMQ_HOST}:{RABBITMQ_PORT}/{vhost}"
    finally:
        _rabbitmqctl("delete_vhost", vhost)
