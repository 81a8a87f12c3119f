"""The astara-ctl commands that go through the orchestrator's control API.

Each command line is the original's (``poll``, ``resource rebuild <id>``,
``global debug enable`` ...) and becomes one ``astara.command`` payload sent
with :class:`~astara.cli.control_client.ControlClient`, so the terminal, the
control API and the bus accept exactly the same commands. What the
orchestrator made of a command (its host, the events it became) is the
output, in any of cliff's formats.
"""

from __future__ import annotations

import argparse
from typing import Any, Protocol, cast

from cliff.command import Command as CliffCommand
from cliff.lister import Lister
from cliff.show import ShowOne

from astara.cli.control_client import ControlClient
from astara.orchestrator.commands import Command, PayloadKey

ACCEPTED_COLUMNS = ("Command", "Host", "Scheduled")
RESOURCE_COLUMNS = (
    "ID", "Driver", "Tenant", "State", "Instance", "Queue", "Debug",
    "Last error", "Last error at", "Last configured at", "Worker", "Host",
)  # fmt: skip
_RESOURCE_FIELDS = (
    "id", "driver", "tenant_id", "state", "instance_state", "queue_depth", "debug",
    "last_error", "last_error_at", "last_configured_at", "worker", "host",
)  # fmt: skip
WORKER_COLUMNS = (
    "Worker", "PID", "Resources", "Tenants", "Threads busy", "Queued", "Cluster members", "Error",
)  # fmt: skip


class ControlApp(Protocol):
    """astara-ctl's app, which builds the control client from the configuration."""

    def control(self) -> ControlClient: ...


def control_of(command: CliffCommand) -> ControlClient:
    return cast(ControlApp, command.app).control()


def resource_row(resource: dict[str, Any]) -> tuple[Any, ...]:
    """One resource of the control API in RESOURCE_COLUMNS order."""
    return tuple(resource.get(name) for name in _RESOURCE_FIELDS)


class _SendCommand(ShowOne):
    """Sends ``command`` with the arguments :meth:`arguments` reads from the command line."""

    command: Command

    def arguments(self, parsed_args: argparse.Namespace) -> dict[str, Any]:
        return {}

    def take_action(
        self, parsed_args: argparse.Namespace
    ) -> tuple[tuple[str, ...], tuple[Any, ...]]:
        arguments = {key: value for key, value in self.arguments(parsed_args).items()
                     if value is not None}  # fmt: skip
        answer = control_of(self).command(self.command.value, **arguments)
        return ACCEPTED_COLUMNS, (answer["command"], answer["host"], answer["scheduled"])


class _WithReason(_SendCommand):
    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("--reason", help="why (recorded with the debug flag and logged)")
        return parser

    def arguments(self, parsed_args: argparse.Namespace) -> dict[str, Any]:
        return {PayloadKey.REASON.value: parsed_args.reason}


class _GlobalDebugCommand(_WithReason):

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("status", choices=("enable", "disable"))
        return parser

    def arguments(self, parsed_args: argparse.Namespace) -> dict[str, Any]:
        enabled = 1 if parsed_args.status == "enable" else 0
        return {**super().arguments(parsed_args), PayloadKey.ENABLED.value: enabled}


class _TenantCommand(_WithReason):
    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("tenant_id", metavar="<tenant id>")
        return parser

    def arguments(self, parsed_args: argparse.Namespace) -> dict[str, Any]:
        return {**super().arguments(parsed_args), PayloadKey.TENANT_ID.value: parsed_args.tenant_id}


class _TargetCommand(_WithReason):
    """A command on one resource (or ``*``/``error`` where the command allows it)."""

    target = PayloadKey.RESOURCE_ID

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("target", metavar=f"<{self.target.value.replace('_', ' ')}>")
        parser.add_argument("--tenant-id", help="the resource's tenant (narrows a wildcard)")
        return parser

    def arguments(self, parsed_args: argparse.Namespace) -> dict[str, Any]:
        return {
            **super().arguments(parsed_args),
            self.target.value: parsed_args.target,
            PayloadKey.TENANT_ID.value: parsed_args.tenant_id,
        }


class _RebuildCommand(_TargetCommand):
    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("--image-uuid", help="boot the new appliance from this image")
        return parser

    def arguments(self, parsed_args: argparse.Namespace) -> dict[str, Any]:
        return {
            **super().arguments(parsed_args),
            PayloadKey.IMAGE_UUID.value: parsed_args.image_uuid,
        }


class WorkersDebug(Lister):
    """Show each worker's resources, threads and queue (each worker also logs its report)."""

    def take_action(self, parsed_args: argparse.Namespace) -> tuple[tuple[str, ...], list[Any]]:
        reports = control_of(self).workers_debug()
        return WORKER_COLUMNS, [_worker_row(report) for report in reports]


def _worker_row(report: dict[str, Any]) -> tuple[Any, ...]:
    if "error" in report:
        return (report.get("worker"), None, None, None, None, None, None, report["error"])
    threads = report.get("threads", [])
    busy = sum(1 for thread in threads if str(thread.get("doing", "")).startswith("updating"))
    return (
        report["worker"], report.get("pid"), len(report.get("resources", [])),
        report.get("tenants"), f"{busy}/{len(threads)}", report.get("work_queue_depth"),
        _members(report.get("cluster", {})), None,
    )  # fmt: skip


def _members(cluster: dict[str, Any]) -> str:
    """``-`` when not clustered, else the members (``?`` before the worker heard of any)."""
    if not cluster.get("clustered"):
        return "-"
    members = cluster.get("members")
    return "?" if members is None else ", ".join(members)


class ResourceList(Lister):
    """List every resource the orchestrator drives, with its state and its appliance's."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("--driver", help="only this driver's resources (router, ...)")
        parser.add_argument("--tenant-id", help="only this tenant's resources")
        parser.add_argument("--state", help="only resources in this state or instance state")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> tuple[tuple[str, ...], list[Any]]:
        wanted = {"driver": parsed_args.driver, "tenant_id": parsed_args.tenant_id,
                  "state": parsed_args.state}  # fmt: skip
        listed = control_of(self).resources(**{k: v for k, v in wanted.items() if v})
        return RESOURCE_COLUMNS, [resource_row(resource) for resource in listed]


class ResourceShow(ShowOne):
    """Show one resource: its state, its appliance's, its last error and configuration."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("resource_id", metavar="<resource id>")
        return parser

    def take_action(
        self, parsed_args: argparse.Namespace
    ) -> tuple[tuple[str, ...], tuple[Any, ...]]:
        return RESOURCE_COLUMNS, resource_row(control_of(self).resource(parsed_args.resource_id))


def _sender(
    base: type[_SendCommand], command: Command, help_text: str, **attributes: Any
) -> type[_SendCommand]:
    """A command class sending ``command``; cliff shows its docstring as the help."""
    name = "".join(part.title() for part in command.value.split("-"))
    return type(name, (base,), {"__doc__": help_text, "command": command, **attributes})


_ROUTER = {"target": PayloadKey.ROUTER_ID}
COMMANDS: dict[str, type[CliffCommand]] = {
    "poll": _sender(_SendCommand, Command.POLL,
                    "Poll every resource now: each appliance is checked at once."),
    "config reload": _sender(_SendCommand, Command.CONFIG_RELOAD,
                             "Make every worker read its configuration files again."),
    "workers debug": WorkersDebug,
    "global debug": _sender(_GlobalDebugCommand, Command.GLOBAL_DEBUG,
                            "Enable or disable global debug mode (while enabled, no resource "
                            "is acted on)."),
    "tenant debug": _sender(_TenantCommand, Command.TENANT_DEBUG,
                            "Put every resource of a tenant in debug mode: the orchestrator "
                            "leaves them alone."),
    "tenant manage": _sender(_TenantCommand, Command.TENANT_MANAGE,
                             "Take a tenant out of debug mode: its resources are managed again."),
    "resource debug": _sender(_TargetCommand, Command.RESOURCE_DEBUG,
                              "Put one resource in debug mode: events for it are ignored until "
                              "it is managed."),
    "resource manage": _sender(_TargetCommand, Command.RESOURCE_MANAGE,
                               "Take a resource out of debug mode ('*': every resource, 'error': "
                               "those in error)."),
    "resource update": _sender(_TargetCommand, Command.RESOURCE_UPDATE,
                               "Push a resource's configuration to its appliance again."),
    "resource rebuild": _sender(_RebuildCommand, Command.RESOURCE_REBUILD,
                                "Replace a resource's appliance with a new one."),
    "resource list": ResourceList,
    "resource show": ResourceShow,
    "router debug": _sender(_TargetCommand, Command.ROUTER_DEBUG,
                            "Put one router in debug mode (the router form of 'resource debug').",
                            **_ROUTER),
    "router manage": _sender(_TargetCommand, Command.ROUTER_MANAGE,
                             "Take a router out of debug mode (the router form of 'resource "
                             "manage').", **_ROUTER),
    "router update": _sender(_TargetCommand, Command.ROUTER_UPDATE,
                             "Push a router's configuration again (the router form of 'resource "
                             "update').", **_ROUTER),
    "router rebuild": _sender(_RebuildCommand, Command.ROUTER_REBUILD,
                              "Replace a router's appliance (the router form of 'resource "
                              "rebuild').", **_ROUTER),
}  # fmt: skip
