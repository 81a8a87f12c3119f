"""A real ``astara-orchestrator`` process over the test doubles: its config, start and stop.

Shared by the integration tests that start the orchestrator as a process
(``tests/integration/test_orchestrator_process.py``, ``test_control_api.py``,
``test_cloud_bus.py``), the cluster harness and ``bench/control_api.py``, so
each starts it one way. It imports nothing of pytest.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from astara.db import migration
from astara.orchestrator.cli_options import PROG
from tests.orchestrator_doubles_wiring import DELAY_ENV, RECORD_ENV, RESOURCES_ENV
from tests.ports import free_port

REPO = Path(__file__).resolve().parents[1]
WIRING = "tests.orchestrator_doubles_wiring:DoublesWiring"
ORCHESTRATOR = Path(sys.executable).with_name(PROG)
#: Seconds a SIGTERMed process group gets before it is killed.
STOP_TIMEOUT_S = 60.0


class Setup:
    """A config file, a migrated SQLite database and a record file in a temporary directory.

    ``defaults`` adds ``[DEFAULT]`` options (a host name, a transport URL);
    ``wiring`` is the doubles wiring the orchestrator is started with.
    """

    def __init__(
        self,
        root: Path,
        *,
        workers: int,
        threads: int,
        defaults: Mapping[str, str] | None = None,
        wiring: str = WIRING,
    ) -> None:
        self.root = root
        self.wiring = wiring
        self.database = f"sqlite:///{root / 'astara.db'}"
        migration.upgrade(self.database)
        self.port = free_port()
        self.config = root / "orchestrator.ini"
        self.config.write_text(
            "[DEFAULT]\n"
            + "".join(f"{name} = {value}\n" for name, value in (defaults or {}).items())
            + f"num_worker_processes = {workers}\n"
            f"num_worker_threads = {threads}\n"
            "health_check_period = 3600\n"
            f"log_file = {root / 'orchestrator.log'}\n"
            "api_listen = 127.0.0.1\n"
            f"api_port = {self.port}\n"
            "api_auth_strategy = token_file\n"
            f"api_token_file = {self.token_file}\n"
            "[database]\n"
            f"connection = {self.database}\n"
        )
        self.record = root / "record.txt"
        self.stderr = root / "stderr.txt"

    @property
    def token_file(self) -> Path:
        return self.root / "control-api.token"

    @property
    def url(self) -> str:
        """The control API's base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def argv(self) -> list[str]:
        return ["--config-file", str(self.config), "--wiring", self.wiring]

    def env(
        self, *, delay: float = 0.0, resources: int = 0, record: bool = True
    ) -> dict[str, str]:
        """The doubles' steering; without ``record`` the machines write no record file."""
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            DELAY_ENV: str(delay),
            RESOURCES_ENV: str(resources),
        }
        if record:
            env[RECORD_ENV] = str(self.record)
        return env

    def start(
        self, *, delay: float = 0.0, resources: int = 0, record: bool = True
    ) -> subprocess.Popen[bytes]:
        """Start the orchestrator in its own process group (see :func:`stop_process_group`)."""
        with self.stderr.open("ab") as stderr:
            return subprocess.Popen(
                [str(ORCHESTRATOR), *self.argv],
                env=self.env(delay=delay, resources=resources, record=record),
                start_new_session=True,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )

    def log(self) -> str:
        path = self.root / "orchestrator.log"
        return path.read_text() if path.exists() else ""


def stop_process_group(
    process: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT_S
) -> None:
    """SIGTERM the process group, SIGKILL it if it is still there after ``timeout``."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)
