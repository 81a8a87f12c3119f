"""The notification listener against the real RabbitMQ on 127.0.0.1:5672.

Neutron-shaped notifications are published with oslo.messaging's Notifier
(driver messagingv2), as Neutron does, on a test-owned exchange and topic;
the listener consumes them from a test-owned pool and hands them to an
intake double. Every name contains ``astt-`` and a random part, so these
tests never consume anyone else's messages, and every queue and exchange
they create is deleted afterwards.

The helpers here are shared with ``test_rpc_rabbitmq.py``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kombu
import oslo_messaging
import pytest
from oslo_config import cfg
from oslo_context.context import RequestContext
from oslo_messaging import opts as messaging_opts

from astara.common.config import parse_config
from astara.orchestrator.intake import IntakeClosed
from astara.orchestrator.listener import NotificationListener
from tests.waiting import wait_until

RABBIT_HOST, RABBIT_PORT = "127.0.0.1", 5672
RABBIT_URL = f"rabbit://guest:guest@{RABBIT_HOST}:{RABBIT_PORT}/"
AMQP_URL = f"amqp://guest:guest@{RABBIT_HOST}:{RABBIT_PORT}//"
#: Neutron notifies with its request context (the Notifier drops a plain dict).
CONTEXT = RequestContext(project_id="astt-tenant", user_id="astt-admin", is_admin=True)


def _rabbitmq_listening() -> bool:
    with contextlib.suppress(OSError), socket.create_connection((RABBIT_HOST, RABBIT_PORT), 2):
        return True
    return False


pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not _rabbitmq_listening(),
        reason=f"RabbitMQ is not listening on {RABBIT_HOST}:{RABBIT_PORT}",
    ),
]


def owned_name(kind: str) -> str:
    """A fresh test-owned name for a topic, exchange, pool or server."""
    return f"astt-{kind}-{uuid.uuid4().hex[:10]}"


def load_conf(tmp_path: Path) -> cfg.ConfigOpts:
    """Astara's configuration pointing at the local RabbitMQ.

    Transient queues (oslo.messaging's fanout queues) expire one minute
    after their last consumer left, in case a test dies before deleting them.
    """
    path = tmp_path / "orchestrator.ini"
    path.write_text(
        f"[DEFAULT]\ntransport_url = {RABBIT_URL}\n"
        "[oslo_messaging_rabbit]\nrabbit_transient_queues_ttl = 60\n"
    )
    return parse_config(["--config-file", str(path)], "astara-test", default_config_files=[])


def ready_messages(queue: str) -> int:
    """Messages waiting in ``queue`` (unacknowledged ones count once their consumer is gone)."""
    with kombu.Connection(AMQP_URL) as connection:
        declared = connection.channel().queue_declare(queue, passive=True)
        return int(declared.message_count)


def messages_held(queue: str) -> int:
    """Messages in ``queue``, ready or delivered and not yet acknowledged (from rabbitmqctl)."""
    for line in rabbitmqctl("list_queues", "name", "messages").splitlines():
        name, _, count = line.partition("\t")
        if name == queue:
            return int(count)
    raise AssertionError(f"queue {queue} is not on the broker")


def delete_from_broker(queues: list[str], exchanges: list[str] = ()) -> None:  # type: ignore[assignment]
    """Delete test-owned queues and exchanges; missing ones are fine."""
    with kombu.Connection(AMQP_URL) as connection:
        for queue in queues:
            with contextlib.suppress(Exception), connection.channel() as channel:
                channel.queue_delete(queue)
        for exchange in exchanges:
            with contextlib.suppress(Exception), connection.channel() as channel:
                channel.exchange_delete(exchange)


def rabbitmqctl(*args: str) -> str:
    """Run rabbitmqctl; skip the test when it cannot be run here."""
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl is not installed")
    # --no-table-headers is an option of the listing commands only.
    table = ["--no-table-headers"] if args[0].startswith("list_") else []
    result = subprocess.run(
        ["rabbitmqctl", "-q", *table, *args],
        capture_output=True, text=True, timeout=120, check=False,
    )
    if result.returncode != 0:
        pytest.skip(f"rabbitmqctl {args[0]} failed: {result.stderr.strip()}")
    return result.stdout


def queues_named_like(prefix: str) -> list[str]:
    """Queues whose names the broker chose a suffix for (oslo.messaging's fanout queues)."""
    return [name for name in rabbitmqctl("list_queues", "name").split() if name.startswith(prefix)]


def close_this_process_connections() -> int:
    """Make RabbitMQ drop every connection of this test process, and only those.

    oslo.messaging names each connection ``<program>:<pid>:<uuid>``.
    """
    listing = rabbitmqctl("list_connections", "pid", "client_properties")
    mine = [line.split("\t")[0] for line in listing.splitlines() if f":{os.getpid()}:" in line]
    for connection in mine:
        rabbitmqctl("close_connection", connection, "astt test: dropped on purpose")
    return len(mine)


class IntakeDouble:
    """Records the notifications it accepts, by the ``astt_seq`` of their payload.

    ``closed_for``: the first calls raise IntakeClosed, as a stopping
    orchestrator's intake does. ``gate``: every call waits until it is set.
    """

    def __init__(self, closed_for: int = 0, gate: threading.Event | None = None) -> None:
        self._closed_for = closed_for
        self._gate = gate
        self._lock = threading.Lock()
        self.calls = 0
        self.accepted: list[tuple[str, Any, Any]] = []

    def submit(self, event_type: str, payload: Any, context: Any = None) -> int:
        with self._lock:
            self.calls += 1
            if self.calls <= self._closed_for:
                raise IntakeClosed("the orchestrator is stopping")
        if self._gate is not None:
            self._gate.wait()
        with self._lock:
            self.accepted.append((event_type, payload, context))
        return 1

    def sequence(self) -> list[int]:
        with self._lock:
            return [payload["astt_seq"] for _, payload, _ in self.accepted]


def router_payload(seq: int) -> dict[str, Any]:
    """A Neutron ``router.create.end`` payload, numbered so each message can be counted."""
    router_id = str(uuid.UUID(int=seq))
    return {"router": {"id": router_id, "tenant_id": "astt-tenant", "name": f"r{seq}"},
            "astt_seq": seq}


@dataclass
class Bus:
    """The test-owned exchange, topic and pool of one test, and the config to reach them."""

    conf: cfg.ConfigOpts
    exchange: str
    topic: str
    pool: str

    def listener(self, intake: IntakeDouble) -> NotificationListener:
        return NotificationListener(
            self.conf, intake, topic=self.topic, exchange=self.exchange, pool=self.pool,
            requeue_pause=0.05,
        )

    @contextlib.contextmanager
    def notifier(self) -> Iterator[oslo_messaging.Notifier]:
        """A Notifier publishing as Neutron does, on this test's exchange and topic.

        Leaving the block closes its connection cleanly, so RabbitMQ has
        routed every message published before.
        """
        conf = cfg.ConfigOpts()
        default_opts = next(opts for group, opts in messaging_opts.list_opts() if group is None)
        conf.register_opts(default_opts)
        conf([])
        conf.set_override("control_exchange", self.exchange)
        transport = oslo_messaging.get_notification_transport(conf, url=RABBIT_URL)
        try:
            yield oslo_messaging.Notifier(
                transport, publisher_id="network.astt", driver="messagingv2", topics=[self.topic]
            )
        finally:
            transport.cleanup()

    def publish(self, seqs: range, event_type: str = "router.create.end") -> None:
        with self.notifier() as notifier:
            for seq in seqs:
                notifier.info(CONTEXT, event_type, router_payload(seq))


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[Bus]:
    bus = Bus(load_conf(tmp_path), owned_name("exchange"), owned_name("topic"), owned_name("pool"))
    yield bus
    # The Notifier declares a default queue per priority, named after the topic.
    delete_from_broker(
        [bus.pool, f"{bus.topic}.info", f"{bus.topic}.error"], [bus.exchange]
    )


@contextlib.contextmanager
def running(listener: NotificationListener) -> Iterator[NotificationListener]:
    listener.start()
    try:
        yield listener
    finally:
        listener.stop()


def test_info_notifications_reach_the_intake_in_order_and_are_acknowledged(bus: Bus) -> None:
    intake = IntakeDouble()
    with running(bus.listener(intake)):
        with bus.notifier() as notifier:
            notifier.error(CONTEXT, "router.create.end", router_payload(0))
            for seq in (1, 2, 3):
                notifier.info(CONTEXT, "router.create.end", router_payload(seq))
        wait_until(lambda: len(intake.accepted) >= 3, "three notifications handled")

    # The ERROR one was published first: had it been consumed, it would come first.
    assert intake.sequence() == [1, 2, 3]
    event_type, payload, context = intake.accepted[0]
    assert (event_type, payload) == ("router.create.end", router_payload(1))
    assert context["project_id"] == "astt-tenant"
    assert ready_messages(bus.pool) == 0


def test_a_closed_intake_gets_the_message_again_later(bus: Bus) -> None:
    intake = IntakeDouble(closed_for=1)
    with running(bus.listener(intake)):
        bus.publish(range(1, 2))
        wait_until(lambda: intake.accepted != [], "the requeued message handled")

    assert intake.calls == 2
    assert intake.sequence() == [1]
    assert ready_messages(bus.pool) == 0


def test_notifications_published_while_stopped_wait_in_the_orchestrator_queue(bus: Bus) -> None:
    with running(bus.listener(IntakeDouble())):
        pass  # declares the queue, as an orchestrator's first start does
    bus.publish(range(1, 6))
    assert ready_messages(bus.pool) == 5

    intake = IntakeDouble()
    with running(bus.listener(intake)):
        wait_until(lambda: len(intake.accepted) >= 5, "the waiting notifications handled")

    assert intake.sequence() == [1, 2, 3, 4, 5]


def test_dropped_connections_lose_no_notification(bus: Bus) -> None:
    gate = threading.Event()
    intake = IntakeDouble(gate=gate)
    before, after = range(1, 21), range(21, 31)
    with running(bus.listener(intake)):
        bus.publish(before)
        wait_until(lambda: intake.calls >= 1, "a notification in hand")

        try:
            dropped = close_this_process_connections()
        finally:
            gate.set()  # a held notification would keep the listener from stopping
        assert dropped >= 1
        bus.publish(after)
        expected = set(before) | set(after)
        wait_until(lambda: set(intake.sequence()) == expected, "every notification handled")
        # Redeliveries of messages whose acknowledgement died with the
        # connection must be handled and acknowledged too, not held.
        wait_until(lambda: messages_held(bus.pool) == 0, "every redelivery acknowledged")

    handled = intake.sequence()
    assert set(handled) == expected  # at least once each: redelivery may repeat one
    assert ready_messages(bus.pool) == 0
