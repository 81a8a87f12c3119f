"""The states an appliance (the instance behind a resource) can be in."""

from enum import StrEnum


class InstanceState(StrEnum):
    """Where a resource's appliance stands, as the state machine sees it.

    DOWN: no appliance; BOOTING: booted, not answering yet; UP: answering, not
    configured; CONFIGURED: serving the current config; RESTART: must be
    stopped and booted again; REPLUG: its ports differ from the resource's;
    GONE: the resource no longer exists in the network model; ERROR: too many
    failed boots; DEGRADED: an HA pair with a member missing.
    """

    DOWN = "down"
    BOOTING = "booting"
    UP = "up"
    CONFIGURED = "configured"
    RESTART = "restart"
    REPLUG = "replug"
    GONE = "gone"
    ERROR = "error"
    DEGRADED = "degraded"
