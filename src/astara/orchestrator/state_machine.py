"""One resource's state machine: its event queue and the walk through its states.

A worker thread hands events to :meth:`StateMachine.send_message` and, when it
returns True, calls :meth:`StateMachine.update`, which walks the states (see
:mod:`astara.orchestrator.states` for the diagram) until the machine rests in
CalcAction with nothing queued, or exits because the resource is gone.

What the machine promises the worker:

- Its queue is collapsed on every arrival (:func:`collapse`), so it never
  holds more than two actions however many events arrive.
- Nothing is lost. An action that fails (an exception, a boot that did not
  start, a config the network model could not build) is deferred and retried
  after a growing pause; an action held back by the ERROR cooldown runs when
  the cooldown ends (the original dropped both).
- It never busy-loops. While an appliance boots, or while a retry waits,
  :meth:`StateMachine.wake_at` says when it wants to run again and
  :meth:`StateMachine.has_more_work` is False; the worker sends a POLL then.
  Boot checks start 0.5 s apart and double up to 5 s.
- Exceptions inside a state are logged with the resource id and never escape
  :meth:`StateMachine.update`.
- ``send_message`` may be called by any thread while one thread runs
  ``update``: a small lock guards the queue, never held while a state works.
- What it did can be seen without its log: every transition and every action
  a collapse saved is counted (:mod:`~astara.orchestrator.metrics_worker`),
  and :attr:`StateMachine.outcomes` holds its last failure and configuration.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from astara.drivers.base import ResourceDriver
from astara.orchestrator import metrics_worker, states
from astara.orchestrator.appliance_client import ApplianceError
from astara.orchestrator.collapse import QUEUEABLE, collapse, discarded
from astara.orchestrator.event import Crud, Event, Resource
from astara.orchestrator.instance_manager import InstanceManager
from astara.orchestrator.instance_state import InstanceState
from astara.orchestrator.machine import Outcomes
from astara.provisioners.base import ProvisionerError

LOG = logging.getLogger(__name__)

#: Body keys a REBUILD may carry its image in: the event's own, and those the
#: CLI has always sent (the original read only the first, so the others were lost).
IMAGE_KEYS = ("image_uuid", "resource_image_uuid", "router_image_uuid")

#: States one update() may run through at most. A healthy walk takes under
#: ten; more means two states keep sending the machine to each other, and the
#: worker thread must not spin on it.
MAX_STEPS_PER_UPDATE = 50


class StateMachine:
    """The state machine of one resource (one router, one load balancer)."""

    __slots__ = (
        "_action",
        "_arrivals",
        "_boot_poll",
        "_boot_poll_initial",
        "_boot_poll_max",
        "_clock",
        "_deferred",
        "_deleted",
        "_driver",
        "_image_override",
        "_lock",
        "_metrics",
        "_queue",
        "_queue_warning_threshold",
        "_retried",
        "_retry_interval",
        "_retry_interval_initial",
        "_retry_interval_max",
        "_state",
        "_wake_at",
        "error_state_cooldown",
        "instances",
        "reboot_error_threshold",
        "resource",
    )

    def __init__(
        self,
        resource: Resource,
        driver: ResourceDriver,
        instances: InstanceManager,
        *,
        reboot_error_threshold: int = 5,
        error_state_cooldown: float = 30,
        queue_warning_threshold: int = 100,
        clock: Callable[[], float] = time.monotonic,
        boot_poll_interval: float = 0.5,
        max_boot_poll_interval: float = 5,
        retry_interval: float = 1,
        max_retry_interval: float = 60,
        metrics: metrics_worker.WorkerMetrics = metrics_worker.PROCESS,
    ) -> None:
        if driver.resource != resource or instances.resource != resource:
            raise ValueError(f"driver and instance manager must both serve {resource}")
        self.resource = resource
        self.instances = instances
        #: Boots (attempts) after which the resource goes to ERROR.
        self.reboot_error_threshold = reboot_error_threshold
        #: Seconds after entering ERROR during which actions wait.
        self.error_state_cooldown = error_state_cooldown
        self._driver = driver
        self._queue_warning_threshold = queue_warning_threshold
        self._clock = clock
        self._metrics = metrics
        #: Guards _queue, _deferred, _wake_at, _deleted and _arrivals.
        self._lock = threading.Lock()
        self._state: states.State = states.CALC_ACTION
        self._action = Crud.POLL
        self._queue: tuple[Crud, ...] = ()
        #: Actions to queue again with the next event (the wake-up POLL at the latest).
        self._deferred: tuple[Crud, ...] = ()
        self._wake_at: float | None = None
        self._deleted = False
        self._image_override: str | None = None
        self._arrivals = 0
        self._boot_poll_initial = boot_poll_interval
        self._boot_poll_max = max_boot_poll_interval
        self._boot_poll = boot_poll_interval
        self._retry_interval_initial = retry_interval
        self._retry_interval_max = max_retry_interval
        self._retry_interval = retry_interval
        self._retried = False

    # -- the worker's side -------------------------------------------------------

    def concerns(self, event: Event) -> bool:
        """Whether a tenant-wide or wildcard event may touch this resource (its driver judges)."""
        return self._driver.may_concern(event.body)

    def send_message(self, event: Event) -> bool:
        """Queue the event's action; False when it is ignored (nothing to run then).

        Ignored: anything once the machine is deleted, a POLL while in ERROR
        (health checks must not wake a resource that gave up) unless an action
        was deferred to it, and actions a state machine does not handle
        (COMMAND, REBALANCE belong to the worker).

        Deferred actions join the queue with any event, so the wake-up POLL
        the worker sends at :meth:`wake_at` brings them back.
        """
        crud = event.crud
        if crud not in QUEUEABLE:
            LOG.warning("%s: %s is not a state-machine action; ignored", self._label, crud)
            return False
        with self._lock:
            if self._deleted:
                return False
            in_error = self.instance_state is InstanceState.ERROR
            if crud is Crud.POLL and in_error and not self._deferred:
                return False
            if crud is Crud.REBUILD:
                self._image_override = self._requested_image(event.body)
            pending = (*self._queue, *self._deferred, crud)
            self._queue = collapse(pending)
            saved = discarded(pending, self._queue)
            self._deferred = ()
            self._wake_at = None
            self._arrivals += 1
            arrivals = self._arrivals
            # Before the update thread can see the action: it reads the resource afresh.
            self._driver.news()
        if saved:
            self._metrics.collapsed(saved)
        if arrivals == self._queue_warning_threshold:
            LOG.warning(
                "%s: %d events arrived since the last run; is its worker stuck?",
                self._label,
                arrivals,
            )
        return True

    def update(self) -> None:
        """Run states until the machine rests (CalcAction, empty queue) or exits."""
        with self._lock:
            if self._deleted:
                return
            self._arrivals = 0
        self._retried = False
        steps = 0
        while not self._at_rest():
            if steps == MAX_STEPS_PER_UPDATE:
                LOG.error(
                    "%s: no rest after %d states (last %s); retrying later",
                    self._label,
                    steps,
                    self._state.name,
                )
                self.outcomes.failed(f"no rest after {steps} states (last {self._state.name})")
                # Everything waits for the retry, or the worker would call again at once.
                self.retry_later(self._action, *self.drop_queue())
                self._state = states.CALC_ACTION
                break
            self._step()
            steps += 1
            if self._state is states.EXIT:
                self._finish()
                break
        if not self._retried:
            self._retry_interval = self._retry_interval_initial

    def has_more_work(self) -> bool:
        """True when update() has something to do right now."""
        with self._lock:
            return not self._deleted and bool(self._queue)

    def wake_at(self) -> float | None:
        """The clock() time at which the machine wants a POLL, or None."""
        with self._lock:
            return None if self._deleted else self._wake_at

    @property
    def deleted(self) -> bool:
        return self._deleted

    @property
    def instance_state(self) -> InstanceState:
        return self.instances.state

    @property
    def current_state_name(self) -> str:
        return self._state.name

    @property
    def outcomes(self) -> Outcomes:
        """The last failure and configuration (kept with the instances, which see most)."""
        return self.instances.outcomes

    def queue_depth(self) -> int:
        return len(self._queue)

    def drop_queue(self) -> tuple[Crud, ...]:
        """Empty the queue, deferred actions included; return them, strongest first.

        The worker calls it when the resource moves away or the process stops,
        to hand the actions on instead of losing them.
        """
        with self._lock:
            dropped = collapse((*self._queue, *self._deferred))
            self._queue = ()
            self._deferred = ()
            self._wake_at = None
        return dropped

    # -- the states' side ---------------------------------------------------------

    @property
    def image_uuid(self) -> str | None:
        """The image the next boot uses: the one a REBUILD asked for, else the driver's.

        A requested image stays in force for later boots (an automatic reboot
        must not quietly revert it) until a REBUILD without an image.
        """
        return self._image_override or self._driver.image_uuid

    def take_next_action(self) -> Crud:
        """Pop the first queued action (the queue is collapsed: strongest first)."""
        with self._lock:
            action, self._queue = self._queue[0], self._queue[1:]
        return action

    def retry_later(self, *actions: Crud) -> None:
        """Defer ``actions`` for a pause that doubles with each consecutive failure."""
        self.defer(self._clock() + self._retry_interval, *actions)
        self._retry_interval = min(self._retry_interval * 2, self._retry_interval_max)
        self._retried = True

    def defer(self, until: float, *actions: Crud) -> None:
        """Queue ``actions`` again with the next event, and ask for a POLL at ``until``."""
        with self._lock:
            self._deferred = collapse((*self._deferred, *actions))
            self._wake_after(until)

    def in_error_cooldown(self) -> bool:
        since = self.instances.error_since
        return since is not None and self._clock() < since + self.error_state_cooldown

    def defer_until_cooldown_ends(self, action: Crud) -> None:
        since = self.instances.error_since
        if since is not None:
            self.defer(since + self.error_state_cooldown, action)

    def wake_for_boot_check(self) -> None:
        """Ask to run again soon, no later than the boot deadline, a bit later each time."""
        wake = self._clock() + self._boot_poll
        deadline = self.instances.boot_deadline
        if deadline is not None:
            wake = min(wake, deadline)
        with self._lock:
            self._wake_after(wake)
        self._boot_poll = min(self._boot_poll * 2, self._boot_poll_max)

    def reset_boot_checks(self) -> None:
        """A boot just started: its checks start at the shortest interval."""
        self._boot_poll = self._boot_poll_initial

    # -- internals -------------------------------------------------------------------

    @property
    def _label(self) -> str:
        return f"{self.resource.driver} {self.resource.id}"

    def _wake_after(self, when: float) -> None:
        """Ask for a POLL at ``when`` (or earlier if already asked); hold the lock."""
        self._wake_at = when if self._wake_at is None else min(self._wake_at, when)

    def _at_rest(self) -> bool:
        if self._state is not states.CALC_ACTION:
            return False
        degraded = self.instance_state is InstanceState.DEGRADED
        with self._lock:
            if degraded and not self._queue and not self._deferred:
                # An HA pair lost a member: restore it now rather than at the next event.
                self._queue = (Crud.CLUSTER_REBUILD,)
            return not self._queue

    def _step(self) -> None:
        state = self._state
        try:
            action = state.execute(self._action, self)
            next_state = state.transition(action, self)
        except (ApplianceError, ProvisionerError) as exc:
            LOG.warning("%s: %s failed (retrying later): %s", self._label, state.name, exc)
            self.outcomes.failed(f"{state.name}: {exc}")
        except Exception as exc:
            LOG.error(
                "%s: %s failed (retrying later): %s: %s",
                self._label,
                state.name,
                type(exc).__name__,
                exc,
            )
            LOG.debug("%s: %s failure details", self._label, state.name, exc_info=True)
            self.outcomes.failed(f"{state.name}: {type(exc).__name__}: {exc}")
        else:
            LOG.debug(
                "%s: %s -> %s (%s)",
                self._label,
                state.name,
                next_state.name,
                action,
                extra={"machine": self, "transition": (state.name, next_state.name)},
            )
            self._metrics.transition(state.name, next_state.name)
            self._action = action
            self._state = next_state
            return
        self.retry_later(self._action)
        self._state = states.CALC_ACTION

    def _finish(self) -> None:
        LOG.info("%s: resource gone and appliance removed", self._label)
        with self._lock:
            self._deleted = True
            self._queue = self._deferred = ()
            self._wake_at = None

    def _requested_image(self, body: Mapping[str, Any]) -> str | None:
        for key in IMAGE_KEYS:
            value = body.get(key)
            if value in (None, ""):
                continue
            if isinstance(value, str):
                return value
            LOG.error(
                "%s: rebuild image %s=%r is not an id; using the default", self._label, key, value
            )
        return None
