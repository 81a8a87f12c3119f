"""The API extension serving Astara's router status resource.

Neutron imports this file by path from ``api_extensions_path`` and looks for
the class ``Routerstatus``; the L3 plugin answering the requests is
:class:`astara_neutron.plugins.ml2_neutron_plugin.L3RouterPlugin`, which
declares the alias.
"""

from typing import Any

from neutron.api import extensions
from neutron.api.v2 import base
from neutron_lib.api import extensions as api_extensions
from neutron_lib.plugins import constants as plugin_constants
from neutron_lib.plugins import directory

from astara_neutron.api_definitions import router_status


class Routerstatus(api_extensions.APIExtensionDescriptor):
    """Serves the resource at its current path and at the original Astara's."""

    api_definition = router_status

    @classmethod
    def get_resources(cls) -> list[Any]:
        l3_plugin = directory.get_plugin(plugin_constants.L3)
        paths = (
            (router_status.COLLECTION_NAME, router_status.API_PREFIX),
            (router_status.LEGACY_COLLECTION_NAME, ""),
        )
        return [
            extensions.ResourceExtension(
                collection,
                base.create_resource(
                    collection,
                    router_status.RESOURCE_NAME,
                    l3_plugin,
                    router_status.RESOURCE_ATTRIBUTE_MAP[collection],
                ),
                path_prefix=prefix,
            )
            for collection, prefix in paths
        ]
