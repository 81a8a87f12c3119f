"""Building the connection for each mode from orchestrator.ini."""

from __future__ import annotations

from pathlib import Path

import pytest
from keystoneauth1.identity.generic import Password
from oslo_config import cfg

from astara.common import config
from astara.common.config_check import ConfigError
from astara.network import local, neutron
from astara.network.neutron_api import NeutronNetworkModel
from astara.network.session import DEFAULT_TIMEOUT, keystone_connection

INSTALL_GUIDE = Path(__file__).parents[2] / "fixtures" / "config" / "install-guide.ini"


def load(tmp_path: Path, text: str) -> cfg.ConfigOpts:
    path = tmp_path / "orchestrator.ini"
    path.write_text(text)
    return config.parse_config(["--config-file", str(path)], "astara-test")


def test_the_install_guides_credentials_make_a_password_session() -> None:
    conf = config.parse_config(["--config-file", str(INSTALL_GUIDE)], "astara-test")

    connection = keystone_connection(conf)

    auth = connection.session.auth
    assert isinstance(auth, Password)
    assert auth.auth_url == "http://127.0.0.1:35357"
    assert connection.session.timeout == DEFAULT_TIMEOUT
    assert connection.config.get_interface("network") == "public"


def test_endpoint_type_and_region_choose_the_catalog_entry(tmp_path: Path) -> None:
    conf = load(
        tmp_path,
        "[DEFAULT]\nendpoint_type = internalURL\nauth_region = RegionTwo\n"
        "[keystone_authtoken]\nauth_type = password\nauth_url = http://keystone:5000\n"
        "username = astara\npassword = secret\nproject_name = service\ntimeout = 7\n",
    )

    connection = keystone_connection(conf)

    assert connection.config.get_interface("network") == "internal"
    assert connection.config.region_name == "RegionTwo"
    assert connection.session.timeout == 7


def test_no_auth_type_is_a_config_error_naming_it(tmp_path: Path) -> None:
    conf = load(tmp_path, "[DEFAULT]\n")

    with pytest.raises(ConfigError) as caught:
        keystone_connection(conf)

    assert "[keystone_authtoken] auth_type" in str(caught.value)


def test_a_missing_required_credential_is_a_config_error_naming_it(tmp_path: Path) -> None:
    conf = load(tmp_path, "[keystone_authtoken]\nauth_type = password\nusername = astara\n")

    with pytest.raises(ConfigError, match="auth_url"):
        keystone_connection(conf)


def test_each_mode_builds_the_same_client(tmp_path: Path) -> None:
    conf = config.parse_config(["--config-file", str(INSTALL_GUIDE)], "astara-test")

    assert isinstance(neutron.from_config(conf), NeutronNetworkModel)
    assert isinstance(local.from_config(conf), NeutronNetworkModel)
    assert local.LOCAL_API_URL == "http://127.0.0.1:9696"
