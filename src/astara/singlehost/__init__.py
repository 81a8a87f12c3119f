"""Single-host mode: all of Astara on one machine, without OpenStack.

``astara-orchestrator --single-host --state-dir DIR`` (``make run``) runs the
local Neutron-compatible API, the orchestrator and its netns appliances in one
process tree, so the ``openstack`` CLI can create routers whose appliances
are network namespaces on this host.

- :mod:`.runner`: the command; starts and stops everything in order;
- :mod:`.options` and :mod:`.state`: the generated configuration and the state dir;
- :mod:`.bus`: the local API's notifications, fanned out in-process;
- :mod:`.management` and :mod:`.external`: the host's ports on the management
  and external bridges (:mod:`.host_ports` remembers them, :mod:`.uplink`
  lets external networks out);
- :mod:`.metadata`: instance lookup for the metadata proxy and the built-in
  metadata service that stands in for Nova's;
- :mod:`.wiring`: the orchestrator's wiring with the API's configurable port;
- :mod:`.instance`: test instances (namespaces on ports made through the API);
- :mod:`.teardown`: removes everything an installation made on the host.
"""
