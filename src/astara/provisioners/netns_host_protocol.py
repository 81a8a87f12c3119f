"""How the netns provisioner talks to the shared agent host: one JSON line each way.

The host listens on a Unix socket under the provisioner's state root (root
only, like the root itself). The provisioner never tells it *what* to serve:
it writes or deletes a record and asks the host to ``sync``, and the host
re-reads every record and converges (level-triggered, so a request lost to a
crash is redone by the next one, and a restarted host serves everything that
is recorded). The reply to either request is the host's report:

``{"pid": 1234, "appliances": {"<namespace>": {"state": "serving", "reason": ""}}}``

``sync`` answers once every removed appliance is fully detached (its
listening socket closed, so its namespace can be deleted) and every new one is
being attached; it does not wait for the attaches to finish.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

CONTROL_SOCKET = "agent-host.sock"
#: Held by the running host for its whole life: at most one host per state root.
HOST_LOCK = "agent-host.lock"
#: Held by a provisioner while it starts a host, so two never start at once.
LAUNCH_LOCK = "agent-host.launch.lock"
HOST_LOG = "agent-host.log"
#: Longest reply read: a report for thousands of appliances fits.
_MAX_REPLY = 16 * 1024 * 1024


class Request(StrEnum):
    SYNC = "sync"
    STATUS = "status"


class ServingState(StrEnum):
    """Where one appliance stands in the host."""

    STARTING = "starting"
    SERVING = "serving"
    FAILED = "failed"


class HostUnavailable(Exception):
    """No host answers on the state root's control socket (none runs, or it is exiting)."""


@dataclass(frozen=True, slots=True)
class HostReport:
    pid: int
    states: dict[str, ServingState]
    reasons: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "appliances": {
                name: {"state": str(state), "reason": self.reasons.get(name, "")}
                for name, state in self.states.items()
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HostReport:
        appliances = data["appliances"]
        return cls(
            pid=int(data["pid"]),
            states={name: ServingState(a["state"]) for name, a in appliances.items()},
            reasons={name: str(a["reason"]) for name, a in appliances.items() if a["reason"]},
        )


def control_socket_path(state_root: Path) -> Path:
    return state_root / CONTROL_SOCKET


def ask_host(state_root: Path, request: Request, timeout: float) -> HostReport:
    """Send ``request`` to the host of ``state_root`` and return its report."""
    path = control_socket_path(state_root)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout)
            conn.connect(str(path))
            conn.sendall(json.dumps({"request": str(request)}).encode() + b"\n")
            reply = conn.makefile("rb").readline(_MAX_REPLY)
    except OSError as exc:
        raise HostUnavailable(f"no agent host answers on {path}: {exc}") from exc
    if not reply:
        raise HostUnavailable(f"the agent host on {path} closed without answering (exiting)")
    try:
        return HostReport.from_json(json.loads(reply))
    except (ValueError, KeyError, TypeError) as exc:
        raise HostUnavailable(f"the agent host on {path} sent a malformed report: {exc}") from exc
