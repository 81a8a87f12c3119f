"""astara-ctl's command lines become the right control API requests, and its output the answers.

The orchestrator end is a recorder here (the whole path, through the real
control API into a running orchestrator, is tests/e2e/singlehost/test_ctl_commands.py);
what is checked is the mapping from the original's command lines to
``astara.command`` payloads, which the orchestrator would act on, and the
one-line errors.
"""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from typing import Any, cast

import pytest

from astara.cli.control_client import ControlClient, ControlClientError
from astara.cli.ctl import AstaraCtl
from astara.cli.ssh import NoManagementAddress, management_address, ssh_argv
from astara.orchestrator.commands import command_event

ROUTER = "7f0e6a2c-2b48-4f4c-9f3e-0c4b7b1d2a11"


class RecordingControl:
    """Answers as the control API does and keeps every command's payload."""

    def __init__(self, refuse: str | None = None) -> None:
        self.sent: list[dict[str, Any]] = []
        self.refuse = refuse
        self.resource_filters: dict[str, str] = {}

    def command(self, command: str, **arguments: Any) -> dict[str, Any]:
        if self.refuse:
            raise ControlClientError(self.refuse)
        self.sent.append({"command": command, **arguments})
        return {"command": command, "host": "astt-host", "scheduled": 2}

    def resources(self, **filters: str) -> list[dict[str, Any]]:
        self.resource_filters = filters
        return [self.resource(ROUTER)]

    def resource(self, resource_id: str) -> dict[str, Any]:
        return {"driver": "router", "id": resource_id, "tenant_id": "t1", "state": "CalcAction",
                "instance_state": "configured", "queue_depth": 0, "debug": None,
                "last_error": None, "last_error_at": None, "last_configured_at": 1.5,
                "worker": "p00", "host": "astt-host"}  # fmt: skip

    def workers_debug(self) -> list[dict[str, Any]]:
        return [
            {"worker": "p00", "pid": 10, "resources": [{}, {}], "tenants": 1,
             "threads": [{"doing": "updating x"}, {"doing": "idle"}], "work_queue_depth": 3,
             "cluster": {"clustered": True, "host": "a", "members": ["a", "b"]}},
            {"worker": "p01", "error": "did not answer in 10 s"},
        ]  # fmt: skip

    def close(self) -> None:
        pass


def run(control: RecordingControl, *argv: str) -> tuple[int, str, str]:
    class App(AstaraCtl):
        def control(self) -> ControlClient:
            return cast(ControlClient, control)

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        app = App()
        app.stdout, app.stderr = out, err
        status = app.run(list(argv))
    return status, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    ("argv", "payload"),
    [
        (["poll"], {"command": "poll"}),
        (["config", "reload"], {"command": "config-reload"}),
        (["global", "debug", "enable", "--reason", "upgrade"],
         {"command": "global-debug", "enabled": 1, "reason": "upgrade"}),
        (["global", "debug", "disable"], {"command": "global-debug", "enabled": 0}),
        (["tenant", "debug", "t1", "--reason", "r"],
         {"command": "tenant-debug", "tenant_id": "t1", "reason": "r"}),
        (["tenant", "manage", "t1"], {"command": "tenant-manage", "tenant_id": "t1"}),
        (["resource", "debug", ROUTER, "--reason", "r"],
         {"command": "resource-debug", "resource_id": ROUTER, "reason": "r"}),
        (["resource", "manage", "error"], {"command": "resource-manage", "resource_id": "error"}),
        (["resource", "update", ROUTER, "--tenant-id", "t1"],
         {"command": "resource-update", "resource_id": ROUTER, "tenant_id": "t1"}),
        (["resource", "rebuild", ROUTER, "--image-uuid", "img"],
         {"command": "resource-rebuild", "resource_id": ROUTER, "image_uuid": "img"}),
        (["router", "debug", ROUTER], {"command": "router-debug", "router_id": ROUTER}),
        (["router", "manage", ROUTER], {"command": "router-manage", "router_id": ROUTER}),
        (["router", "update", ROUTER], {"command": "router-update", "router_id": ROUTER}),
        (["router", "rebuild", "*", "--reason", "new image"],
         {"command": "router-rebuild", "router_id": "*", "reason": "new image"}),
    ],
)  # fmt: skip
def test_each_command_line_sends_the_payload_the_orchestrator_acts_on(
    argv: list[str], payload: dict[str, Any]
) -> None:
    control = RecordingControl()
    status, out, err = run(control, *argv, "-f", "json")

    assert status == 0, err
    assert control.sent == [payload]
    command_event(payload)  # the orchestrator accepts it as it is
    assert json.loads(out) == {"Command": payload["command"], "Host": "astt-host", "Scheduled": 2}


def test_a_refused_command_is_one_line_and_exit_1() -> None:
    control = RecordingControl(refuse="the control API refused (401): bad token")
    status, out, err = run(control, "poll")

    assert status == 1
    assert out == ""
    assert err.strip().splitlines() == [
        "astara-ctl: ERROR: the control API refused (401): bad token"
    ]


def test_only_rebuild_takes_an_image(capsys: pytest.CaptureFixture[str]) -> None:
    control = RecordingControl()
    with pytest.raises(SystemExit) as exited:  # argparse's usage error, exit 2
        run(control, "resource", "update", ROUTER, "--image-uuid", "x")
    assert exited.value.code == 2
    assert control.sent == []


def test_resource_list_passes_the_filters_and_show_lists_every_field() -> None:
    control = RecordingControl()
    status, out, _ = run(control, "resource", "list", "--driver", "router", "--state", "up",
                         "-f", "json")  # fmt: skip
    assert status == 0
    assert control.resource_filters == {"driver": "router", "state": "up"}
    [row] = json.loads(out)
    assert (
        row["ID"] == ROUTER and row["Instance"] == "configured" and row["Last configured at"] == 1.5
    )

    status, out, _ = run(control, "resource", "show", ROUTER, "-f", "json")
    shown = json.loads(out)
    assert shown["Worker"] == "p00" and shown["Host"] == "astt-host" and shown["Debug"] is None


def test_workers_debug_shows_each_worker_and_the_silent_ones() -> None:
    status, out, _ = run(RecordingControl(), "workers", "debug", "-f", "json")
    assert status == 0
    first, silent = json.loads(out)
    assert first["Resources"] == 2 and first["Threads busy"] == "1/2" and first["Queued"] == 3
    assert first["Cluster members"] == "a, b"
    assert silent["Worker"] == "p01" and silent["Error"] == "did not answer in 10 s"


class PortsModel:
    """A network model's list_ports over a fixed set of named ports."""

    def __init__(self, ports: dict[str, list[str]]) -> None:
        self.ports = ports
        self.asked: list[dict[str, Any]] = []

    def list_ports(self, **filters: Any) -> list[Any]:
        self.asked.append(filters)

        class Port:
            def __init__(self, addresses: list[str]) -> None:
                self.addresses = addresses

        return [Port(self.ports[filters["name"]])] if filters["name"] in self.ports else []


def test_ssh_finds_the_management_address_of_the_member_asked_for() -> None:
    model = PortsModel(
        {f"ASTARA:MGT:{ROUTER}": ["fdca::5"], f"ASTARA:HA1:MGT:{ROUTER}": ["fdca::6"]}
    )
    assert management_address(model, ROUTER.upper()) == "fdca::5"
    assert management_address(model, ROUTER, member=1) == "fdca::6"
    with pytest.raises(NoManagementAddress, match="no management port"):
        management_address(model, "00000000-0000-4000-8000-000000000000")


def test_ssh_puts_options_before_the_destination_and_the_command_after() -> None:
    given = ["--", "-i", "key", "-o", "BatchMode=yes", "-v", "uptime", "-a"]
    assert ssh_argv("fdca::5", given) == [
        "ssh", "-i", "key", "-o", "BatchMode=yes", "-v", "astara@fdca::5", "uptime", "-a",
    ]  # fmt: skip
    assert ssh_argv("fdca::5", []) == ["ssh", "astara@fdca::5"]
