"""The single-host network model: Astara's own Neutron-v2-compatible API.

In single-host mode there is no Neutron: this package keeps networks,
subnets, ports, routers and floating IPs in a SQLite file and serves them at
``http://127.0.0.1:9696`` with Neutron's URLs, bodies, errors and
notifications, so the ``openstack`` CLI, openstacksdk and Astara's own
network-model client work against it unchanged.

Layout: :mod:`.app` (factory) and :mod:`.server` (runner); :mod:`.routes`
(HTTP) over :mod:`.services` (what each call does) over :mod:`.store`
(transactions, notifications after commit), :mod:`.models` (tables),
:mod:`.ipam` (address arithmetic), :mod:`.views` (response shapes) and
:mod:`.errors` (Neutron's error bodies).
"""

from astara.localapi.app import create_app
from astara.localapi.server import run

__all__ = ["create_app", "run"]
