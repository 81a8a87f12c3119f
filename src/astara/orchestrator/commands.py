"""Operator commands: their names, their payloads, and the event each becomes.

astara-ctl and the control API send a command as an ``astara.command``
notification whose payload names the command and its arguments. The
orchestrator's listener turns that payload into one :class:`Event`. Both sides
use this module, so a payload the CLI builds is by construction one the
orchestrator accepts, and a payload the orchestrator refuses is refused in the
operator's terminal before it is sent.

What the original got wrong and this module fixes:

- ``resource-*`` commands put the resource id in ``Resource.id`` (the original
  put ``payload['router_id']`` there, which resource commands never carry), so
  the worker can find the resource, and the ``*`` / ``error`` wildcards work
  for update and rebuild as they did for the older ``router-*`` commands.
- A rebuild's image is always ``body['image_uuid']``, whichever key the sender
  used, so the state machine finds it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from astara.db.models import ID_LENGTH
from astara.drivers.router_events import DRIVER as ROUTER_DRIVER
from astara.orchestrator.event import ALL, WILDCARDS, Crud, Event, Resource

#: The notification event type every command travels as.
COMMAND_EVENT_TYPE = "astara.command"


class Command(StrEnum):
    """What an operator can ask of the orchestrators."""

    WORKERS_DEBUG = "workers-debug"
    CONFIG_RELOAD = "config-reload"
    POLL = "poll"
    GLOBAL_DEBUG = "global-debug"
    TENANT_DEBUG = "tenant-debug"
    TENANT_MANAGE = "tenant-manage"
    RESOURCE_DEBUG = "resource-debug"
    RESOURCE_MANAGE = "resource-manage"
    RESOURCE_UPDATE = "resource-update"
    RESOURCE_REBUILD = "resource-rebuild"
    # Router-only forms, kept because operators' scripts still use them.
    ROUTER_DEBUG = "router-debug"
    ROUTER_MANAGE = "router-manage"
    ROUTER_UPDATE = "router-update"
    ROUTER_REBUILD = "router-rebuild"


class PayloadKey(StrEnum):
    """The keys of a command payload (and of the event body it becomes)."""

    COMMAND = "command"
    RESOURCE_ID = "resource_id"
    ROUTER_ID = "router_id"
    TENANT_ID = "tenant_id"
    REASON = "reason"
    ENABLED = "enabled"
    IMAGE_UUID = "image_uuid"
    # Where older astara-ctl versions put a rebuild's image; read, never written.
    RESOURCE_IMAGE_UUID = "resource_image_uuid"
    ROUTER_IMAGE_UUID = "router_image_uuid"


_IMAGE_KEYS = (PayloadKey.IMAGE_UUID, PayloadKey.RESOURCE_IMAGE_UUID, PayloadKey.ROUTER_IMAGE_UUID)


class CommandError(ValueError):
    """A command payload that cannot be carried out; the message says why."""


@dataclass(frozen=True, slots=True)
class _Spec:
    """How one command reads its payload and what it addresses.

    ``target`` is the argument naming what the command acts on (None: the
    whole cluster); ``driver`` is the driver of the resource it names.
    """

    crud: Crud = Crud.COMMAND
    target: PayloadKey | None = None
    driver: str = ALL
    refuses_wildcard: bool = False
    required: tuple[PayloadKey, ...] = ()
    optional: tuple[PayloadKey, ...] = ()

    @property
    def arguments(self) -> frozenset[str]:
        keys = (*self.required, *self.optional)
        return frozenset(key.value for key in (*keys, self.target) if key is not None)


_REASON = (PayloadKey.REASON,)
_SCOPED = (PayloadKey.REASON, PayloadKey.TENANT_ID)
_SCOPED_REBUILD = (*_SCOPED, PayloadKey.IMAGE_UUID)
_RESOURCE = PayloadKey.RESOURCE_ID
_ROUTER = PayloadKey.ROUTER_ID

_SPECS: dict[str, _Spec] = {
    Command.WORKERS_DEBUG: _Spec(),
    Command.CONFIG_RELOAD: _Spec(),
    Command.POLL: _Spec(crud=Crud.POLL),
    Command.GLOBAL_DEBUG: _Spec(required=(PayloadKey.ENABLED,), optional=_REASON),
    Command.TENANT_DEBUG: _Spec(
        target=PayloadKey.TENANT_ID, refuses_wildcard=True, optional=_REASON
    ),
    Command.TENANT_MANAGE: _Spec(target=PayloadKey.TENANT_ID, optional=_REASON),
    Command.RESOURCE_DEBUG: _Spec(target=_RESOURCE, refuses_wildcard=True, optional=_SCOPED),
    Command.RESOURCE_MANAGE: _Spec(target=_RESOURCE, optional=_SCOPED),
    Command.RESOURCE_UPDATE: _Spec(target=_RESOURCE, optional=_SCOPED),
    Command.RESOURCE_REBUILD: _Spec(target=_RESOURCE, optional=_SCOPED_REBUILD),
    Command.ROUTER_DEBUG: _Spec(
        target=_ROUTER, driver=ROUTER_DRIVER, refuses_wildcard=True, optional=_SCOPED
    ),
    Command.ROUTER_MANAGE: _Spec(target=_ROUTER, driver=ROUTER_DRIVER, optional=_SCOPED),
    Command.ROUTER_UPDATE: _Spec(target=_ROUTER, driver=ROUTER_DRIVER, optional=_SCOPED),
    Command.ROUTER_REBUILD: _Spec(target=_ROUTER, driver=ROUTER_DRIVER, optional=_SCOPED_REBUILD),
}

_EVERYTHING = Resource(driver=ALL, id=ALL, tenant_id=ALL)


def command_event(payload: object) -> Event:
    """Turn an ``astara.command`` payload into the event the workers act on.

    The body holds the command and its arguments in their one accepted
    spelling; keys the command does not take are left out. Raises
    :class:`CommandError` when the payload cannot be acted on.
    """
    if not isinstance(payload, Mapping):
        raise CommandError(f"payload must be a mapping, not {type(payload).__name__}")
    name = payload.get(PayloadKey.COMMAND)
    if not isinstance(name, str) or name not in _SPECS:
        raise CommandError(f"unknown command {name!r}")
    spec = _SPECS[name]
    body: dict[str, Any] = {PayloadKey.COMMAND.value: str(name)}
    for key in spec.required:
        body[key.value] = _READERS[key](payload, name)
    for key in spec.optional:
        value = _READERS[key](payload, name)
        if value is not None:
            body[key.value] = value
    if spec.target is None:
        return Event(_EVERYTHING, spec.crud, body)
    target = _read_target(payload, name, spec.target, refuses_wildcard=spec.refuses_wildcard)
    body[spec.target.value] = target
    if spec.target is PayloadKey.TENANT_ID:
        resource = Resource(driver=ALL, id=ALL, tenant_id=target)
    else:
        tenant_id = body.get(PayloadKey.TENANT_ID.value, ALL)
        resource = Resource(driver=spec.driver, id=target, tenant_id=tenant_id)
    return Event(resource, spec.crud, body)


def command_payload(command: Command | str, **arguments: Any) -> dict[str, Any]:
    """Build the payload that asks for ``command``, as astara-ctl sends it.

    Raises :class:`CommandError` for an unknown command, an argument the
    command does not take, or one the orchestrator would refuse, so the
    operator learns of it before anything is sent.
    """
    spec = _SPECS.get(command)
    if spec is None:
        raise CommandError(f"unknown command {command!r}")
    unexpected = arguments.keys() - spec.arguments
    if unexpected:
        raise CommandError(f"{command} does not take {', '.join(sorted(unexpected))}")
    event = command_event({PayloadKey.COMMAND.value: str(command), **arguments})
    return dict(event.body)


def _read_target(
    payload: Mapping[Any, Any], command: str, key: PayloadKey, *, refuses_wildcard: bool
) -> str:
    """Read the id the command acts on; resource and router ids are lower-case UUIDs."""
    value = _required_text(payload, command, key)
    if key is not PayloadKey.TENANT_ID:
        value = value.lower()
    if refuses_wildcard and value in WILDCARDS:
        raise CommandError(f"{command} needs one {key}, not the wildcard {value!r}")
    if len(value) > ID_LENGTH:
        # The debug flags are kept in the database, whose id columns hold this many.
        raise CommandError(f"{command}: {key} is longer than {ID_LENGTH} characters")
    return value


def _required_text(payload: Mapping[Any, Any], command: str, key: PayloadKey) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not value.strip():
        raise CommandError(f"{command}: {key} must be a non-empty string, not {value!r}")
    return value.strip()


def _optional_text(payload: Mapping[Any, Any], command: str, key: PayloadKey) -> str | None:
    """Read a text argument that may be left out (absent or None)."""
    if payload.get(key) is None:
        return None
    return _required_text(payload, command, key)


def _read_reason(payload: Mapping[Any, Any], command: str) -> str:
    """The operator's note explaining the command; empty when none was given."""
    value = payload.get(PayloadKey.REASON)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise CommandError(f"{command}: reason must be a string, not {value!r}")
    return value


def _read_tenant(payload: Mapping[Any, Any], command: str) -> str | None:
    """The tenant owning the named resource, when the sender knows it."""
    return _optional_text(payload, command, PayloadKey.TENANT_ID)


def _read_enabled(payload: Mapping[Any, Any], command: str) -> bool:
    """Whether global debug is switched on; the CLI sends 1 or 0."""
    value = payload.get(PayloadKey.ENABLED)
    if not isinstance(value, int) or value not in (0, 1):
        raise CommandError(f"{command}: enabled must be 1 or 0, not {value!r}")
    return bool(value)


def _read_image(payload: Mapping[Any, Any], command: str) -> str | None:
    """The image a rebuild boots from, whichever key the sender put it under."""
    for key in _IMAGE_KEYS:
        value = _optional_text(payload, command, key)
        if value is not None:
            return value
    return None


_READERS = {
    PayloadKey.REASON: _read_reason,
    PayloadKey.TENANT_ID: _read_tenant,
    PayloadKey.ENABLED: _read_enabled,
    PayloadKey.IMAGE_UUID: _read_image,
}
