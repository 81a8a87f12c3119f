"""Astara's side of Neutron: the core and L3 plugins and the API extensions.

Neutron loads this package in its own process (``core_plugin``,
``service_plugins`` and ``api_extensions_path`` in neutron.conf), so it may
import Neutron freely; the orchestrator never imports it. It is installed with
the optional extra ``astara[neutron]``.
"""
