"""Stopping a test's child process the way a service manager would."""

from __future__ import annotations

import subprocess
from typing import Any

#: Seconds a SIGKILLed process may take to be reaped.
KILL_WAIT_S = 5.0


def stop_process(process: subprocess.Popen[Any], grace: float) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``grace`` seconds; reaped either way."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(KILL_WAIT_S)
