"""A real single-host installation per test: ``astara-orchestrator --single-host``, as `make run`.

Each test gets its own state dir and its own configuration, so it runs beside
a user's installation and beside other sessions' tests:

* ``[singlehost] api_port`` is a free port, ``management_prefix`` a random
  ``fd00::/8`` /64, the external and tenant subnets random private /24s that
  no route on the host uses;
* ``[singlehost] id_prefix`` is a stem the test claims (``astt`` and three
  hex digits, ``owned_stem`` in ``tests/e2e/conftest.py``): every id the
  local API hands out starts with it, and so every device name Astara
  derives from one (``ak-router-<id>``, ``brq<id>``, ``tap<id>``) is this
  test's from the moment Astara creates it, safe from a concurrent
  session's sweep;
* ``uplink_nat`` is off: the host is the external peer, nothing leaves it.

Every network, port and router made through :meth:`SingleHost.openstack` also
has its derived names registered as the test's, so this test's teardown
removes whatever Astara left (after stopping it and running
``python -m astara.singlehost.teardown``).
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.ports import free_port
from tests.waiting import wait_until

VENV_BIN = Path(sys.executable).parent
ORCHESTRATOR = str(VENV_BIN / "astara-orchestrator")
OPENSTACK = str(VENV_BIN / "openstack")
#: Bounds for a broken test; a healthy start takes a few seconds.
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 60.0
CLI_TIMEOUT_S = 60.0
#: How long a router may take from "interface added" to ACTIVE (namespace boot,
#: first config push) before the test gives up; it takes seconds when healthy.
ROUTER_READY_TIMEOUT_S = 90.0
#: The generated configuration's health_check_period and boot_timeout
#: (astara.singlehost.options): the most a rebuild after a fault may take.
HEALTH_CHECK_PERIOD_S = 10.0
BOOT_TIMEOUT_S = 60.0



def _routed_networks() -> list[ipaddress.IPv4Network]:
    out = subprocess.run(
        ["ip", "-j", "-4", "route", "show", "table", "all"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    networks = []
    for route in json.loads(out or "[]"):
        destination = route.get("dst", "")
        if destination and destination != "default":
            networks.append(ipaddress.ip_network(destination, strict=False))
    return [n for n in networks if isinstance(n, ipaddress.IPv4Network)]


def unused_subnet(supernet: str) -> str:
    """A random /24 of ``supernet`` that overlaps nothing routed on this host."""
    parent = ipaddress.ip_network(supernet)
    taken = _routed_networks()
    candidates = list(parent.subnets(new_prefix=24))
    for _ in range(200):
        candidate = candidates[secrets.randbelow(len(candidates))]
        if not any(candidate.overlaps(network) for network in taken):
            return str(candidate)
    raise RuntimeError(f"no free /24 in {supernet}")


def random_management_prefix() -> str:
    groups = [secrets.token_hex(1), secrets.token_hex(2), secrets.token_hex(2)]
    return f"fd{groups[0]}:{groups[1]}:{groups[2]}::/64"


@dataclass
class SingleHost:
    """One installation: its state dir, its configuration and its running process."""

    state_dir: Path
    api_port: int
    id_prefix: str
    adopt_link: Callable[[str], str]
    adopt_netns: Callable[[str], str]
    process: subprocess.Popen[bytes] | None = None
    #: The control API's port (on 127.0.0.1 and the management address).
    control_port: int = field(default_factory=lambda: free_port())
    starts: int = 0
    log_paths: list[Path] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def config_file(self) -> Path:
        return self.state_dir.parent / "test.ini"

    def write_config(self) -> None:
        self.config_file.write_text(
            "[DEFAULT]\n"
            f"management_prefix = {random_management_prefix()}\n"
            f"api_port = {self.control_port}\n"
            "[singlehost]\n"
            f"api_port = {self.api_port}\n"
            "uplink_nat = false\n"
            f"id_prefix = {self.id_prefix}\n"
        )

    # -- the process ---------------------------------------------------------------

    def start(self) -> None:
        """Start Astara and return once it has announced itself and its API answers."""
        self.starts += 1
        log_path = self.state_dir.parent / f"astara-{self.starts}.log"
        self.log_paths.append(log_path)
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [ORCHESTRATOR, "--single-host", "--state-dir", str(self.state_dir),
                 "--config-file", str(self.config_file)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        self.wait(lambda: "single-host mode is running" in self.log(), "Astara to start",
                  START_TIMEOUT_S)  # fmt: skip
        httpx.get(f"{self.url}/v2.0/networks", timeout=10).raise_for_status()
        network = self.openstack("network", "show", "astara-mgt")
        self.adopt_network(network["id"])
        self.adopt_all_ports()

    def stop(self) -> int:
        """SIGINT, as Ctrl-C in `make run`; return its exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        status = self.process.wait(timeout=STOP_TIMEOUT_S)
        self.process = None
        return status

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT_S)
        self.process = None

    def log(self) -> str:
        """This run's output so far (the orchestrator logs to stderr)."""
        return self.log_paths[-1].read_text(errors="replace")

    def wait(self, condition: Callable[[], bool], what: str, timeout: float) -> None:
        """Like tests.waiting.wait_until, but stops early, with the log, if Astara died."""

        def alive_and_done() -> bool:
            if self.process is not None and self.process.poll() is not None:
                pytest.fail(f"Astara exited {self.process.returncode} while waiting for "
                            f"{what}:\n{self.log()[-4000:]}")  # fmt: skip
            return condition()

        try:
            wait_until(alive_and_done, what, timeout=timeout, interval=0.2)
        except AssertionError:
            pytest.fail(f"gave up waiting for {what}; Astara's log:\n{self.log()[-4000:]}")

    # -- the real openstack client -------------------------------------------------

    def openstack_text(self, *argv: str) -> str:
        result = subprocess.run(
            [OPENSTACK, "--os-auth-type", "none", "--os-endpoint", self.url, *argv],
            capture_output=True, text=True, timeout=CLI_TIMEOUT_S, check=False,
            env={**os.environ, "OS_CLOUD": "", "HOME": str(self.state_dir.parent)},
        )  # fmt: skip
        if result.returncode != 0:
            pytest.fail(f"openstack {' '.join(argv)} exited {result.returncode}: "
                        f"{result.stderr.strip()}")  # fmt: skip
        return result.stdout

    def openstack(self, *argv: str) -> Any:
        """Run a command that shows or creates something; its JSON output."""
        return json.loads(self.openstack_text(*argv, "-f", "json"))

    def adopt_network(self, network_id: str) -> None:
        self.adopt_link(f"brq{network_id[:11]}")

    def adopt_port(self, port_id: str) -> None:
        self.adopt_link(f"tap{port_id[:11]}")

    def adopt_router(self, router_id: str) -> str:
        return self.adopt_netns(f"ak-router-{router_id}")

    def router_status(self, router: str) -> str:
        return str(self.openstack("router", "show", router, "-c", "status")["status"])

    def wait_router_active(self, router: str) -> None:
        self.wait(lambda: self.router_status(router) == "ACTIVE", f"router {router} ACTIVE",
                  ROUTER_READY_TIMEOUT_S)  # fmt: skip

    def adopt_all_ports(self) -> None:
        """Register the veth of every port that exists now (appliances', the host's)."""
        for port in self.openstack("port", "list"):
            self.adopt_port(port["ID"])


@pytest.fixture
def single_host(
    tmp_path: Path,
    owned_stem: Callable[[], str],
    adopt_link: Callable[[str], str],
    adopt_netns: Callable[[str], str],
) -> Iterator[SingleHost]:
    """A started installation; at teardown stopped and torn down, whatever the test did."""
    installation = SingleHost(
        tmp_path / "state", free_port(), owned_stem(), adopt_link, adopt_netns
    )
    installation.write_config()
    try:
        installation.start()
        yield installation
    finally:
        installation.kill()
        subprocess.run(
            [sys.executable, "-m", "astara.singlehost.teardown", "--state-dir",
             str(installation.state_dir)],
            capture_output=True, timeout=STOP_TIMEOUT_S, check=False,
        )  # fmt: skip


@dataclass(frozen=True)
class Topology:
    """The install guide's "Use Astara" steps, done with the openstack client."""

    public_network: dict[str, Any]
    public_subnet: dict[str, Any]
    private_network: dict[str, Any]
    private_subnet: dict[str, Any]
    router: dict[str, Any]

    @property
    def external_gateway(self) -> str:
        """The external subnet's gateway: the host's own address there."""
        return str(self.public_subnet["gateway_ip"])


def build_guide_topology(host: SingleHost, *, ha: bool = False) -> Topology:
    """The guide's "Use Astara" steps; with ``ha`` the router is made with ``--ha``."""
    public = host.openstack("network", "create", "--external", "astt-public")
    host.adopt_network(public["id"])
    public_subnet = host.openstack(
        "subnet", "create", "--network", public["id"],
        "--subnet-range", unused_subnet("172.16.0.0/12"), "astt-public-subnet",
    )  # fmt: skip
    private = host.openstack("network", "create", "astt-private")
    host.adopt_network(private["id"])
    private_subnet = host.openstack(
        "subnet", "create", "--network", private["id"],
        "--subnet-range", unused_subnet("10.0.0.0/8"), "astt-private-subnet",
    )  # fmt: skip
    router = host.openstack("router", "create", *(["--ha"] if ha else []),
                            "--external-gateway", public["id"], "astt-router")  # fmt: skip
    host.adopt_router(router["id"])
    if ha:
        host.adopt_netns(ha_members(router["id"])[1])
    host.openstack_text("router", "add", "subnet", router["id"], private_subnet["id"])
    host.adopt_all_ports()
    return Topology(public, public_subnet, private, private_subnet, router)


def ha_members(router_id: str) -> tuple[str, str]:
    """An HA router's two appliance namespaces (member 0, member 1)."""
    base = f"ak-router-{router_id}"
    return base, f"{base}-ha1"


@pytest.fixture
def topology(single_host: SingleHost) -> Topology:
    """The guide's networks and router, with the router's appliance up and configured."""
    built = build_guide_topology(single_host)
    single_host.wait_router_active(built.router["id"])
    return built
