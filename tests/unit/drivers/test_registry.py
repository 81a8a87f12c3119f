"""Driver names to classes: known names, unknown names, unavailable implementations."""

from __future__ import annotations

import pytest

from astara.drivers import registry
from astara.drivers.registry import UnknownDriver, driver_class
from astara.drivers.router import RouterDriver


def test_router_is_the_router_driver() -> None:
    assert driver_class("router") is RouterDriver


def test_an_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(UnknownDriver, match=r"unknown driver 'vpn' \(known drivers: .*router"):
        driver_class("vpn")


def test_a_name_whose_module_is_missing_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.DRIVER_CLASSES, "firewall", "astara.drivers.nonexistent:Fw")

    with pytest.raises(UnknownDriver, match="driver 'firewall' is not available"):
        driver_class("firewall")


def test_a_name_that_is_not_a_driver_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.DRIVER_CLASSES, "odd", "astara.drivers.router:port_name")

    with pytest.raises(UnknownDriver, match="is not a ResourceDriver"):
        driver_class("odd")
