"""Memory per router of netns appliances, for each agent mode.

Boots N router namespaces (a management port and one internal port each) with
the netns provisioner, waits until every agent serves, and reads the agents'
memory from /proc: RSS (what the goal is stated in) and PSS (shared pages
divided among the processes that map them, fairer to the process mode).
Everything it creates is named with the ``astb`` marker and removed at the
end, also on failure. Needs root.

    .venv/bin/python bench/netns_memory.py [--routers N] [--modes shared,process]

The last line is ``RESULT rss_mb_per_router <value> MB`` for the default
(shared) mode.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

from astara.common.linux.interface import bridge_name_for_network
from astara.drivers.base import PortSpec
from astara.provisioners.base import InstanceStatus
from astara.provisioners.netns import NetnsProvisioner
from astara.provisioners.netns_plumbing import delete_bridge, namespace_exists
from astara.provisioners.netns_records import AgentMode
from benchlib import machine, memory_mb

MARKER = "astb"
PREFIX = "fd" + secrets.token_hex(7)
GROUPS = ":".join(PREFIX[i : i + 4] for i in range(0, 16, 4))
BOOT_TIMEOUT = 300.0


def _id() -> str:
    return MARKER + secrets.token_hex(12)


def _mac() -> str:
    return "02:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(5))


def _wait_active(provisioner: NetnsProvisioner, names: list[str]) -> None:
    deadline = time.monotonic() + BOOT_TIMEOUT
    while True:
        listed = {i.name: i.status for i in provisioner.list_instances(f"ak-router-{MARKER}")}
        if all(listed.get(name) is InstanceStatus.ACTIVE for name in names):
            return
        if InstanceStatus.ERROR in listed.values() or time.monotonic() > deadline:
            raise SystemExit(f"agents did not all serve: {listed}")
        time.sleep(0.2)


def measure(mode: AgentMode, routers: int, networks: tuple[str, str]) -> float:
    """Boot ``routers`` routers in ``mode``; print their memory; return RSS MB per router."""
    state_root = Path(tempfile.mkdtemp(prefix=f"{MARKER}-netns-"))
    provisioner = NetnsProvisioner(state_root, f"{GROUPS}::/64", agent_mode=mode)
    names: list[str] = []
    try:
        started = time.monotonic()
        for index in range(routers):
            name = f"ak-router-{_id()}"
            management = PortSpec(
                _id(), networks[0], _mac(), "management", (f"{GROUPS}::{index + 10:x}",)
            )
            internal = PortSpec(_id(), networks[1], _mac(), "internal", ())
            names.append(name)
            provisioner.boot(name, None, None, management, [internal])
        _wait_active(provisioner, names)
        ready = time.monotonic() - started
        pids = {pid for name in names if (pid := provisioner.agent_pid(name)) is not None}
        rss, pss = memory_mb(pids)
        print(
            f"{mode:8} routers={routers:3d} agent_processes={len(pids):3d} "
            f"ready_in={ready:6.1f}s  RSS total={rss:7.1f} MB per_router={rss / routers:6.2f} MB  "
            f"PSS total={pss:7.1f} MB per_router={pss / routers:6.2f} MB"
        )
        return rss / routers
    finally:
        for name in names:
            provisioner.destroy(name)
        provisioner.prune_bridges(set())
        leftovers = [name for name in names if namespace_exists(name)]
        if leftovers:
            print(f"WARNING: namespaces left behind: {leftovers}", file=sys.stderr)
        shutil.rmtree(state_root, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--routers", type=int, default=20)
    parser.add_argument("--modes", default="shared,process")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root (namespaces, bridges, agents)")
    modes = [AgentMode(mode) for mode in args.modes.split(",")]
    print(f"machine: {machine()}")
    networks = (_id(), _id())
    results = {}
    try:
        for mode in modes:
            results[mode] = measure(mode, args.routers, networks)
    finally:
        for network in networks:
            # Already pruned after each mode, unless a run failed halfway.
            delete_bridge(bridge_name_for_network(network))
    headline = results.get(AgentMode.SHARED, next(iter(results.values())))
    print(f"RESULT rss_mb_per_router {headline:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
