"""Every log line about a resource names it and its tenant."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from oslo_config import cfg
from oslo_log import formatters
from oslo_log import log as oslo_log

from astara.common import log_context
from astara.orchestrator.debug_flags import DebugFlags
from astara.orchestrator.event import Crud, Event, Resource
from astara.orchestrator.worker import Worker
from tests import waiting
from tests.orchestrator_doubles_wiring import MemoryDebugStore
from tests.unit.doubles import RigFactory, metric_value

ROUTER = Resource("router", "r1", "tenant-1")
STATE_MACHINE_LOG = "astara.orchestrator.state_machine"
INSTANCE_MANAGER_LOG = "astara.orchestrator.instance_manager"


@pytest.fixture
def conf() -> cfg.ConfigOpts:
    conf = cfg.ConfigOpts()
    oslo_log.register_options(conf)
    conf([], project="astara-test")
    return conf


@pytest.fixture
def captured(
    caplog: pytest.LogCaptureFixture, conf: cfg.ConfigOpts
) -> Iterator[pytest.LogCaptureFixture]:
    """caplog, with the filter installed on it as on the service's handlers."""
    caplog.set_level(logging.DEBUG, logger="astara")
    log_context.install(conf)
    yield caplog
    for handler in logging.getLogger().handlers:
        for installed in resource_filters(handler):
            handler.removeFilter(installed)


def resource_filters(handler: logging.Handler) -> list[logging.Filter]:
    return [f for f in handler.filters if isinstance(f, log_context.ResourceLogFilter)]


def test_records_from_a_machines_update_carry_its_resource_and_tenant(
    captured: pytest.LogCaptureFixture,
) -> None:
    factory = RigFactory()
    worker = Worker(factory, DebugFlags(MemoryDebugStore()), threads=2, metrics=factory.metrics)
    worker.start()
    try:
        worker.handle(Event(ROUTER, Crud.CREATE))
        waiting.wait_until(
            lambda: metric_value(factory.metrics.families(), "astara_config_pushes_total") == 1,
            "the router was configured",
        )
    finally:
        worker.stop(5)
    about_it = [
        record
        for record in captured.records
        if record.name in (STATE_MACHINE_LOG, INSTANCE_MANAGER_LOG)
    ]
    assert any(record.name == INSTANCE_MANAGER_LOG for record in about_it)
    assert len(about_it) > 3
    assert {(r.resource_id, r.tenant_id, r.driver) for r in about_it} == {
        ("r1", "tenant-1", "router")
    }


def test_records_outside_any_resource_get_dashes(captured: pytest.LogCaptureFixture) -> None:
    logging.getLogger("astara.test").info("nothing in particular")
    (record,) = captured.records
    assert (record.resource_id, record.tenant_id) == ("-", "-")


def test_the_context_ends_with_its_block_and_extra_fields_win(
    captured: pytest.LogCaptureFixture,
) -> None:
    log = logging.getLogger("astara.test")
    with log_context.about(ROUTER):
        log.info("inside")
        log.info("named", extra={"resource_id": "other"})
    log.info("after")
    inside, named, after = captured.records
    assert inside.resource_id == "r1"
    assert named.resource_id == "other"
    assert after.resource_id == "-"


def test_the_default_format_shows_the_resource(conf: cfg.ConfigOpts) -> None:
    log_context.install(conf)
    record = logging.LogRecord("astara.x", logging.INFO, __file__, 1, "booted", None, None)
    with log_context.about(ROUTER):
        log_context.ResourceLogFilter().filter(record)
    line = formatters.ContextFormatter(config=conf).format(record)
    assert "[resource_id=r1 tenant_id=tenant-1 driver=router] booted" in line


def test_an_operators_own_format_is_kept(conf: cfg.ConfigOpts) -> None:
    conf.set_override("logging_default_format_string", "%(levelname)s %(message)s")
    log_context.install(conf)
    assert conf.logging_default_format_string == "%(levelname)s %(message)s"
    assert "%(resource_id)s" in conf.logging_context_format_string


def test_installing_twice_adds_one_filter(conf: cfg.ConfigOpts) -> None:
    handler = logging.NullHandler()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        log_context.install(conf)
        log_context.install(conf)
        assert len(resource_filters(handler)) == 1
    finally:
        root.removeHandler(handler)
