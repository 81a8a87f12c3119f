"""The openstacksdk connection to the network model, for each way Astara runs.

Both modes speak the Neutron v2 REST API; only how a request is
authenticated and where it goes differ:

- single-host mode: the local API on loopback, without authentication
  (keystoneauth1's ``noauth`` plugin pinned to the API's URL);
- cloud mode: a real Neutron found in the Keystone catalog, with the
  service credentials of ``[keystone_authtoken]`` (``auth_type = password``,
  or the install guide's ``auth_plugin = password``).
"""

from __future__ import annotations

from keystoneauth1 import loading as ks_loading
from keystoneauth1 import noauth
from keystoneauth1 import session as ks_session
from keystoneauth1.exceptions import MissingRequiredOptions
from openstack.connection import Connection
from oslo_config import cfg

from astara.common.config_check import ConfigError, config_files
from astara.common.config_opts import KEYSTONE_GROUP

#: Seconds one request to the network model may take unless
#: ``[keystone_authtoken] timeout`` says otherwise: a hung Neutron must not
#: hold a worker thread forever.
DEFAULT_TIMEOUT = 30.0


def local_connection(endpoint: str, timeout: float = DEFAULT_TIMEOUT) -> Connection:
    """A connection to the local API at ``endpoint`` (``http://127.0.0.1:9696``)."""
    session = ks_session.Session(auth=noauth.NoAuth(endpoint=endpoint), timeout=timeout)
    return Connection(session=session, network_endpoint_override=endpoint)


def keystone_connection(conf: cfg.ConfigOpts) -> Connection:
    """A connection to the cloud's Neutron with the credentials of ``[keystone_authtoken]``.

    ``[DEFAULT] endpoint_type`` and ``auth_region`` choose the catalog entry.
    """
    return Connection(
        session=keystone_session(conf),
        region_name=conf.auth_region,
        interface=conf.endpoint_type.removesuffix("URL"),
    )


def keystone_session(conf: cfg.ConfigOpts) -> ks_session.Session:
    """A keystoneauth1 session with the service credentials of ``[keystone_authtoken]``.

    TLS settings (``cafile``, ``insecure``...) are read from the same group,
    where keystonemiddleware's configuration already keeps them.
    """
    ks_loading.register_session_conf_options(conf, KEYSTONE_GROUP)
    try:
        auth = ks_loading.load_auth_from_conf_options(conf, KEYSTONE_GROUP)
    except MissingRequiredOptions as exc:
        missing = ", ".join(opt.dest for opt in exc.options)
        raise _config_error(conf, missing, "required by the Keystone auth plugin") from None
    if auth is None:
        raise _config_error(conf, "auth_type", "not set (use auth_type = password)")
    session: ks_session.Session = ks_loading.load_session_from_conf_options(
        conf,
        KEYSTONE_GROUP,
        auth=auth,
        timeout=conf[KEYSTONE_GROUP].timeout or DEFAULT_TIMEOUT,
    )
    return session


def _config_error(conf: cfg.ConfigOpts, option: str, problem: str) -> ConfigError:
    source = ", ".join(config_files(conf)) or "configuration"
    return ConfigError(source, KEYSTONE_GROUP, option, problem)
