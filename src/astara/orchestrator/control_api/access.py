"""Where the control API listens and how its callers authenticate, for both ends.

The orchestrator (:func:`listen_addresses`, :func:`server_authenticator`)
and astara-ctl (:func:`client_url`, :func:`client_token`) read the same
options, so a configuration that serves the API is one astara-ctl reaches.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from oslo_config import cfg

from astara.common import secret_file
from astara.common.management_address import orchestrator_address
from astara.orchestrator.control_api.auth import (
    Authenticator,
    KeystoneAuthenticator,
    TokenAuthenticator,
    keystone_validator,
)

#: Always served in single-host mode, so astara-ctl on the host needs no route.
LOOPBACK = "127.0.0.1"
TOKEN_FILE = "token_file"


def listen_addresses(conf: cfg.ConfigOpts, *, single_host: bool = False) -> list[str]:
    """``api_listen``, else the orchestrator's management address; loopback first in single-host."""
    addresses = [str(conf.api_listen or orchestrator_address(conf))]
    if single_host and LOOPBACK not in addresses:
        addresses.insert(0, LOOPBACK)
    return addresses


def client_url(conf: cfg.ConfigOpts, *, single_host: bool = False) -> str:
    """The URL astara-ctl dials: loopback when the API listens there or everywhere."""
    address = ipaddress.ip_address(listen_addresses(conf, single_host=single_host)[0])
    if address.is_unspecified:
        address = ipaddress.ip_address("::1" if address.version == 6 else LOOPBACK)
    host = f"[{address}]" if address.version == 6 else str(address)
    return f"http://{host}:{conf.api_port}"


def server_authenticator(conf: cfg.ConfigOpts) -> Authenticator:
    """The authenticator ``api_auth_strategy`` names (the token file is made if missing)."""
    if conf.api_auth_strategy == TOKEN_FILE:
        return TokenAuthenticator(secret_file.read_or_create(Path(conf.api_token_file)))
    from astara.network.session import keystone_session

    return KeystoneAuthenticator(keystone_validator(keystone_session(conf)), conf.api_admin_role)


def client_token(conf: cfg.ConfigOpts) -> str:
    """The token astara-ctl presents: the token file's, or one Keystone issues it.

    Raises OSError or SecretFileError (token file) and keystoneauth1's errors
    (Keystone); the caller turns them into one line.
    """
    if conf.api_auth_strategy == TOKEN_FILE:
        return secret_file.read(Path(conf.api_token_file))
    from astara.network.session import keystone_session

    token = keystone_session(conf).get_token()
    if not token:
        raise ValueError("Keystone issued no token for [keystone_authtoken]'s credentials")
    return str(token)
