"""A real Neutron API server loaded with Astara's plugins and extensions.

What the harness builds (session-scoped, once per test run)
------------------------------------------------------------
* Neutron's own virtualenv (``.venv-neutron``, or ``$ASTARA_NEUTRON_VENV``),
  built by ``scripts/neutron-venv.sh`` from ``tests/neutron/requirements.txt``:
  Neutron from PyPI, gunicorn, python-openstackclient and this repository in
  editable mode. Neutron pins its dependencies differently from Astara, so it
  never shares ``.venv``. The venv is rebuilt only when it is missing or when
  the script, the requirements or pyproject.toml changed.
* A throwaway MariaDB database ``neutron_astt_<hex>``, migrated with
  ``neutron-db-manage upgrade heads`` and dropped at the end.
* A throwaway RabbitMQ virtual host ``astt_neutron_<hex>`` (``rabbitmqctl``),
  deleted at the end with every queue in it. Neutron publishes its
  notifications there on the usual ``notifications`` topic, and the tests
  listen on the same topic, without touching queues anyone else uses.
* ``neutron.conf`` as the install guide says (core_plugin, service_plugins,
  api_extensions_path pointing at the installed ``astara_neutron/extensions``,
  ML2 ``extension_drivers = port_security``), with ``auth_strategy = noauth``
  and the ``messagingv2`` notification driver.
* The Neutron API (``neutron.wsgi.api:application``) under gunicorn on a free
  loopback port; the fixture waits until ``GET /`` answers and stops the
  server at the end. Its logs stay in a temporary directory and their tail is
  printed when a test fails.

Deviations from a production Neutron, each the minimum that works here
----------------------------------------------------------------------
* No Keystone: ``auth_strategy = noauth``. A request without ``X-Project-Id``
  runs as admin; one with ``X-Project-Id``/``X-Roles`` runs as that user, which
  is how the tests play a non-admin.
* No Nova: ``notify_nova_on_port_status_changes`` and
  ``notify_nova_on_port_data_changes`` are off.
* No L2 agents: ML2 uses ``type_drivers = flat,vxlan`` (tenant networks are
  VXLAN) and ``mechanism_drivers = l2population``, the only driver the guide
  asks for. Ports are never bound to a host, so nothing needs an agent.
* No quotas: the tests change more routers than the default quota of 10.
* Two gunicorn workers of 8 threads: Neutron's CPU is what limits the tests
  that make 200 routers, and one process uses only one of this machine's CPUs.
* Only the API process runs. Since Neutron runs under WSGI, RPC workers and
  periodic tasks live in ``neutron-rpc-server`` and
  ``neutron-periodic-workers``; Astara needs neither (no agent talks RPC, and
  notifications are sent by the API process).
* gunicorn reads its settings from ``gunicorn.conf.py`` in the configuration
  directory, so its command line is bare: Neutron parses ``sys.argv`` as its
  own options and would reject gunicorn's. Neutron finds its configuration
  through ``OS_NEUTRON_CONFIG_DIR``/``OS_NEUTRON_CONFIG_FILES``, as under uwsgi.

Every test in this directory carries the ``neutron`` marker and is skipped,
with the reason, when MariaDB or RabbitMQ (or ``rabbitmqctl``) is unavailable.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import oslo_messaging
import pymysql
import pytest
from oslo_config import cfg
from tests.ports import free_port
from tests.rabbitmq_vhost import throwaway_vhost

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("ASTARA_NEUTRON_VENV", ROOT / ".venv-neutron"))
#: Bounds on waiting, not assertions: the first start of Neutron imports a lot.
STARTUP_LIMIT_SECONDS = 180.0
COMMAND_LIMIT_SECONDS = 120.0
NOTIFICATION_LIMIT_SECONDS = 30.0
LOG_TAIL_LINES = 80


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"astara_report_{report.when}", report)
    return report


@dataclass(frozen=True)
class NeutronServer:
    """A running Neutron API and the means to drive it."""

    endpoint: str
    venv: Path
    config_dir: Path
    log_dir: Path
    transport_url: str

    def openstack(self, *args: str) -> str:
        """Run the real ``openstack`` CLI against this server as admin; return its output."""
        argv = [
            str(self.venv / "bin" / "openstack"),
            "--os-auth-type", "none",
            "--os-endpoint", self.endpoint,
            *args,
        ]
        result = _run(argv)
        if result.returncode != 0:
            pytest.fail(
                f"openstack {' '.join(args)} exited {result.returncode}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result.stdout

    def openstack_json(self, *args: str) -> Any:
        """``openstack`` with ``-f json`` (create, show, list), its output parsed."""
        return json.loads(self.openstack(*args, "-f", "json"))

    def log_tails(self) -> str:
        parts = []
        for log in sorted(self.log_dir.glob("*.log")):
            lines = log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
            parts.append(f"----- {log} (last {len(lines)} lines) -----\n" + "\n".join(lines))
        return "\n".join(parts)


def _report(config: pytest.Config, line: str) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(line)


def _run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=COMMAND_LIMIT_SECONDS, check=False, **kwargs
    )


@pytest.fixture(scope="session")
def mariadb_database() -> Iterator[str]:
    """A new, empty MariaDB database for Neutron; dropped at the end whatever happens."""
    name = f"neutron_astt_{uuid.uuid4().hex[:12]}"
    try:
        admin = pymysql.connect(host="127.0.0.1", port=3306, user="root", autocommit=True)
    except pymysql.err.OperationalError as error:
        pytest.skip(f"MariaDB is not reachable at 127.0.0.1:3306: {error}")
    try:
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
        yield f"mysql+pymysql://root@127.0.0.1/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.close()


@pytest.fixture(scope="session")
def rabbitmq_transport_url() -> Iterator[str]:
    """A RabbitMQ virtual host of our own; deleted, queues and all, at the end."""
    with throwaway_vhost("astt_neutron") as url:
        yield url


@pytest.fixture(scope="session")
def neutron_venv(pytestconfig: pytest.Config) -> Path:
    """Neutron's virtualenv, built on first use and reused while its inputs are unchanged."""
    started = time.monotonic()
    built = _run([str(ROOT / "scripts" / "neutron-venv.sh"), str(VENV)])
    if built.returncode != 0:
        pytest.fail(f"scripts/neutron-venv.sh failed:\n{built.stdout}\n{built.stderr}")
    _report(pytestconfig, f"neutron venv {VENV} ready in {time.monotonic() - started:.1f}s")
    return VENV


def _extensions_path(venv: Path) -> str:
    """Where astara_neutron's extensions are installed in Neutron's venv."""
    found = _run([
        str(venv / "bin" / "python"), "-c",
        "import os, astara_neutron.extensions as e; print(os.path.dirname(e.__file__))",
    ])
    if found.returncode != 0:
        pytest.fail(f"astara_neutron is not importable in {venv}:\n{found.stderr}")
    return found.stdout.strip()


def _write_config(config_dir: Path, log_dir: Path, venv: Path, database_url: str,
                  transport_url: str, port: int) -> None:
    (config_dir / "neutron.conf").write_text(textwrap.dedent(f"""\
        [DEFAULT]
        core_plugin = astara_neutron.plugins.ml2_neutron_plugin.Ml2Plugin
        service_plugins = astara_neutron.plugins.ml2_neutron_plugin.L3RouterPlugin
        api_extensions_path = {_extensions_path(venv)}
        auth_strategy = noauth
        transport_url = {transport_url}
        api_paste_config = {venv / "etc" / "neutron" / "api-paste.ini"}
        state_path = {config_dir / "state"}
        log_file = {log_dir / "neutron-api.log"}
        notify_nova_on_port_status_changes = False
        notify_nova_on_port_data_changes = False

        [oslo_concurrency]
        lock_path = {config_dir / "lock"}

        [database]
        connection = {database_url}

        [oslo_messaging_notifications]
        driver = messagingv2

        [ml2]
        type_drivers = flat,vxlan
        project_network_types = vxlan
        mechanism_drivers = l2population
        extension_drivers = port_security

        [ml2_type_vxlan]
        vni_ranges = 1001:2000

        [ml2_type_flat]
        flat_networks = *

        [quotas]
        quota_router = -1
        quota_network = -1
        quota_subnet = -1
        quota_port = -1
        quota_floatingip = -1
        """))
    (config_dir / "gunicorn.conf.py").write_text(textwrap.dedent(f"""\
        wsgi_app = "neutron.wsgi.api:application"
        bind = "127.0.0.1:{port}"
        workers = 2
        worker_class = "gthread"
        threads = 8
        timeout = {int(STARTUP_LIMIT_SECONDS)}
        control_socket_disable = True
        errorlog = "{log_dir / "gunicorn.log"}"
        accesslog = "{log_dir / "access.log"}"
        """))


def _wait_until_serving(endpoint: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_LIMIT_SECONDS
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if httpx.get(endpoint + "/", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise RuntimeError(
        f"Neutron did not answer GET {endpoint}/ (exit code {server.poll()})"
    )


def _stop(server: subprocess.Popen[bytes]) -> None:
    """Stop gunicorn and its worker: they run in a process group of their own."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


@pytest.fixture(scope="session")
def neutron_server(
    pytestconfig: pytest.Config,
    tmp_path_factory: pytest.TempPathFactory,
    mariadb_database: str,
    rabbitmq_transport_url: str,
    neutron_venv: Path,
) -> Iterator[NeutronServer]:
    started = time.monotonic()
    config_dir = tmp_path_factory.mktemp("neutron-etc")
    log_dir = tmp_path_factory.mktemp("neutron-log")
    port = free_port()
    _write_config(config_dir, log_dir, neutron_venv, mariadb_database, rabbitmq_transport_url, port)
    server = NeutronServer(
        endpoint=f"http://127.0.0.1:{port}",
        venv=neutron_venv,
        config_dir=config_dir,
        log_dir=log_dir,
        transport_url=rabbitmq_transport_url,
    )

    migrated = _run([
        str(neutron_venv / "bin" / "neutron-db-manage"),
        "--config-file", str(config_dir / "neutron.conf"), "upgrade", "heads",
    ])
    if migrated.returncode != 0:
        pytest.fail(f"neutron-db-manage upgrade heads failed:\n{migrated.stderr}")

    env = {**os.environ, "OS_NEUTRON_CONFIG_DIR": str(config_dir),
           "OS_NEUTRON_CONFIG_FILES": "neutron.conf"}
    with open(log_dir / "gunicorn-stdio.log", "wb") as stdio:
        process = subprocess.Popen(
            [str(neutron_venv / "bin" / "gunicorn")],
            cwd=config_dir, env=env, stdout=stdio, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
    try:
        try:
            _wait_until_serving(server.endpoint, process)
        except RuntimeError as error:
            pytest.fail(f"{error}\n{server.log_tails()}")
        _report(pytestconfig, f"neutron server {server.endpoint} ready in "
                              f"{time.monotonic() - started:.1f}s (database, migrations, start)")
        yield server
    finally:
        _stop(process)


@pytest.fixture(autouse=True)
def _neutron_logs_on_failure(
    request: pytest.FixtureRequest, neutron_server: NeutronServer
) -> Iterator[None]:
    """Print the tail of Neutron's logs under a failed test's report."""
    yield
    report = getattr(request.node, "astara_report_call", None)
    if report is not None and report.failed:
        report.sections.append(("neutron server logs", neutron_server.log_tails()))


class NotificationRecorder:
    """Keeps every notification Neutron published on the ``notifications`` topic."""

    def __init__(self) -> None:
        self._received: list[tuple[str, dict[str, Any]]] = []
        self._arrived = threading.Condition()

    def info(self, ctxt: dict[str, Any], publisher_id: str, event_type: str,
             payload: dict[str, Any], metadata: dict[str, Any]) -> None:
        with self._arrived:
            self._received.append((event_type, payload))
            self._arrived.notify_all()

    def wait_for(self, event_type: str,
                 matches: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The first ``event_type`` payload that ``matches``; fails if none comes in time."""
        deadline = time.monotonic() + NOTIFICATION_LIMIT_SECONDS
        with self._arrived:
            while True:
                for received_type, payload in self._received:
                    if received_type == event_type and matches(payload):
                        return payload
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = sorted({t for t, _ in self._received})
                    pytest.fail(f"no matching {event_type} notification; received: {seen}")
                self._arrived.wait(remaining)


@pytest.fixture(scope="session")
def notifications(neutron_server: NeutronServer) -> Iterator[NotificationRecorder]:
    """Neutron's notifications, read with oslo.messaging as Astara's listener reads them.

    The listener declares its queue before any test creates a resource, so
    nothing Neutron publishes afterwards is lost. It lives in the test's own
    virtual host, so no other consumer sees these messages or loses its own.
    """
    conf = cfg.ConfigOpts()
    conf([], project="astara-neutron-tests")
    transport = oslo_messaging.get_notification_transport(conf, url=neutron_server.transport_url)
    recorder = NotificationRecorder()
    listener = oslo_messaging.get_notification_listener(
        transport,
        [oslo_messaging.Target(topic="notifications", exchange="neutron")],
        [recorder],
        executor="threading",
    )
    listener.start()
    try:
        yield recorder
    finally:
        listener.stop()
        listener.wait()
        transport.cleanup()


@pytest.fixture
def unique_name() -> Callable[[str], str]:
    """Names for what a test creates in Neutron, marked as test-owned (``astt``)."""
    return lambda kind: f"astt-{kind}-{uuid.uuid4().hex[:8]}"

