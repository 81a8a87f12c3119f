"""Every astara-ctl command against a running single-host orchestrator, checked by its effect.

The commands go through the control API (token from the state dir's
``control-api.token``) into the real orchestrator and its workers, and the
effects are read where an operator would see them: the appliance's own
routing table (in its namespace), the resource's state in ``resource
show``, the appliance's instance id in ``instance list``, the counters on
``/metrics``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from textual.widgets import DataTable

from astara.cli.browse import BrowseApp
from astara.cli.control_client import ControlClient
from tests.e2e.singlehost.conftest import (
    BOOT_TIMEOUT_S,
    CLI_TIMEOUT_S,
    ROUTER_READY_TIMEOUT_S,
    SingleHost,
    Topology,
)

ASTARA_CTL = str(Path(sys.executable).parent / "astara-ctl")
#: How long an ignored event is given to (wrongly) reach the appliance; a config push takes <1 s.
IGNORED_EVENT_GRACE_S = 5.0
TOKEN_HEADER = "X-Auth-Token"
#: The mark left in an appliance to tell it from its replacement.
MARK_LINK = "astt-mark0"


def ctl(
    host: SingleHost, *argv: str, extra_config: Path | None = None
) -> subprocess.CompletedProcess[str]:
    configs = ["--config-file", str(host.config_file)]
    if extra_config is not None:
        configs += ["--config-file", str(extra_config)]
    return subprocess.run(
        [ASTARA_CTL, "--single-host", "--state-dir", str(host.state_dir), *configs, *argv],
        capture_output=True, text=True, timeout=CLI_TIMEOUT_S, check=False,
    )  # fmt: skip


def ctl_json(host: SingleHost, *argv: str) -> Any:
    result = ctl(host, *argv, "-f", "json")
    assert result.returncode == 0, f"astara-ctl {' '.join(argv)}: {result.stderr}"
    return json.loads(result.stdout)


def show(host: SingleHost, resource_id: str) -> dict[str, Any]:
    shown: dict[str, Any] = ctl_json(host, "resource", "show", resource_id)
    return shown


def appliance_routes(host: SingleHost, router_id: str) -> set[str]:
    """The destinations in the appliance's main routing table, read in its namespace."""
    out = subprocess.run(
        ["ip", "netns", "exec", f"ak-router-{router_id}", "ip", "-j", "-4", "route", "show"],
        capture_output=True, text=True, check=True, timeout=CLI_TIMEOUT_S,
    ).stdout  # fmt: skip
    return {route["dst"] for route in json.loads(out or "[]")}


def metric_total(host: SingleHost, sample_name: str, **labels: str) -> float:
    """The sum of ``sample_name``'s samples carrying ``labels``, scraped from /metrics."""
    token = (host.state_dir / "control-api.token").read_text().strip()
    response = httpx.get(f"http://127.0.0.1:{host.control_port}/metrics",
                         headers={TOKEN_HEADER: token}, timeout=30)  # fmt: skip
    response.raise_for_status()
    total = 0.0
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == sample_name and labels.items() <= sample.labels.items():
                total += sample.value
    return total


def mark_appliance(router_id: str) -> None:
    """Leave a test-owned veth pair in the appliance's namespace, which a new appliance lacks.

    (A veth pair, as this kernel has no dummy links; both ends die with the namespace.)
    """
    subprocess.run(["ip", "netns", "exec", f"ak-router-{router_id}", "ip", "link", "add",
                    MARK_LINK, "type", "veth", "peer", "name", f"{MARK_LINK}p"],
                   check=True, timeout=CLI_TIMEOUT_S)  # fmt: skip


def appliance_is_marked(router_id: str) -> bool | None:
    """Whether the appliance's namespace holds the mark; None while it does not exist."""
    result = subprocess.run(
        ["ip", "netns", "exec", f"ak-router-{router_id}", "ip", "link", "show", MARK_LINK],
        capture_output=True, text=True, timeout=CLI_TIMEOUT_S, check=False,
    )  # fmt: skip
    if "Cannot open network namespace" in result.stderr:
        return None
    return result.returncode == 0


def set_route(host: SingleHost, router_id: str, destination: str, nexthop: str) -> None:
    host.openstack_text("router", "set", "--route", f"destination={destination},gateway={nexthop}",
                        router_id)  # fmt: skip


def nexthop_in(topology: Topology) -> str:
    return str(ipaddress.ip_network(topology.private_subnet["cidr"])[5])


def wait_for(host: SingleHost, condition: Callable[[], bool], what: str) -> None:
    host.wait(condition, what, ROUTER_READY_TIMEOUT_S)


def test_a_debugged_router_ignores_events_and_manage_then_update_brings_it_back(
    single_host: SingleHost, topology: Topology
) -> None:
    router_id = topology.router["id"]
    nexthop = nexthop_in(topology)
    wait_for(single_host, lambda: show(single_host, router_id)["Instance"] == "configured",
             "the router configured")  # fmt: skip

    debugged = ctl_json(single_host, "router", "debug", router_id, "--reason", "astt maintenance")
    assert debugged["Command"] == "router-debug" and debugged["Scheduled"] >= 1
    assert "astt maintenance" in show(single_host, router_id)["Debug"]

    received = metric_total(single_host, "astara_events_received_total")
    set_route(single_host, router_id, "198.18.10.0/24", nexthop)
    wait_for(single_host,
             lambda: metric_total(single_host, "astara_events_received_total") > received,
             "the router's update notification to reach the orchestrator")  # fmt: skip
    time.sleep(IGNORED_EVENT_GRACE_S)
    assert "198.18.10.0/24" not in appliance_routes(single_host, router_id), (
        "a router in debug mode was acted on"
    )

    managed = ctl_json(single_host, "router", "manage", router_id)
    assert managed["Command"] == "router-manage"
    assert show(single_host, router_id)["Debug"] is None
    ctl_json(single_host, "router", "update", router_id)
    wait_for(single_host, lambda: "198.18.10.0/24" in appliance_routes(single_host, router_id),
             "the update to push the route once the router is managed")  # fmt: skip

    # Tenant-wide and global debug hold the router too, and release it.
    tenant_id = topology.router["project_id"]
    ctl_json(single_host, "tenant", "debug", tenant_id, "--reason", "astt tenant")
    assert "astt tenant" in show(single_host, router_id)["Debug"]
    ctl_json(single_host, "tenant", "manage", tenant_id)
    assert show(single_host, router_id)["Debug"] is None
    ctl_json(single_host, "global", "debug", "enable", "--reason", "astt global")
    assert "astt global" in show(single_host, router_id)["Debug"]
    ctl_json(single_host, "global", "debug", "disable")
    assert show(single_host, router_id)["Debug"] is None

    # The generic resource forms do the same as the router forms.
    ctl_json(single_host, "resource", "debug", router_id, "--reason", "astt resource")
    assert "astt resource" in show(single_host, router_id)["Debug"]
    ctl_json(single_host, "resource", "manage", router_id)
    assert show(single_host, router_id)["Debug"] is None
    configured_at = show(single_host, router_id)["Last configured at"]
    ctl_json(single_host, "resource", "update", router_id)
    wait_for(single_host,
             lambda: show(single_host, router_id)["Last configured at"] > configured_at,
             "the update to push the configuration again")  # fmt: skip

    # With every hold released, events act again.
    set_route(single_host, router_id, "198.18.11.0/24", nexthop)
    wait_for(single_host, lambda: "198.18.11.0/24" in appliance_routes(single_host, router_id),
             "a managed router to take the next change")  # fmt: skip


def test_poll_reaches_every_resource_and_the_metrics_count_it(
    single_host: SingleHost, topology: Topology
) -> None:
    listed = ctl_json(single_host, "resource", "list")
    ids = {row["ID"] for row in listed}
    assert topology.router["id"] in ids, listed
    row = next(row for row in listed if row["ID"] == topology.router["id"])
    assert row["Tenant"] == topology.router["project_id"]
    assert row["Driver"] == "router" and row["Worker"] and row["Host"]
    only_ours = ctl_json(single_host, "resource", "list", "--tenant-id",
                         topology.router["project_id"])  # fmt: skip
    assert {r["ID"] for r in only_ours} == {
        r["ID"] for r in listed if r["Tenant"] == topology.router["project_id"]
    }

    polls = metric_total(single_host, "astara_health_poll_seconds_count")
    polled = ctl_json(single_host, "poll")
    assert polled["Command"] == "poll" and polled["Scheduled"] >= 1
    def every_one_polled() -> bool:
        return metric_total(single_host, "astara_health_poll_seconds_count") >= polls + len(ids)

    wait_for(single_host, every_one_polled, "a health poll of every resource")

    workers = ctl_json(single_host, "workers", "debug")
    assert workers and all(worker["Error"] is None for worker in workers), workers
    assert sum(worker["Resources"] for worker in workers) == len(ids)

    reloaded = ctl_json(single_host, "config", "reload")
    assert reloaded["Command"] == "config-reload" and reloaded["Scheduled"] >= 1


def test_rebuild_replaces_the_appliance_and_ssh_reaches_its_management_address(
    single_host: SingleHost, topology: Topology
) -> None:
    router_id = topology.router["id"]
    mark_appliance(router_id)
    assert appliance_is_marked(router_id)
    rebuilds = metric_total(single_host, "astara_instance_rebuilds_total")

    rebuilt = ctl_json(single_host, "resource", "rebuild", router_id, "--reason", "astt rebuild")
    assert rebuilt["Command"] == "resource-rebuild"
    wait_for(single_host, lambda: appliance_is_marked(router_id) is False,
             "a new appliance in place of the marked one")  # fmt: skip
    single_host.wait(lambda: show(single_host, router_id)["Instance"] == "configured",
                     "the new appliance configured", BOOT_TIMEOUT_S)  # fmt: skip
    assert metric_total(single_host, "astara_instance_rebuilds_total") == rebuilds + 1
    single_host.wait_router_active(router_id)

    mark_appliance(router_id)
    ctl_json(single_host, "router", "rebuild", router_id)
    wait_for(single_host, lambda: appliance_is_marked(router_id) is False,
             "the router form of rebuild to replace the appliance too")  # fmt: skip
    single_host.wait(lambda: show(single_host, router_id)["Instance"] == "configured",
                     "the second new appliance configured", BOOT_TIMEOUT_S)  # fmt: skip

    management = single_host.openstack("port", "list", "--name", f"ASTARA:MGT:{router_id}")
    address = management[0]["Fixed IP Addresses"][0]["ip_address"]
    result = ctl(single_host, "ssh", router_id, "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
                 "-o", "StrictHostKeyChecking=no", "true")  # fmt: skip
    # The netns appliances run no sshd: the appliance's kernel refusing port 22 at the
    # management address proves ssh went there, over the management network.
    assert result.returncode == 255, result.stderr
    assert address in result.stderr and "refused" in result.stderr, result.stderr


def test_errors_are_one_line_and_a_non_zero_exit(single_host: SingleHost, tmp_path: Path) -> None:
    def one_line_failure(result: subprocess.CompletedProcess[str]) -> str:
        assert result.returncode != 0
        assert "Traceback" not in result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        return lines[0]

    missing = "00000000-0000-4000-8000-000000000000"
    assert missing in one_line_failure(ctl(single_host, "resource", "show", missing))
    assert "wildcard" in one_line_failure(ctl(single_host, "resource", "debug", "*"))
    assert "no management port" in one_line_failure(ctl(single_host, "ssh", missing))

    wrong = tmp_path / "wrong.token"
    wrong.write_text("0" * 64)
    wrong.chmod(0o600)
    override = tmp_path / "wrong-token.ini"
    override.write_text(f"[DEFAULT]\napi_token_file = {wrong}\n")
    assert "401" in one_line_failure(ctl(single_host, "poll", extra_config=override))

    stopped = tmp_path / "stopped.ini"
    stopped.write_text("[DEFAULT]\napi_port = 9\n")
    assert "cannot reach" in one_line_failure(ctl(single_host, "poll", extra_config=stopped))


def test_debug_router_runs_one_update_of_a_debugged_router_and_refuses_a_managed_one(
    single_host: SingleHost, topology: Topology
) -> None:
    router_id = topology.router["id"]
    installation = ["--single-host", "--state-dir", str(single_host.state_dir),
                    "--config-file", str(single_host.config_file)]  # fmt: skip
    debug_router = [str(Path(sys.executable).parent / "astara-debug-router"), *installation,
                    "--router-id", router_id]  # fmt: skip

    refused = subprocess.run(debug_router, capture_output=True, text=True,
                             timeout=CLI_TIMEOUT_S, check=False)  # fmt: skip
    assert refused.returncode == 2, refused.stderr
    assert "not in debug mode" in refused.stderr and "router debug" in refused.stderr

    ctl_json(single_host, "router", "debug", router_id, "--reason", "astt stepping")
    stepped = subprocess.run(debug_router, capture_output=True, text=True,
                             timeout=ROUTER_READY_TIMEOUT_S, check=False)  # fmt: skip
    assert stepped.returncode == 0, stepped.stderr
    lines = stepped.stdout.splitlines()
    assert "(astt stepping)" in lines[0] and lines[0].endswith("one UPDATE"), stepped.stdout
    states = [line.split()[0] for line in lines[1:]]
    assert len(states) >= 2, stepped.stdout
    assert lines[-1].split()[-1] == "CONFIGURED", stepped.stdout


def test_browse_lists_filters_and_rebuilds_through_the_real_control_api(
    single_host: SingleHost, topology: Topology
) -> None:
    """The console, driven headless by textual's pilot, on the client astara-ctl builds."""
    router_id = topology.router["id"]
    token = (single_host.state_dir / "control-api.token").read_text().strip()
    rebuilds = metric_total(single_host, "astara_instance_rebuilds_total")
    shown: list[str] = []

    async def scenario() -> None:
        with ControlClient(f"http://127.0.0.1:{single_host.control_port}", token) as client:
            app = BrowseApp(client, refresh_s=0.2)
            async with app.run_test(size=(200, 30)) as pilot:
                table = app.query_one("#resources", DataTable)
                deadline = time.monotonic() + CLI_TIMEOUT_S
                while router_id not in {str(row.key.value) for row in table.ordered_rows}:
                    assert time.monotonic() < deadline, "the router never showed up"
                    await pilot.pause(0.1)
                await pilot.press("slash", *router_id[:12], "escape")
                await pilot.pause(0.5)
                shown.extend(str(row.key.value) for row in table.ordered_rows)
                await pilot.press("r")
                await pilot.pause(0.5)

    asyncio.run(scenario())
    assert shown == [router_id], "the filter leaves exactly the router it names"
    wait_for(single_host,
             lambda: metric_total(single_host, "astara_instance_rebuilds_total") > rebuilds,
             "the rebuild the console sent")  # fmt: skip
    single_host.wait_router_active(router_id)
