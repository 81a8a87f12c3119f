"""Assembling the orchestrator from configuration: which implementation serves each part.

``[DEFAULT] network_model``, ``provisioner`` and ``enabled_drivers`` name
implementations; the tables below map each name to the module that provides
it, so choosing one never imports the others (the nova provisioner's client
libraries are not loaded on a single-host install). An implementation that
cannot be imported stops the orchestrator at start with one line naming the
option, before any worker starts.

What each module must provide:

- a network model (``astara.network.<name>``): ``from_config(conf)`` returning
  the object the drivers read the network model through;
- a provisioner (``astara.provisioners.<name>``): ``from_config(conf)``
  returning a :class:`~astara.provisioners.base.Provisioner`;
- a driver (``astara.drivers.<name>``): ``driver_factory(conf, network)``
  returning a :data:`~astara.drivers.base.DriverFactory`, and
  ``resource_lister(conf, network)`` returning a
  :class:`~astara.orchestrator.populate.ResourceLister`.

A :class:`Wiring` is built in the main process (stores, listers) and again in
each worker process (state machines), from the same configuration; tests and
benchmarks pass the path of their own Wiring subclass instead.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from oslo_config import cfg

from astara.db.api import DebugStore, PendingEventStore
from astara.orchestrator.appliance_client import HttpApplianceClient
from astara.orchestrator.event import Resource
from astara.orchestrator.instance_manager import InstanceManager
from astara.orchestrator.machine import Machine, MachineFactory
from astara.orchestrator.populate import ResourceLister
from astara.orchestrator.state_machine import StateMachine

#: The wiring astara-orchestrator uses unless told otherwise.
DEFAULT_WIRING = "astara.orchestrator.wiring:ConfiguredWiring"

NETWORK_MODELS = {
    "neutron": "astara.network.neutron:from_config",
    "local": "astara.network.local:from_config",
}
PROVISIONERS = {
    "nova": "astara.provisioners.nova:from_config",
    "netns": "astara.provisioners.netns:from_config",
}
DRIVERS = {
    "router": "astara.drivers.router",
    "loadbalancer": "astara.drivers.loadbalancer",
}


class WiringError(Exception):
    """An implementation the configuration names is not available; one line says which."""


def import_path(path: str, option: str) -> Any:
    """Import ``module:attribute`` (or a module); WiringError naming ``option`` if impossible."""
    module_name, _, attribute = path.partition(":")
    try:
        found: Any = importlib.import_module(module_name)
        for part in filter(None, attribute.split(".")):
            found = getattr(found, part)
    except (ImportError, AttributeError) as error:
        raise WiringError(f"{option}: {path} is not available ({error})") from None
    return found


class Wiring(ABC):
    """The parts the orchestrator is built from, for one configuration."""

    def __init__(self, conf: cfg.ConfigOpts) -> None:
        self.conf = conf

    @abstractmethod
    def check(self) -> None:
        """Raise :class:`WiringError` now for any part that could not be built later."""

    @abstractmethod
    def machine_factory(self) -> MachineFactory:
        """Builds a resource's state machine (called once in each worker process)."""

    @abstractmethod
    def resource_listers(self) -> list[ResourceLister]:
        """One lister per enabled driver, for populate (main process)."""

    def listens_on_bus(self) -> bool:
        """Whether notifications and astara-ctl's RPC come from RabbitMQ (cloud mode does).

        A wiring that feeds the orchestrator otherwise (tests, benchmarks)
        says no, so it never creates queues on a broker others use.
        """
        return True

    def host_network_model(self) -> Any | None:
        """The network model this host's management port and metadata proxy are served from.

        None when the wiring drives no real appliances (tests, benchmarks):
        then the orchestrator joins no management network and proxies nothing.
        """
        return None

    def debug_store(self) -> DebugStore:
        return DebugStore(self.conf.database.connection)

    def pending_store(self) -> PendingEventStore:
        return PendingEventStore(self.conf.database.connection)


class ConfiguredWiring(Wiring):
    """The real parts, chosen by ``network_model``, ``provisioner`` and ``enabled_drivers``."""

    def check(self) -> None:
        self._network_model_builder()
        self._provisioner_builder()
        for name in self.conf.enabled_drivers:
            self._driver_module(name)

    def machine_factory(self) -> MachineFactory:
        conf = self.conf
        network = self._network_model_builder()(conf)
        provisioner = self._provisioner_builder()(conf)
        drivers = {
            name: self._driver_module(name).driver_factory(conf, network)
            for name in conf.enabled_drivers
        }
        clients = {
            name: HttpApplianceClient(conf[name].mgt_service_port, timeout=conf.config_timeout)
            for name in conf.enabled_drivers
        }

        def build(resource: Resource) -> Machine:
            if resource.driver not in drivers:
                raise WiringError(f"driver {resource.driver!r} is not in enabled_drivers")
            driver = drivers[resource.driver](resource)
            instances = InstanceManager(
                driver,
                provisioner,
                clients[resource.driver],
                boot_timeout=conf.boot_timeout,
                alive_timeout=conf.alive_timeout,
                config_timeout=conf.config_timeout,
                max_retries=max(1, conf.max_retries),
                retry_delay=conf.retry_delay,
                hotplug_timeout=conf.hotplug_timeout,
            )
            return StateMachine(
                resource,
                driver,
                instances,
                reboot_error_threshold=conf.reboot_error_threshold,
                error_state_cooldown=conf.error_state_cooldown,
                queue_warning_threshold=conf.queue_warning_threshold,
            )

        return build

    def network_model(self) -> Any:
        """The configured network model (for tools that read it, such as astara-ctl)."""
        return self._network_model_builder()(self.conf)

    def host_network_model(self) -> Any:
        return self.network_model()

    def provisioner(self) -> Any:
        """The configured provisioner (for tools that list its instances, such as astara-ctl)."""
        return self._provisioner_builder()(self.conf)

    def resource_listers(self) -> list[ResourceLister]:
        network = self._network_model_builder()(self.conf)
        return [
            self._driver_module(name).resource_lister(self.conf, network)
            for name in self.conf.enabled_drivers
        ]

    def _network_model_builder(self) -> Callable[[cfg.ConfigOpts], Any]:
        name = self.conf.network_model
        builder: Callable[[cfg.ConfigOpts], Any] = import_path(
            NETWORK_MODELS[name], f"[DEFAULT] network_model = {name}"
        )
        return builder

    def _provisioner_builder(self) -> Callable[[cfg.ConfigOpts], Any]:
        name = self.conf.provisioner
        builder: Callable[[cfg.ConfigOpts], Any] = import_path(
            PROVISIONERS[name], f"[DEFAULT] provisioner = {name}"
        )
        return builder

    def _driver_module(self, name: str) -> Any:
        option = f"[DEFAULT] enabled_drivers = {name}"
        module = import_path(DRIVERS[name], option)
        for needed in ("driver_factory", "resource_lister"):
            if not callable(getattr(module, needed, None)):
                raise WiringError(f"{option}: {DRIVERS[name]} has no {needed}()")
        return module


def load_wiring(path: str, conf: cfg.ConfigOpts) -> Wiring:
    """Build the :class:`Wiring` at ``module:Class`` (or a function) for ``conf``."""
    builder = import_path(path, "wiring")
    wiring = builder(conf)
    if not isinstance(wiring, Wiring):
        raise WiringError(f"wiring: {path} did not build a Wiring but {type(wiring).__name__}")
    return wiring
