"""The transactional manager, with recording services instead of real ones."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from astara.appliance.manager import ApplyError, Manager
from astara.appliance.model import RouterConfig
from astara.appliance.netns import Namespace
from astara.appliance.services.base import NOTHING, Target
from astara.appliance.state import ConfigStore

A = RouterConfig(hostname="a")
B = RouterConfig(hostname="b")


class Recorder:
    """A service that records its calls and can be told to fail."""

    def __init__(self, name: str, journal: list[str], fail_on: RouterConfig | None = None) -> None:
        self.name = name
        self.journal = journal
        self.fail_on = fail_on
        self.running: RouterConfig = NOTHING.config

    def apply(self, current: Target, target: Target) -> None:
        self.journal.append(
            f"apply {self.name} {current.config.hostname}->{target.config.hostname}"
        )
        self.running = target.config
        if target.config == self.fail_on:
            raise RuntimeError(f"{self.name} cannot do it")

    def rollback(self, attempted: Target, previous: Target) -> None:
        self.journal.append(f"rollback {self.name} ->{previous.config.hostname}")
        self.running = previous.config


def _manager(tmp_path: Path, services: list[Recorder]) -> Manager:
    return Manager(Namespace(None), services, ConfigStore(tmp_path / "config.json"))


def test_services_run_in_registry_order_and_the_config_is_saved(tmp_path: Path) -> None:
    journal: list[str] = []
    manager = _manager(tmp_path, [Recorder("firewall", journal), Recorder("dhcp", journal)])
    manager.apply(A)
    assert journal == ["apply firewall None->a", "apply dhcp None->a"]
    assert manager.current.config == A
    assert json.loads((tmp_path / "config.json").read_text())["hostname"] == "a"


def test_failure_rolls_back_every_touched_service_newest_first(tmp_path: Path) -> None:
    journal: list[str] = []
    services = [
        Recorder("firewall", journal),
        Recorder("addresses", journal),
        Recorder("dhcp", journal, fail_on=B),
        Recorder("never", journal),
    ]
    manager = _manager(tmp_path, services)
    manager.apply(A)
    journal.clear()
    with pytest.raises(ApplyError) as info:
        manager.apply(B)
    assert str(info.value) == (
        "apply failed at step dhcp: dhcp cannot do it; rolled back to the last good configuration"
    )
    assert journal == [
        "apply firewall a->b",
        "apply addresses a->b",
        "apply dhcp a->b",
        "rollback dhcp ->a",
        "rollback addresses ->a",
        "rollback firewall ->a",
    ]
    assert [s.running for s in services] == [A, A, A, A]
    assert manager.current.config == A
    assert json.loads((tmp_path / "config.json").read_text())["hostname"] == "a"


def test_a_failed_rollback_is_reported(tmp_path: Path) -> None:
    journal: list[str] = []

    class Stuck(Recorder):
        def rollback(self, attempted: Target, previous: Target) -> None:
            raise OSError("device busy")

    manager = _manager(tmp_path, [Stuck("firewall", journal), Recorder("dhcp", journal, fail_on=B)])
    with pytest.raises(ApplyError) as info:
        manager.apply(B)
    assert info.value.step == "dhcp"
    assert info.value.rollback_failures == ["firewall: device busy"]
    assert "rollback failed at firewall: device busy" in str(info.value)


def test_a_config_that_cannot_be_saved_is_rolled_back(tmp_path: Path) -> None:
    journal: list[str] = []
    manager = Manager(
        Namespace(None),
        [Recorder("firewall", journal)],
        ConfigStore(tmp_path / "missing" / "c.json"),
    )
    with pytest.raises(ApplyError) as info:
        manager.apply(A)
    assert info.value.step == "save"
    assert journal[-1] == "rollback firewall ->None"
    assert manager.current == NOTHING


def test_applies_are_serialised(tmp_path: Path) -> None:
    inside = threading.Event()
    release = threading.Event()
    overlaps: list[bool] = []
    active = threading.Lock()

    class Slow:
        name = "slow"

        def apply(self, current: Target, target: Target) -> None:
            overlaps.append(not active.acquire(blocking=False))
            inside.set()
            release.wait(5)
            active.release()

        def rollback(self, attempted: Target, previous: Target) -> None:
            raise AssertionError("no rollback expected")

    manager = Manager(Namespace(None), [Slow()], ConfigStore(tmp_path / "c.json"))
    first = threading.Thread(target=manager.apply, args=(A,))
    first.start()
    inside.wait(5)
    second = threading.Thread(target=manager.apply, args=(B,))
    second.start()
    release.set()
    first.join(5)
    second.join(5)
    assert overlaps == [False, False]
    assert manager.current.config == B


def test_saved_config_survives_a_restart(tmp_path: Path) -> None:
    store = ConfigStore(tmp_path / "config.json")
    store.save(A)
    assert ConfigStore(tmp_path / "config.json").load() == A


def test_a_corrupt_saved_config_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text("{not json")
    assert ConfigStore(path).load() is None
    path.write_text(json.dumps({"networks": [{"network_id": "x"}]}))
    assert ConfigStore(path).load() is None
