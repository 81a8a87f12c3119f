"""The router driver's configuration: orchestrator.ini, provider_rules.json, the wiring hooks."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from oslo_config import cfg

from astara.common import config
from astara.common.config_check import ConfigError
from astara.drivers.router import (
    RouterDriver,
    RouterDriverSettings,
    driver_factory,
    load_provider_rules,
    resource_lister,
)
from astara.network.neutron_api import NeutronNetworkModel
from astara.network.resource_lister import RouterLister
from astara.orchestrator.event import Resource
from tests.unit.network.local_api import Api

INSTALL_GUIDE = Path(__file__).parents[2] / "fixtures" / "config" / "install-guide.ini"


def install_guide() -> cfg.ConfigOpts:
    return config.parse_config(["--config-file", str(INSTALL_GUIDE)], "astara-test")


def test_settings_from_the_install_guide() -> None:
    settings = RouterDriverSettings.from_config(install_guide())

    assert settings.management_network_id == "2f1d3e7c-5a4b-4c1d-9e8f-0a1b2c3d4e5f"
    assert settings.management_subnet_id == "7c6b5a49-3827-4161-8f0e-d1c2b3a49586"
    assert settings.provider_rules_path == "/etc/astara/provider_rules.json"
    assert settings.orchestrator.address == "fdca:3ba5:a17a:acda::1"
    assert settings.orchestrator.metadata_port == 9697
    assert (settings.bgp.asn, settings.bgp.neighbor_asn) == (64512, 64512)
    assert (settings.image_uuid, settings.flavor) == ("4d7e1f0a-8b3c-4a6d-9e2f-5c1b0a9d8e7f", "6")


def test_settings_need_the_management_network(tmp_path: Path) -> None:
    path = tmp_path / "orchestrator.ini"
    path.write_text("[DEFAULT]\nmanagement_subnet_id = s\n")
    conf = config.parse_config(["--config-file", str(path)], "astara-test")

    with pytest.raises(ConfigError, match=r"\[DEFAULT\] management_network_id: must be set"):
        RouterDriverSettings.from_config(conf)


def test_the_wiring_hooks_build_drivers_and_a_lister(model: NeutronNetworkModel, api: Api) -> None:
    router = api.router(name="r", project_id="tenant-1")
    conf = install_guide()

    driver = driver_factory(conf, model)(Resource("router", router["id"], "tenant-1"))
    lister = resource_lister(conf, model)

    assert isinstance(driver, RouterDriver)
    assert driver.refresh() is True
    assert driver.appliance_name == f"ak-router-{router['id']}"
    assert isinstance(lister, RouterLister)
    assert [r.id for r in lister.list_resources()] == [router["id"]]


def test_provider_rules_are_read_and_normalised(tmp_path: Path) -> None:
    path = tmp_path / "provider_rules.json"
    rule = {"chain": "forward", "action": "drop", "source": "ext", "protocol": "tcp"}
    path.write_text(
        json.dumps({"labels": {"ext": ["192.168.57.0/24"]}, "prerules": [rule], "postrules": []})
    )

    rules = load_provider_rules(str(path))

    assert rules["labels"] == {"ext": ["192.168.57.0/24"]}
    assert rules["prerules"] == [rule]
    assert "postrules" not in rules


def test_the_shipped_sample_is_usable() -> None:
    sample = Path(__file__).parents[3] / "etc" / "astara" / "provider_rules.json"

    assert load_provider_rules(str(sample)) == {"labels": {"ext": ["192.168.57.0/24"]}}


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        (None, "does not exist"),
        ("{not json", "is unusable"),
        ("[1, 2]", "not a JSON object"),
        ('{"labels": {"ext": ["not-a-cidr"]}}', "is unusable"),
        ('{"prerules": [{"chain": "input", "action": "drop", "source": "nope"}]}', "known label"),
    ],
)
def test_unusable_provider_rules_are_a_warning_and_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: str | None, complaint: str
) -> None:
    path = tmp_path / "provider_rules.json"
    if content is not None:
        path.write_text(content)

    with caplog.at_level(logging.WARNING):
        rules = load_provider_rules(str(path))

    assert rules == {}
    assert str(path) in caplog.text
    assert complaint in caplog.text
