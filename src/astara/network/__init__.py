"""Network-model clients: how the orchestrator reads and changes Neutron's view of the cloud.

- :mod:`.base`: the typed resources (Router, Network, Subnet, Port...) and the
  :class:`~.base.NetworkModel` interface the drivers use;
- :mod:`.neutron_api`: its one implementation, over the Neutron v2 REST API;
- :mod:`.session`: the openstacksdk connection for each mode, used by
  :mod:`.local` (single host: the local API, no auth) and :mod:`.neutron`
  (cloud: Keystone credentials), the two ``network_model`` choices;
- :mod:`.resource_lister`: every router, for populate;
- :mod:`.fields` and :mod:`.errors`: parsing Neutron documents, and what can fail.
"""
