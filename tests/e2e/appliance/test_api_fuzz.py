"""Fuzz the agent's REST API from its own OpenAPI spec: no input may cause a 5xx.

The agent app is served on 127.0.0.1 by this test process, but the appliance
it manages acts inside a test namespace, so whatever configuration the fuzzer
manages to get applied changes only that namespace.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from astara.appliance.api import create_app
from astara.appliance.appliance import Appliance
from astara.appliance.firewall.policy import AgentAccess
from astara.appliance.model import EMPTY_CONFIG

LOOPBACK = "127.0.0.1"
STARTUP_TIMEOUT_S = 30.0


@pytest.fixture
def appliance_schema(netns_factory: Callable[[], str]) -> Iterator[Any]:
    state_dir = Path(tempfile.mkdtemp(prefix="astt-appliance-fuzz-"))
    state_dir.chmod(0o755)
    appliance = Appliance(netns_factory(), state_dir, AgentAccess(5000, None))
    appliance.start()
    server = uvicorn.Server(
        uvicorn.Config(create_app(appliance), host=LOOPBACK, port=0, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                pytest.fail("the agent app did not start")
            time.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield schemathesis.openapi.from_url(f"http://{LOOPBACK}:{port}/openapi.json")
    finally:
        server.should_exit = True
        thread.join(10)
        appliance.manager.apply(EMPTY_CONFIG, save=False)  # stops dnsmasq if it ran
        shutil.rmtree(state_dir, ignore_errors=True)


EXAMPLES_PER_OPERATION = 60


def test_no_input_makes_the_agent_fail(appliance_schema: Any) -> None:
    """Every operation of the spec, fed generated requests, answers without a 5xx.

    (Driven through schemathesis' Python API: its pytest loader does not work
    with the pytest this project uses.)
    """
    operations = [result.ok() for result in appliance_schema.get_all_operations()]
    applied: list[int] = []
    for operation in operations:

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            response = case.call_and_validate(checks=[not_a_server_error])
            if case.method.upper() == "PUT":
                applied.append(response.status_code)

        check()
    # The fuzzer got configurations through validation into the apply path too.
    assert 200 in applied, sorted(set(applied))
