"""oslo.messaging transports built from Astara's configuration.

The notification listener, the orchestrator's RPC server and astara-ctl's RPC
client all reach RabbitMQ at the address :func:`~astara.common.config.transport_url`
reads from ``orchestrator.ini`` (``transport_url`` or the install guide's
``[oslo_messaging_rabbit]`` options). This module is the one place that turns
that address into a transport, and into the ``host:port`` an operator may
read in an error message (never the credentials).
"""

from __future__ import annotations

import importlib

import oslo_messaging
from oslo_config import cfg

from astara.common.config_messaging import transport_url

#: Option groups oslo.messaging 18 registers on its global ``cfg.CONF`` only,
#: yet reads from the configuration of the transport: the RPC client's
#: metrics and the RPC tracing. With Astara's own ``ConfigOpts`` every RPC
#: call failed with NoSuchOptError. Each is (module, list of options), the
#: list being named after its group.
_GLOBAL_ONLY_GROUPS = (
    ("oslo_messaging._metrics.client", "oslo_messaging_metrics"),
    ("oslo_messaging._tracing.client", "oslo_messaging_tracing"),
)


def _register_global_only_opts(conf: cfg.ConfigOpts) -> None:
    """Register those groups on ``conf``, with oslo.messaging's own option objects.

    Registering the same option objects again is a no-op, so a version that
    fixes this, or one that lacks a group, is fine.
    """
    for module_name, group in _GLOBAL_ONLY_GROUPS:
        try:
            opts = getattr(importlib.import_module(module_name), group)
        except (ImportError, AttributeError):
            continue  # this version of oslo.messaging does not read the group
        conf.register_opts(opts, group=group)


def notification_transport(conf: cfg.ConfigOpts) -> oslo_messaging.Transport:
    """The transport the notification listener consumes from."""
    return oslo_messaging.get_notification_transport(conf, url=transport_url(conf))


def rpc_transport(conf: cfg.ConfigOpts) -> oslo_messaging.Transport:
    """The transport orchestrators and astara-ctl exchange RPC messages over."""
    _register_global_only_opts(conf)
    return oslo_messaging.get_rpc_transport(conf, url=transport_url(conf))


def broker_address(conf: cfg.ConfigOpts) -> str:
    """``host:port`` of each configured broker, comma-separated, without credentials."""
    hosts = oslo_messaging.TransportURL.parse(conf, transport_url(conf)).hosts
    return ",".join(_host_port(host.hostname, host.port) for host in hosts) or "localhost"


def _host_port(hostname: str | None, port: int | None) -> str:
    host = f"[{hostname}]" if hostname and ":" in hostname else hostname or "localhost"
    return f"{host}:{port}" if port else host
