"""Running Python code inside an appliance's network namespace, from the agent process.

A network namespace belongs to a thread, not to a process: a thread that
calls setns(2) moves alone, and every socket it opens from then on belongs to
the new namespace.  Raw sockets (gratuitous ARP) and the metadata proxy's
listeners are opened that way, so one agent process can serve the
appliances of several namespaces without ``ip netns exec`` round trips.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable
from typing import TypeVar

CLONE_NEWNET = 0x40000000
NETNS_DIR = "/run/netns"

T = TypeVar("T")


def enter_namespace(name: str | None) -> None:
    """Move the calling thread (only it) into the named network namespace; None stays."""
    if name is None:
        return
    if "/" in name or name in (".", ".."):
        raise OSError(f"not a namespace name: {name!r}")
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(os.path.join(NETNS_DIR, name), os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"setns({name}): {os.strerror(errno)}")
    finally:
        os.close(fd)


def run_in_namespace(name: str | None, work: Callable[[], T]) -> T:
    """``work()`` in a short-lived thread inside the namespace; its result or its exception."""
    if name is None:
        return work()
    outcome: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            enter_namespace(name)
            outcome.append(work())
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run, name=f"netns-{name}")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return outcome[0]
