"""Building the openstacksdk connection the nova provisioner talks to Nova through.

Credentials come from ``[keystone_authtoken]`` as keystoneauth1 reads them
(``auth_type`` password with ``auth_url``, ``username``... as in the install
guide), the region from ``auth_region`` and the catalog interface from
``endpoint_type``. The provisioner itself only takes the finished connection,
so tests hand it one pointed at a local stand-in for Nova.
"""

from __future__ import annotations

from keystoneauth1 import loading as ks_loading
from keystoneauth1 import session as ks_session
from openstack import connection
from oslo_config import cfg

from astara.common.config_opts import KEYSTONE_GROUP

#: Seconds a single Nova request may take when ``[keystone_authtoken] timeout`` is unset;
#: a hung request then fails and is retried instead of blocking a worker thread forever.
DEFAULT_REQUEST_TIMEOUT = 60.0


def catalog_interface(endpoint_type: str) -> str:
    """keystoneauth's interface name for the old ``publicURL``-style names."""
    return endpoint_type.removesuffix("URL")


def session_from_config(conf: cfg.ConfigOpts) -> ks_session.Session:
    """A keystoneauth1 session authenticated as ``[keystone_authtoken]`` says."""
    ks_loading.register_session_conf_options(conf, KEYSTONE_GROUP)
    ks_loading.register_auth_conf_options(conf, KEYSTONE_GROUP)
    auth = ks_loading.load_auth_from_conf_options(conf, KEYSTONE_GROUP)
    timeout = conf[KEYSTONE_GROUP].timeout or DEFAULT_REQUEST_TIMEOUT
    return ks_loading.load_session_from_conf_options(
        conf, KEYSTONE_GROUP, auth=auth, timeout=timeout
    )


def connection_from_config(conf: cfg.ConfigOpts) -> connection.Connection:
    """An openstacksdk connection for Astara's service user, in ``auth_region``."""
    return connection.Connection(
        session=session_from_config(conf),
        region_name=conf.auth_region,
        interface=catalog_interface(conf.endpoint_type),
        app_name="astara",
    )
