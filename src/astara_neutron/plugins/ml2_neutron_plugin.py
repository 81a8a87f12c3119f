"""The core and L3 plugins named in Astara's install guide.

    core_plugin = astara_neutron.plugins.ml2_neutron_plugin.Ml2Plugin
    service_plugins = astara_neutron.plugins.ml2_neutron_plugin.L3RouterPlugin

Both are Neutron's own plugins with the agent machinery turned off: in an
Astara cloud no L3 or DHCP agent exists, so nothing may wait for one, schedule
work to one, or refuse a request because none is alive. Everything else
(networks, ports, routers, floating IPs, their notifications) is stock Neutron.
"""

from typing import Any

from neutron.db import l3_hamode_db
from neutron.plugins.ml2 import plugin as ml2_plugin
from neutron.services.l3_router import l3_router_plugin
from neutron_lib import constants
from neutron_lib.callbacks import events, priority_group, registry, resources
from oslo_config import cfg
from oslo_log import log as logging

from astara_neutron.api_definitions import router_status
from astara_neutron.db import router_status_db

LOG = logging.getLogger(__name__)


class Ml2Plugin(ml2_plugin.Ml2Plugin):
    """ML2 for a cloud whose DHCP is served by Astara's appliances.

    Neutron's ``enable_traditional_dhcp = False`` switches off exactly the
    DHCP-agent parts of ML2: the DHCP agent scheduler extension, network
    scheduling, the DHCP provisioning block that would keep ports DOWN until
    an agent reports, and the DHCP agent notifications. Astara's plugin is the
    statement that no DHCP agent runs, so it sets the option itself rather
    than rely on every operator remembering it.
    """

    def __init__(self) -> None:
        if cfg.CONF.enable_traditional_dhcp:
            LOG.info("Astara serves DHCP from its appliances: disabling DHCP agent support")
            cfg.CONF.set_override("enable_traditional_dhcp", False)
        super().__init__()


@registry.has_registry_receivers
class L3RouterPlugin(router_status_db.RouterStatusDbMixin, l3_router_plugin.L3RouterPlugin):
    """Neutron's L3 plugin for routers whose data plane is an Astara appliance.

    * No L3 agent scheduling: the ``l3_agent_scheduler`` extension is not
      offered, so Neutron never binds a router to an agent and its router
      notifications fall back to a harmless fanout.
    * ``ha`` is accepted and stored but builds nothing: Neutron's HA routers
      need an HA network, HA ports and enough live L3 agents. Astara reads the
      flag and boots a VRRP pair of appliances instead. Router interfaces keep
      the plain ``network:router_interface`` owner, which the orchestrator
      looks for.
    * Router status is writable by Astara through the ``astara-routerstatus``
      extension (see :mod:`astara_neutron.api_definitions.router_status`).

    The HA handlers below replace Neutron's ones of the same name; a callback
    method overridden without ``registry.receives`` is not subscribed at all.
    """

    @property
    def supported_extension_aliases(self) -> list[str]:
        if not hasattr(self, "_astara_aliases"):
            aliases = [
                alias
                for alias in super().supported_extension_aliases
                if alias != constants.L3_AGENT_SCHEDULER_EXT_ALIAS
            ]
            self._astara_aliases = [*aliases, router_status.ALIAS]
        return self._astara_aliases

    def _before_router_create_handler(self, resource: str, event: str, trigger: Any,
                                      payload: Any) -> None:
        """Not subscribed: an Astara HA router needs no HA network."""

    @registry.receives(resources.ROUTER, [events.PRECOMMIT_CREATE],
                       priority_group.PRIORITY_ROUTER_EXTENDED_ATTRIBUTE)
    def _precommit_router_create(self, resource: str, event: str, trigger: Any,
                                 payload: Any) -> None:
        """Record ``ha`` (the request's, or ``l3_ha`` when unset) without counting agents."""
        router = payload.latest_state
        router["ha"] = bool(self._is_ha(router))
        self.set_extra_attr_value(payload.metadata["router_db"], "ha", router["ha"])

    def _after_router_create(self, resource: str, event: str, trigger: Any,
                             payload: Any) -> None:
        """Not subscribed: there is no L3 agent to schedule an HA router to."""

    @registry.receives(resources.ROUTER, [events.PRECOMMIT_UPDATE],
                       priority_group.PRIORITY_ROUTER_EXTENDED_ATTRIBUTE)
    def _validate_migration(self, resource: str, event: str, trigger: Any,
                            payload: Any = None) -> None:
        """Record a change of ``ha``; the operator then rebuilds the appliance.

        Neutron would demand ``admin_state_up = False`` and enough agents and
        would move the interface ports to another owner; none of that applies
        to an appliance that is simply rebuilt as a pair.
        """
        requested = payload.request_body.get("ha")
        if requested is not None and requested != payload.states[0]["ha"]:
            self.set_extra_attr_value(payload.desired_state, "ha", requested)

    def _reconfigure_ha_resources(self, resource: str, event: str, trigger: Any,
                                  payload: Any) -> None:
        """Not subscribed: no HA ports to create and no agent to reschedule."""

    def _get_device_owner(self, context: Any, router: Any = None) -> str:
        """Interface owner as for a non-HA router, whatever ``ha`` says."""
        return super(l3_hamode_db.L3_HA_NAT_db_mixin, self)._get_device_owner(context, router)
