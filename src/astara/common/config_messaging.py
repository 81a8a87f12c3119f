"""The RabbitMQ address, from ``transport_url`` or the install guide's options.

Current oslo.messaging only understands ``[DEFAULT] transport_url``; the
install guide (and many existing ``orchestrator.ini`` files) set
``[oslo_messaging_rabbit] rabbit_hosts / rabbit_userid / rabbit_password``
instead. :func:`transport_url` accepts both, the URL winning when both are set.
"""

from __future__ import annotations

import ipaddress
import urllib.parse

from oslo_config import cfg

from astara.common.config_opts import RABBIT_GROUP


def split_host_port(entry: str, default_port: int) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]:port`` or a bare IPv6 address, as (host, port).

    Raises ValueError naming the entry when it is none of these.
    """
    entry = entry.strip()
    try:
        ipaddress.IPv6Address(entry)
    except ValueError:
        pass
    else:
        return entry, default_port
    try:
        parts = urllib.parse.urlsplit(f"//{entry}")
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise ValueError(f"{entry!r} is not host or host:port ({exc})") from exc
    if not host or parts.path or parts.username is not None or port == 0:
        raise ValueError(f"{entry!r} is not host or host:port")
    return host, port or default_port


def rabbit_url(conf: cfg.ConfigOpts) -> str:
    """The URL ``rabbit://user:pass@host1:port,user:pass@host2:port/vhost``.

    Built from ``[oslo_messaging_rabbit]``.
    """
    rabbit = conf[RABBIT_GROUP]
    credentials = (
        f"{urllib.parse.quote(rabbit.rabbit_userid, safe='')}:"
        f"{urllib.parse.quote(rabbit.rabbit_password, safe='')}"
    )
    hosts = []
    for entry in rabbit.rabbit_hosts:
        host, port = split_host_port(entry, rabbit.rabbit_port)
        if ":" in host:
            host = f"[{host}]"
        hosts.append(f"{credentials}@{host}:{port}")
    vhost = rabbit.rabbit_virtual_host
    path = "" if vhost == "/" else urllib.parse.quote(vhost, safe="")
    return f"rabbit://{','.join(hosts)}/{path}"


def transport_url(conf: cfg.ConfigOpts) -> str:
    """The oslo.messaging transport URL Astara's configuration asks for.

    ``[DEFAULT] transport_url`` if set (to something other than oslo.messaging's
    default, the bare ``rabbit://``), else the deprecated ``amqp_url``, else
    the URL built from ``[oslo_messaging_rabbit]``. oslo.messaging's options
    are registered here, as copies oslo.messaging itself accepts, so that
    ``transport_url`` can be read before a transport exists.
    """
    from oslo_messaging import opts as messaging_opts  # imports eventlet: only when needed

    default_opts = next(opts for group, opts in messaging_opts.list_opts() if group is None)
    conf.register_opts(default_opts)
    unset = next(opt.default for opt in default_opts if opt.dest == "transport_url")
    if conf.transport_url != unset:
        return str(conf.transport_url)
    return str(conf.amqp_url or rabbit_url(conf))
