"""The nova provisioner built from orchestrator.ini, as the orchestrator's wiring builds it.

Keystone cannot run here, so ``[keystone_authtoken]`` uses keystoneauth1's
``none`` plugin with a fixed endpoint: the local Compute API double (see
:mod:`compute_api_double`). Everything else (option names, the session, the
openstacksdk connection, version discovery) is the real path.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from astara.common.config import parse_config
from astara.drivers.base import PortSpec
from astara.provisioners.base import ProvisionerError
from astara.provisioners.nova import from_config
from astara.provisioners.nova_connection import catalog_interface
from tests.unit.provisioners.compute_api_double import ComputeApiDouble

MANAGEMENT = PortSpec("mgt", "mgt-net", "fa:16:3e:00:00:01", "management", ("fdca::7",))
DATA = PortSpec("data", "data-net", "fa:16:3e:00:00:02", "internal", ("10.0.0.1",))


@pytest.fixture
def nova() -> Iterator[ComputeApiDouble]:
    with ComputeApiDouble() as double:
        for port in (MANAGEMENT, DATA):
            double.add_port(port.port_id, port.network_id, port.mac_address, *port.fixed_ips)
        yield double


def write_config(tmp_path: Path, nova: ComputeApiDouble, router_options: str) -> str:
    key = tmp_path / "astara.pub"
    key.write_text("ssh-ed25519 AAAAkey operator\n", encoding="utf-8")
    path = tmp_path / "orchestrator.ini"
    path.write_text(
        "[DEFAULT]\n"
        "provisioner = nova\n"
        "management_network_id = mgt-net\n"
        "management_prefix = fdca::/64\n"
        "enabled_drivers = router\n"
        f"ssh_public_key = {key}\n"
        "astara_boot_command = /sbin/configure-mgmt\n"
        f"[router]\n{router_options}\n"
        "[keystone_authtoken]\n"
        "auth_type = none\n"
        f"endpoint = {nova.endpoint}\n"
        "timeout = 5\n",
        encoding="utf-8",
    )
    return str(path)


def test_from_config_boots_with_the_configured_image_flavor_key_and_command(
    tmp_path: Path, nova: ComputeApiDouble
) -> None:
    options = "image_uuid = appliance-image\ninstance_flavor = appliance-flavor"
    conf = parse_config(["--config-file", write_config(tmp_path, nova, options)], "test")

    info = from_config(conf).boot("ak-router-r1", None, None, MANAGEMENT, [DATA])

    body = nova.api_requests("POST", "/v2.1/servers")[0][2]["server"]
    assert (body["imageRef"], body["flavorRef"]) == ("appliance-image", "appliance-flavor")
    document = yaml.safe_load(base64.b64decode(body["user_data"]))
    assert document["bootcmd"] == [["/sbin/configure-mgmt", "fa:16:3e:00:00:01", "fdca::7/64"]]
    assert document["users"][0]["ssh_authorized_keys"] == ["ssh-ed25519 AAAAkey operator"]
    assert info.management_address == "fdca::7"


def test_from_config_accepts_the_old_default_group_option_names(
    tmp_path: Path, nova: ComputeApiDouble
) -> None:
    path = write_config(tmp_path, nova, "")
    text = Path(path).read_text(encoding="utf-8").replace(
        "[DEFAULT]\n",
        "[DEFAULT]\nrouter_image_uuid = appliance-image\n"
        "router_instance_flavor = appliance-flavor\n",
    )
    Path(path).write_text(text, encoding="utf-8")
    conf = parse_config(["--config-file", path], "test")

    from_config(conf).boot("ak-router-r1", None, None, MANAGEMENT, [])

    body = nova.api_requests("POST", "/v2.1/servers")[0][2]["server"]
    assert (body["imageRef"], body["flavorRef"]) == ("appliance-image", "appliance-flavor")


def test_from_config_without_an_image_names_the_option(
    tmp_path: Path, nova: ComputeApiDouble
) -> None:
    conf = parse_config(
        ["--config-file", write_config(tmp_path, nova, "instance_flavor = f")], "test"
    )

    with pytest.raises(ProvisionerError, match=r"set \[router\] image_uuid"):
        from_config(conf).boot("ak-router-r1", None, None, MANAGEMENT, [])


@pytest.mark.parametrize(
    ("endpoint_type", "interface"),
    [("publicURL", "public"), ("internalURL", "internal"), ("admin", "admin")],
)
def test_endpoint_type_names_map_to_keystoneauth_interfaces(
    endpoint_type: str, interface: str
) -> None:
    assert catalog_interface(endpoint_type) == interface
