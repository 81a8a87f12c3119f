"""A cloud-mode orchestrator process on RabbitMQ: Neutron's notifications in, astara-ctl's RPC.

The real ``astara-orchestrator`` (state machines over the doubles of
``tests.orchestrator_doubles_wiring``, so no cloud is needed) runs against
the machine's RabbitMQ in a throwaway virtual host, on the exchange and
topics it uses in production. Notifications are published the way Neutron
publishes them (oslo.messaging's Notifier, ``messagingv2``, exchange
``neutron``, topic ``notifications``) and commands are sent with astara-ctl's
RPC client.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import oslo_messaging
import pytest
from oslo_config import cfg
from oslo_context.context import RequestContext
from oslo_messaging import opts as messaging_opts

from astara.cli.rpc_client import OrchestratorRpcClient
from astara.common.config import parse_config
from tests.orchestrator_doubles_wiring import listed_router, read_record
from tests.orchestrator_setup import ORCHESTRATOR, Setup
from tests.rabbitmq_vhost import throwaway_vhost
from tests.waiting import wait_until

WIRING = "tests.orchestrator_doubles_wiring:BusDoublesWiring"
HOST = "astt-cloud-orchestrator"
ROUTERS = 6
#: Neutron's notifications carry its request context.
CONTEXT = RequestContext(project_id="tenant-0000", user_id="astt-admin", is_admin=True)

pytestmark = pytest.mark.integration


@dataclass
class Orchestrator:
    process: subprocess.Popen[bytes]
    config: Path
    record: Path
    log: Path
    transport_url: str

    def updates_of(self, resource_id: str) -> int:
        return sum(1 for crud, _, rid in read_record(self.record)
                   if crud == "update" and rid == resource_id)  # fmt: skip

    def client_conf(self) -> cfg.ConfigOpts:
        return parse_config(["--config-file", str(self.config)], "astara-ctl",
                            default_config_files=[])  # fmt: skip


@pytest.fixture
def orchestrator(tmp_path: Path) -> Iterator[Orchestrator]:
    with throwaway_vhost("astt_cloud") as transport_url:
        setup = Setup(tmp_path, workers=2, threads=4, wiring=WIRING,
                      defaults={"host": HOST, "transport_url": transport_url})  # fmt: skip
        process = setup.start(resources=ROUTERS)
        log = tmp_path / "orchestrator.log"
        running = Orchestrator(process, setup.config, setup.record, log, transport_url)
        try:
            def listening() -> bool:
                if process.poll() is not None:
                    pytest.fail(f"the orchestrator exited {process.returncode}: "
                                f"{_text(tmp_path / 'stderr.txt')[-600:]}")  # fmt: skip
                return "listening for notifications and commands" in _text(log)

            wait_until(listening, "the orchestrator to listen on RabbitMQ", timeout=60)
            yield running
        finally:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)


def _text(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


@contextlib.contextmanager
def neutron_notifier(transport_url: str) -> Iterator[oslo_messaging.Notifier]:
    """Publishes as Neutron does: exchange ``neutron``, topic ``notifications``, INFO."""
    conf = cfg.ConfigOpts()
    conf.register_opts(next(opts for group, opts in messaging_opts.list_opts() if group is None))
    conf([])
    conf.set_override("control_exchange", "neutron")
    transport = oslo_messaging.get_notification_transport(conf, url=transport_url)
    try:
        yield oslo_messaging.Notifier(transport, publisher_id="network.astt",
                                      driver="messagingv2", topics=["notifications"])  # fmt: skip
    finally:
        transport.cleanup()


def test_a_neutron_notification_reaches_the_router_it_names(orchestrator: Orchestrator) -> None:
    router = listed_router(1)
    wait_until(lambda: orchestrator.updates_of(router.id) >= 1, "populate's UPDATE", timeout=30)
    before = orchestrator.updates_of(router.id)

    with neutron_notifier(orchestrator.transport_url) as notifier:
        notifier.info(CONTEXT, "router.update.end",
                      {"router": {"id": router.id, "tenant_id": router.tenant_id}})  # fmt: skip

    wait_until(lambda: orchestrator.updates_of(router.id) > before,
               "the notification's UPDATE", timeout=30)  # fmt: skip
    others = [listed_router(n).id for n in range(ROUTERS) if n != 1]
    assert all(orchestrator.updates_of(other) == 1 for other in others), \
        "only the router the notification names was updated again"


def test_astara_ctl_commands_arrive_over_rpc(orchestrator: Orchestrator) -> None:
    router = listed_router(2)
    wait_until(lambda: orchestrator.updates_of(router.id) >= 1, "populate's UPDATE", timeout=30)
    before = orchestrator.updates_of(router.id)

    with OrchestratorRpcClient(orchestrator.client_conf()) as client:
        receipt = client.command(
            {"command": "resource-update", "resource_id": router.id}, server=HOST
        )
        reports = client.workers_debug(timeout=20, server=HOST)

    assert receipt.host == HOST and receipt.scheduled == 1
    wait_until(lambda: orchestrator.updates_of(router.id) > before,
               "the RPC command's UPDATE", timeout=30)  # fmt: skip
    assert sorted(report["worker"] for report in reports) == ["p00", "p01"]
    assert sum(len(report["resources"]) for report in reports) == ROUTERS


def astara_ctl(orchestrator: Orchestrator, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ORCHESTRATOR.with_name("astara-ctl")), "--config-file", str(orchestrator.config),
         *argv, "-f", "json"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_astara_ctl_in_cloud_mode_casts_commands_and_reads_the_api(
    orchestrator: Orchestrator,
) -> None:
    router = listed_router(3)
    wait_until(lambda: orchestrator.updates_of(router.id) >= 1, "populate's UPDATE", timeout=30)
    before = orchestrator.updates_of(router.id)

    sent = astara_ctl(orchestrator, "resource", "update", router.id)
    assert sent.returncode == 0, sent.stderr
    answer = json.loads(sent.stdout)
    assert answer["Command"] == "resource-update"
    assert answer["Host"] == f"every orchestrator ({HOST} answered)"
    wait_until(lambda: orchestrator.updates_of(router.id) > before,
               "the cast command's UPDATE", timeout=30)  # fmt: skip

    listed = astara_ctl(orchestrator, "resource", "list")
    assert listed.returncode == 0, listed.stderr
    assert {row["ID"] for row in json.loads(listed.stdout)} == {
        listed_router(n).id for n in range(ROUTERS)
    }


def test_sigterm_stops_the_listener_and_exits_cleanly(orchestrator: Orchestrator) -> None:
    os.killpg(orchestrator.process.pid, signal.SIGTERM)
    assert orchestrator.process.wait(timeout=90) == 0, _text(orchestrator.log)[-3000:]
