"""Driver names (``enabled_drivers``, ``Resource.driver``) and the classes that implement them.

Classes are imported when asked for, so naming the router driver does not
import the load balancer's dependencies. An unknown or unavailable name is a
:class:`UnknownDriver` error that names the choices, never a bare ``KeyError``.
"""

from __future__ import annotations

import importlib

from astara.drivers.base import ResourceDriver

#: name -> "module:Class" of every driver Astara ships.
DRIVER_CLASSES = {
    "router": "astara.drivers.router:RouterDriver",
    "loadbalancer": "astara.drivers.loadbalancer:LoadBalancerDriver",
}


class UnknownDriver(LookupError):
    """No driver of that name is available; the message lists the known names."""


def driver_class(name: str) -> type[ResourceDriver]:
    """The class implementing driver ``name``."""
    path = DRIVER_CLASSES.get(name)
    if path is None:
        known = ", ".join(sorted(DRIVER_CLASSES))
        raise UnknownDriver(f"unknown driver {name!r} (known drivers: {known})")
    module_name, _, class_name = path.partition(":")
    try:
        found = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise UnknownDriver(f"driver {name!r} is not available: {exc}") from None
    if not (isinstance(found, type) and issubclass(found, ResourceDriver)):
        raise UnknownDriver(f"driver {name!r}: {path} is not a ResourceDriver")
    return found
