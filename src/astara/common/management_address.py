"""The orchestrator's own address on the management network.

Appliances send metadata requests there, and the control API listens there:
the first address of ``management_prefix``, where single-host mode and the
original deployments put it.
"""

from __future__ import annotations

import ipaddress

from oslo_config import cfg


def orchestrator_address(conf: cfg.ConfigOpts) -> str:
    """The first address of ``[DEFAULT] management_prefix``."""
    return str(next(ipaddress.ip_network(conf.management_prefix).hosts()))
