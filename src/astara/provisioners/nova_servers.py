"""Reading Nova's view of a server: its status, its age, and finding it by name.

Nova has many more server statuses than the instance manager needs. What
matters there is whether the appliance may soon answer (BUILDING: give it its
boot timeout), should be answering now (ACTIVE: its health probe decides), or
cannot serve until someone acts (ERROR: rebuilding it is the cure). Statuses
Nova may add later count as ACTIVE, so an unknown word never destroys an
appliance that answers.
"""

from __future__ import annotations

from datetime import UTC, datetime

from astara.provisioners.base import InstanceStatus, is_member_of

#: Nova statuses of servers that are gone (only visible when asked for deleted servers).
_GONE = frozenset({"DELETED", "SOFT_DELETED"})

_STATUSES = {
    # Nova is (re)starting the guest: the agent cannot answer yet.
    "BUILD": InstanceStatus.BUILDING,
    "REBUILD": InstanceStatus.BUILDING,
    "REBOOT": InstanceStatus.BUILDING,
    "HARD_REBOOT": InstanceStatus.BUILDING,
    # The guest stays down until an operator acts: replacing it is the cure.
    "ERROR": InstanceStatus.ERROR,
    "SHUTOFF": InstanceStatus.ERROR,
    "SUSPENDED": InstanceStatus.ERROR,
    "PAUSED": InstanceStatus.ERROR,
    "SHELVED": InstanceStatus.ERROR,
    "SHELVED_OFFLOADED": InstanceStatus.ERROR,
    "RESCUE": InstanceStatus.ERROR,
}

#: The task state of a server whose deletion Nova has accepted but not finished.
DELETING = "deleting"

#: Characters that mean something in a regular expression (Python's, MySQL's or PostgreSQL's).
_REGEX_SPECIAL = frozenset(".^$*+?{}[]\\|()")


def instance_status(nova_status: str | None) -> InstanceStatus | None:
    """Our status for Nova's, or None for a server that is deleted."""
    status = (nova_status or "").upper()
    if status in _GONE:
        return None
    return _STATUSES.get(status, InstanceStatus.ACTIVE)


def created_epoch(created: str | None) -> float:
    """Nova's ``created`` timestamp (ISO 8601, UTC) as epoch seconds; 0 when missing.

    0 makes a server of unknown age look old, so one stuck booting is not
    waited on for another full boot timeout.
    """
    if not created:
        return 0.0
    moment = datetime.fromisoformat(created)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def name_filter(prefix: str) -> str:
    """Nova's ``name`` query for servers whose name starts with ``prefix``.

    Nova matches ``name`` as a regular expression in its database, so every
    special character is escaped (a resource id is not trusted to be plain)
    and the match is anchored. Only the characters that are special are
    escaped: Python's ``re.escape`` also escapes ``-``, which not every
    database's regex dialect accepts. The result only narrows the listing;
    names are matched exactly again once listed.
    """
    escaped = "".join(f"\\{c}" if c in _REGEX_SPECIAL else c for c in prefix)
    return f"^{escaped}"


def possible_appliance_names(instance_name: str) -> list[str]:
    """The appliance names ``instance_name`` could be a member of.

    A member's name is its appliance's name, possibly with a suffix starting
    with ``-`` (see :func:`astara.provisioners.base.member_name`); each
    candidate is confirmed with :func:`is_member_of`, so looking an instance
    up among many known appliances costs a few set look-ups, not a scan.
    """
    cuts = [i for i, char in enumerate(instance_name) if char == "-"]
    candidates = [instance_name, *(instance_name[:i] for i in reversed(cuts))]
    return [name for name in candidates if is_member_of(instance_name, name)]
