"""Shared fixtures for e2e tests that change the host's network.

e2e tests build real namespaces, bridges and veth pairs and send real packets
between them, so they need root and a working ``ip netns``. Without either,
every test in this directory is skipped with the reason (never silently
passed). All tests here carry the ``e2e`` marker, so ``-m "not e2e"`` leaves
them out.

Rules every e2e test follows (the fixtures enforce them where they can)
-----------------------------------------------------------------------
* Touch only what the test created. Everything a test creates is
  *test-owned*: its name contains the marker ``astt``. The marker holds
  letters that are not hexadecimal, so no name Neutron or Astara derives
  from a real UUID (``tap1a2b…``, ``qrouter-…``) can ever contain it.
* Addresses come only from private ranges: 10.0.0.0/8, 172.16.0.0/12,
  192.168.0.0/16 and fd00::/8. Traffic goes only to addresses on this host.
* Everything is deleted when the test ends, whether it passed or failed.
* No timed asserts. ``wait_until`` waits for kernel state that settles
  asynchronously (DAD, carrier); it fails only if that state never comes.

Fixtures
--------
``netns_factory() -> str``
    Create a namespace ``astt-<8 hex>`` with ``lo`` up; return its name. At
    teardown every process still running in it is killed, then it is deleted.
``bridge_factory() -> str``
    Create a Linux bridge ``astt<10 hex>`` (14 characters, below the kernel's
    15-character limit), multicast snooping off so IPv6 neighbour discovery
    does not depend on an MLD querier, and bring it up; return its name.
``veth_factory(bridge, namespace, cidrs, mtu=None) -> Veth``
    Create a veth pair: the outer end enslaved to ``bridge`` and up, the
    inner end moved into ``namespace``, given ``cidrs`` (IPv6 ones without
    DAD, so they are usable at once) and brought up.
``ns_exec(namespace, *argv, check=True) -> CompletedProcess[str]``
    Run ``argv`` inside ``namespace`` and capture its text output. With
    ``check`` a non-zero exit fails the test with the command, its exit code
    and its output.
``owned_name(prefix="", length=14) -> str``
    A fresh test-owned name (``prefix + "astt" + hex`` up to ``length``
    characters) for an interface the code under test will create, e.g. the
    device name handed to an interface driver. Registered as this test's and
    deleted at teardown if it exists.
``adopt_link(name) -> str`` / ``adopt_netns(name) -> str``
    Register a name that the code under test derives itself (a veth peer, a
    namespace named after a router id chosen by the test) so that it is
    cleaned up at teardown and protected from other sessions' sweep. The name
    must contain the marker.
``owned_stem() -> str``
    A fresh marker-bearing stem (``astt`` and three hex digits) claimed for
    this test: every namespace and link whose name contains it is this
    test's. For names the code under test derives later, from ids it
    chooses itself (single-host mode with ``[singlehost] id_prefix`` set to
    the stem), so they are protected from other sessions' sweep from the
    moment they exist, not only once the test has seen and adopted them.
``wait_until(predicate, what, timeout=30.0) -> None``
    Poll ``predicate`` until it is true; fail naming ``what`` if it never is.

Leftovers and concurrent runs
-----------------------------
Before the first e2e test of a session, a sweep removes debris from runs
that crashed (killed pytest, lost machine): every ``astt`` namespace (after
killing the processes in it, found with ``ip netns pids``) and every link in
the host namespace whose name contains ``astt``. Several engineers run the
suite on one host at the same time, so the sweep must not pull a live
session's bridge from under it: each fixture records the resource's owner
(pid and process start time) in ``/run/astara-e2e-owners`` *before* creating
it, and the sweep spares resources whose owner is still alive. A marked
resource that no live process has registered is debris.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.owned_names import MARKER, OWNER_DIR
from tests.owned_names import claim as _claim
from tests.owned_names import owned_by_live_process as _owned_by_live_process
from tests.owned_names import release as _release

# The kernel's IFNAMSIZ is 16 including the terminating NUL.
MAX_IFNAME = 15
COMMAND_TIMEOUT = 60.0
# How long a process in a namespace gets between SIGTERM and SIGKILL.
TERM_GRACE = 3.0
POLL_INTERVAL = 0.05

_E2E_DIR = Path(__file__).resolve().parent


# --------------------------------------------------------------------------
# Host commands


def _run(argv: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a host command with an argv list (never a shell) and capture text output."""
    result = subprocess.run(
        list(argv), capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {result.returncode}: {result.stderr.strip()}")
    return result


def _ip_json(*args: str) -> list[dict[str, object]]:
    """``ip -j ...`` parsed; iproute2 prints nothing at all for an empty list."""
    out = _run(["ip", "-j", *args]).stdout.strip()
    parsed = json.loads(out) if out else []
    return parsed if isinstance(parsed, list) else []


def _netns_names() -> list[str]:
    return [str(entry["name"]) for entry in _ip_json("netns", "list") if "name" in entry]


def _host_link_names() -> list[str]:
    return [str(entry["ifname"]) for entry in _ip_json("link", "show") if "ifname" in entry]


def _link_exists(name: str) -> bool:
    return _run(["ip", "link", "show", "dev", name], check=False).returncode == 0


def _netns_exists(name: str) -> bool:
    return name in _netns_names()


def _pids_in_netns(name: str) -> list[int]:
    out = _run(["ip", "netns", "pids", name], check=False).stdout
    return [int(token) for token in out.split() if token.isdigit()]


def _pid_alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def _kill_all(pids: Sequence[int]) -> None:
    """SIGTERM, then SIGKILL whatever is still there once the grace period is over.

    Daemons started inside a test namespace (dnsmasq, keepalived, the appliance
    agent) would otherwise keep the namespace alive after ``ip netns delete``.
    """
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + TERM_GRACE
    while any(_pid_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _delete_netns(name: str) -> None:
    if not _netns_exists(name):
        return
    _kill_all(_pids_in_netns(name))
    _run(["ip", "netns", "delete", name])


def _delete_link(name: str) -> None:
    if _link_exists(name):
        _run(["ip", "link", "delete", "dev", name])


# --------------------------------------------------------------------------
# Ownership registry: which live process a test-owned resource belongs to


def _live_stems() -> list[str]:
    """The stems (see ``owned_stem``) that live test processes hold."""
    if not OWNER_DIR.is_dir():
        return []
    stems = [path.name.removeprefix("stem-") for path in OWNER_DIR.glob("stem-*")]
    return [stem for stem in stems if _owned_by_live_process("stem", stem)]


def _is_debris(kind: str, name: str, live_stems: Sequence[str]) -> bool:
    return (
        MARKER in name
        and not _owned_by_live_process(kind, name)
        and not any(stem in name for stem in live_stems)
    )


def _sweep_debris() -> list[str]:
    """Remove marked namespaces and host links that no live test process owns."""
    removed = []
    stems = _live_stems()
    for name in _netns_names():
        if _is_debris("netns", name, stems):
            _delete_netns(name)
            _release("netns", name)
            removed.append(f"netns {name}")
    for name in _host_link_names():
        # A veth whose peer was just deleted may vanish between listing and here.
        if _is_debris("link", name, stems) and _link_exists(name):
            _delete_link(name)
            _release("link", name)
            removed.append(f"link {name}")
    return removed


# --------------------------------------------------------------------------
# Session set-up


def _missing_prerequisite() -> str | None:
    """Why e2e tests cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "e2e tests need root (network namespaces, bridges, veth pairs)"
    if shutil.which("ip") is None:
        return "e2e tests need iproute2's `ip` command"
    probe = f"{MARKER}-probe-{os.getpid()}"
    created = _run(["ip", "netns", "add", probe], check=False)
    if created.returncode != 0:
        return f"`ip netns add` does not work here: {created.stderr.strip()}"
    _run(["ip", "netns", "delete", probe], check=False)
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test of this directory ``e2e`` so ``-m "not e2e"`` can leave them out."""
    for item in items:
        if _E2E_DIR in item.path.resolve().parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session", autouse=True)
def _host_network_ready() -> None:
    """Skip every e2e test with a reason if it cannot run; otherwise sweep old debris."""
    reason = _missing_prerequisite()
    if reason is not None:
        pytest.skip(reason)
    _sweep_debris()


# --------------------------------------------------------------------------
# Per-test ledger: what this test created, undone in reverse order


class _Ledger:
    """Undo actions for everything one test created, run even when the test fails."""

    def __init__(self) -> None:
        self._undo: list[tuple[str, Callable[[], None]]] = []

    def add(self, what: str, undo: Callable[[], None]) -> None:
        self._undo.append((what, undo))

    def unwind(self) -> None:
        """Undo everything, newest first; report every failure, not just the first."""
        failures = []
        while self._undo:
            what, undo = self._undo.pop()
            try:
                undo()
            except Exception as exc:
                failures.append(f"{what}: {exc}")
        if failures:
            raise RuntimeError("e2e cleanup failed: " + "; ".join(failures))


@pytest.fixture
def _ledger() -> Iterator[_Ledger]:
    ledger = _Ledger()
    try:
        yield ledger
    finally:
        ledger.unwind()


def _track_netns(ledger: _Ledger, name: str) -> None:
    _claim("netns", name)

    def undo() -> None:
        _delete_netns(name)
        _release("netns", name)

    ledger.add(f"netns {name}", undo)


def _track_link(ledger: _Ledger, name: str) -> None:
    _claim("link", name)

    def undo() -> None:
        _delete_link(name)
        _release("link", name)

    ledger.add(f"link {name}", undo)


def _fresh_name(prefix: str, length: int) -> str:
    room = length - len(prefix) - len(MARKER)
    if room < 4:
        raise ValueError(f"{length} characters leave too little room after {prefix!r}")
    return prefix + MARKER + secrets.token_hex(room)[:room]


# --------------------------------------------------------------------------
# Public fixtures


@dataclass(frozen=True)
class Veth:
    """A veth pair made by ``veth_factory``."""

    outer: str  # in the host namespace, enslaved to the bridge
    inner: str  # inside the namespace, carrying the addresses
    namespace: str


@pytest.fixture
def netns_factory(_ledger: _Ledger) -> Callable[[], str]:
    def create() -> str:
        name = f"{MARKER}-{secrets.token_hex(4)}"
        _track_netns(_ledger, name)
        _run(["ip", "netns", "add", name])
        _run(["ip", "-n", name, "link", "set", "lo", "up"])
        return name

    return create


@pytest.fixture
def bridge_factory(_ledger: _Ledger) -> Callable[[], str]:
    def create() -> str:
        name = _fresh_name("", 14)
        _track_link(_ledger, name)
        _run(["ip", "link", "add", "name", name, "type", "bridge", "mcast_snooping", "0"])
        _run(["ip", "link", "set", "dev", name, "up"])
        return name

    return create


@pytest.fixture
def veth_factory(_ledger: _Ledger) -> Callable[..., Veth]:
    def create(
        bridge: str, namespace: str, cidrs: Sequence[str] = (), mtu: int | None = None
    ) -> Veth:
        stem = _fresh_name("", MAX_IFNAME - 1)
        veth = Veth(outer=stem + "o", inner=stem + "i", namespace=namespace)
        # Deleting the outer end takes the inner one with it, wherever it is.
        _track_link(_ledger, veth.outer)
        mtu_args = ["mtu", str(mtu)] if mtu is not None else []
        peer = ["peer", "name", veth.inner, *mtu_args, "netns", namespace]
        _run(["ip", "link", "add", "name", veth.outer, *mtu_args, "type", "veth", *peer])
        _run(["ip", "link", "set", "dev", veth.outer, "master", bridge, "up"])
        for cidr in cidrs:
            no_dad = ["nodad"] if ":" in cidr else []
            _run(["ip", "-n", namespace, "addr", "add", cidr, "dev", veth.inner, *no_dad])
        _run(["ip", "-n", namespace, "link", "set", "dev", veth.inner, "up"])
        return veth

    return create


@pytest.fixture
def ns_exec() -> Callable[..., subprocess.CompletedProcess[str]]:
    def run(namespace: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = _run(["ip", "netns", "exec", namespace, *argv], check=False)
        if check and result.returncode != 0:
            pytest.fail(
                f"in {namespace}: {' '.join(argv)} exited {result.returncode}\n"
                f"stdout: {result.stdout.strip()}\nstderr: {result.stderr.strip()}"
            )
        return result

    return run


@pytest.fixture
def owned_name(_ledger: _Ledger) -> Callable[..., str]:
    def make(prefix: str = "", length: int = 14) -> str:
        if length > MAX_IFNAME:
            raise ValueError(f"interface names have at most {MAX_IFNAME} characters")
        name = _fresh_name(prefix, length)
        _track_link(_ledger, name)
        return name

    return make


#: Hex digits after the marker in a stem: names derived from a stem keep at
#: least seven characters of it (``tapext-`` and an id's first seven).
STEM_DIGITS = 3


@pytest.fixture
def owned_stem() -> Iterator[Callable[[], str]]:
    """Claim fresh stems for this test (see the module doc); released at teardown."""
    claimed: list[str] = []

    def claim() -> str:
        stem = MARKER + secrets.token_hex(2)[:STEM_DIGITS]
        _claim("stem", stem)
        claimed.append(stem)
        return stem

    yield claim
    for stem in claimed:
        _release("stem", stem)


@pytest.fixture
def adopt_link(_ledger: _Ledger) -> Callable[[str], str]:
    def adopt(name: str) -> str:
        _track_link(_ledger, name)
        return name

    return adopt


@pytest.fixture
def adopt_netns(_ledger: _Ledger) -> Callable[[str], str]:
    def adopt(name: str) -> str:
        _track_netns(_ledger, name)
        return name

    return adopt


@pytest.fixture
def wait_until() -> Callable[..., None]:
    def wait(predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                pytest.fail(f"gave up after {timeout:g}s waiting for {what}")
            time.sleep(POLL_INTERVAL)

    return wait
