"""Who owns a test-owned (``astt``) network resource: the registry the e2e sweep reads.

Several engineers run the e2e suite on one host at once, and each session
starts by sweeping debris left by crashed runs (``tests/e2e/conftest.py``).
To keep that sweep from deleting a live session's namespace or bridge, every
test records the resource's owner (pid and process start time) in
``/run/astara-e2e-owners`` *before* creating it, and removes the record once
the resource is gone. A marked resource that no live process has registered
is debris.

This lives outside the conftest so that helpers which are not fixtures (the
private world of ``tests/private_world.py``) register their resources the
same way.
"""

from __future__ import annotations

import os
from pathlib import Path

MARKER = "astt"
OWNER_DIR = Path("/run/astara-e2e-owners")


def start_time(pid: int) -> str | None:
    """The process start time from /proc: pid plus start time survives pid reuse."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 (starttime); the command name (field 2) may contain spaces,
    # so count from the closing parenthesis.
    fields_after_comm = stat.rsplit(")", 1)[1].split()
    return fields_after_comm[19]


def _owner_file(kind: str, name: str) -> Path:
    return OWNER_DIR / f"{kind}-{name}"


def claim(kind: str, name: str) -> None:
    """Record this process as the owner of ``kind`` ``name``; do it before creating it."""
    if MARKER not in name:
        raise ValueError(f"{kind} {name!r} is not test-owned: its name must contain {MARKER!r}")
    OWNER_DIR.mkdir(mode=0o755, exist_ok=True)
    pid = os.getpid()
    _owner_file(kind, name).write_text(f"{pid} {start_time(pid)}\n")


def release(kind: str, name: str) -> None:
    """Forget the owner of ``kind`` ``name``; do it once the resource is gone."""
    _owner_file(kind, name).unlink(missing_ok=True)


def owned_by_live_process(kind: str, name: str) -> bool:
    """True when the process that claimed ``kind`` ``name`` still runs."""
    try:
        pid_text, start = _owner_file(kind, name).read_text().split()
    except (OSError, ValueError):
        return False
    return start_time(int(pid_text)) == start
