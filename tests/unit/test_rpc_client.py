"""astara-ctl's RPC client without an orchestrator: refusals and errors in one line."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from oslo_config import cfg

from astara.cli.rpc_client import OrchestratorRpcClient, RpcClientError
from astara.common.config import parse_config
from astara.orchestrator.messaging_transport import broker_address


def load(tmp_path: Path, text: str) -> cfg.ConfigOpts:
    path = tmp_path / "orchestrator.ini"
    path.write_text(text)
    return parse_config(["--config-file", str(path)], "astara-test", default_config_files=[])


def closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def unreachable_client(tmp_path: Path) -> Iterator[tuple[OrchestratorRpcClient, int]]:
    port = closed_port()
    conf = load(
        tmp_path,
        f"[DEFAULT]\ntransport_url = rabbit://guest:secret@127.0.0.1:{port}/\n"
        "[oslo_messaging_rabbit]\nrabbit_retry_backoff = 0\n",
    )
    client = OrchestratorRpcClient(conf, topic="astt-unit")
    yield client, port
    client.close()


def test_a_payload_no_orchestrator_accepts_is_refused_before_sending(
    unreachable_client: tuple[OrchestratorRpcClient, int],
) -> None:
    client, _ = unreachable_client

    refused = r"^refused before sending: unknown command 'frobnicate'$"
    with pytest.raises(RpcClientError, match=refused):
        client.command({"command": "frobnicate"})


def test_rabbitmq_down_is_one_line_naming_the_broker_without_credentials(
    unreachable_client: tuple[OrchestratorRpcClient, int],
) -> None:
    client, port = unreachable_client

    with pytest.raises(RpcClientError) as raised:
        client.workers_debug(timeout=5)

    message = str(raised.value)
    assert message.startswith(f"cannot reach RabbitMQ at 127.0.0.1:{port}: ")
    assert "\n" not in message
    assert "secret" not in message


def test_broker_address_from_the_install_guide_options(tmp_path: Path) -> None:
    conf = load(
        tmp_path,
        "[oslo_messaging_rabbit]\nrabbit_hosts = mq1, mq2:5673, [fd00::5]:5674\n"
        "rabbit_userid = astara\nrabbit_password = secret\n",
    )

    assert broker_address(conf) == "mq1:5672,mq2:5673,[fd00::5]:5674"


def test_broker_address_from_transport_url(tmp_path: Path) -> None:
    conf = load(tmp_path, "[DEFAULT]\ntransport_url = rabbit://u:p@mq.example:5671/vhost\n")

    assert broker_address(conf) == "mq.example:5671"
