"""The instance manager: what one resource's appliance instances are doing, and acting on them.

The state machine decides *when* to boot, configure or stop; this module does
it, through three interfaces: the resource driver (the network model), the
provisioner (the platform appliances run on) and the appliance client (each
appliance's agent). It keeps only what it cannot read back from those: the
instances it booted and by when each must answer.

Facts it maintains, each one a flaw of the original fixed:

- An instance that has not answered within ``boot_timeout`` of its boot is a
  failed boot: it is destroyed and the state machine boots again or gives up
  (the original never enforced the timeout and polled booting appliances forever).
- Instances the platform lists under this resource's name are adopted only
  when they may be healthy; duplicates, members HA no longer needs, instances
  in ERROR and instances stuck booting are destroyed, not silently re-managed.
- An instance that stops answering is destroyed, not just forgotten.
- Every state change reaches ``driver.report_status`` once, and only real
  states do (the original pushed ``None`` to Neutron after a stop).
- A hot-unplug releases each detached port of every instance (the original
  released a stale loop variable, for the last instance only).

What it does is counted (boots and their failures, rebuilds, config pushes
and health probes, with their latency: :mod:`~astara.orchestrator.metrics_worker`),
and each failure and successful configuration is recorded in ``outcomes`` for
the reports: failures are handled here, never raised, so nothing else sees them.

``attempts`` counts boots that have not led to a configured appliance yet: a
full boot counts when it is started; a boot that restores one missing HA
member (DEGRADED) counts only if it fails, so restoring a pair is never taken
for a failing resource.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_fixed

from astara.drivers.base import PortSpec, ResourceDriver
from astara.orchestrator import metrics_worker
from astara.orchestrator.appliance_client import (
    ApplianceClient,
    ApplianceConfigError,
    ApplianceError,
)
from astara.orchestrator.event import Resource
from astara.orchestrator.instance_state import InstanceState
from astara.orchestrator.machine import Outcomes
from astara.provisioners.base import (
    InstanceInfo,
    InstanceStatus,
    Provisioner,
    ProvisionerError,
    member_index,
    member_name,
)

LOG = logging.getLogger(__name__)

StatsCallback = Callable[[Resource, Mapping[str, Any]], None]

#: Seconds between two looks at an appliance's interfaces after a hot-plug.
_HOTPLUG_POLL = 1.0
#: VRRP priorities: fixed per member index, so the master does not change
#: when the other member is replaced (the original ranked members by age).
_HA_PRIORITIES = (100, 50)


class _Member:
    """One appliance instance of the resource (one of two for an HA pair)."""

    __slots__ = ("counted", "deadline", "index", "info")

    def __init__(self, index: int, info: InstanceInfo, deadline: float | None, counted: bool):
        self.index = index
        self.info = info
        #: clock() time by which its agent must first answer; None once it has.
        self.deadline = deadline
        #: True when its boot already counts in ``attempts``.
        self.counted = counted

    @property
    def answered(self) -> bool:
        return self.deadline is None

    @property
    def address(self) -> str | None:
        return self.info.management_address


class InstanceManager:
    """Boots, watches, configures, re-plugs and stops one resource's appliance."""

    __slots__ = (
        "_alive_timeout",
        "_boot_timeout",
        "_client",
        "_clock",
        "_config_timeout",
        "_destroying",
        "_driver",
        "_hotplug_timeout",
        "_max_retries",
        "_members",
        "_metrics",
        "_provisioner",
        "_reported",
        "_retry_delay",
        "_sleep",
        "_state",
        "_stats_callback",
        "_wall_clock",
        "attempts",
        "error_since",
        "outcomes",
    )

    def __init__(
        self,
        driver: ResourceDriver,
        provisioner: Provisioner,
        appliance_client: ApplianceClient,
        *,
        boot_timeout: float = 600,
        alive_timeout: float = 3,
        config_timeout: float = 90,
        max_retries: int = 3,
        retry_delay: float = 1,
        hotplug_timeout: float = 10,
        stats_callback: StatsCallback | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
        metrics: metrics_worker.WorkerMetrics = metrics_worker.PROCESS,
    ) -> None:
        if max_retries < 1:
            raise ValueError(f"max_retries must be at least 1, not {max_retries}")
        self._driver = driver
        self._provisioner = provisioner
        self._client = appliance_client
        self._boot_timeout = boot_timeout
        self._alive_timeout = alive_timeout
        self._config_timeout = config_timeout
        self._max_retries = max_retries
        self._retry_delay = retry_delay
        self._hotplug_timeout = hotplug_timeout
        self._stats_callback = stats_callback
        self._clock = clock
        self._sleep = sleep
        self._wall_clock = wall_clock
        self._metrics = metrics
        #: The last failure and configuration, for the reports.
        self.outcomes = Outcomes(wall_clock)
        self._members: dict[int, _Member] = {}
        #: Ids of instances whose deletion was requested but that are still listed.
        self._destroying: set[str] = set()
        self._state = InstanceState.DOWN
        self._reported: InstanceState | None = None
        #: Boots that have not led to a configured appliance yet.
        self.attempts = 0
        #: clock() time the resource entered ERROR, None when it is not in ERROR.
        self.error_since: float | None = None

    # -- what the state machine reads ------------------------------------------------

    @property
    def state(self) -> InstanceState:
        return self._state

    @property
    def resource(self) -> Resource:
        return self._driver.resource

    @property
    def boot_deadline(self) -> float | None:
        """The earliest clock() time a booting instance must answer by, if any boots."""
        deadlines = [m.deadline for m in self._members.values() if m.deadline is not None]
        return min(deadlines, default=None)

    @property
    def instance_ids(self) -> tuple[str, ...]:
        """Platform ids of the tracked instances, member 0 first (for reports and tests)."""
        return tuple(self._members[index].info.id for index in sorted(self._members))

    # -- operations --------------------------------------------------------------

    def update_state(self) -> InstanceState:
        """Re-read the resource, the platform and the appliances; return the new state."""
        if not self._driver.refresh():
            return self._set_state(InstanceState.GONE)
        self._sync_instances()
        self._probe()
        return self._set_state(self._health_state(keep_configured=True))

    def check_boot(self) -> InstanceState:
        """Look whether booting instances answer yet; fail those past ``boot_timeout``.

        One probe per booting instance: the state machine calls again later,
        with a growing interval, instead of waiting here.
        """
        return self.update_state()

    def boot(self, image_uuid: str | None) -> InstanceState:
        """Boot every missing member from ``image_uuid`` (None: the provisioner's default)."""
        if not self._driver.refresh():
            return self._set_state(InstanceState.GONE)
        self._sync_instances()
        restoring = self._state is InstanceState.DEGRADED and bool(self._members)
        missing = [i for i in range(self._required_count) if i not in self._members]
        if missing and not restoring:
            self.attempts += 1
        for index in missing:
            self._boot_member(index, image_uuid, counted=not restoring)
        return self._set_state(self._health_state(keep_configured=False))

    def configure(self) -> InstanceState:
        """Push the resource's current configuration to every answering member."""
        if not self._driver.refresh():
            return self._set_state(InstanceState.GONE)
        ready = [m for m in self._members.values() if m.answered and m.address]
        if not ready:
            return self._set_state(self._health_state(keep_configured=False))
        plans: dict[int, dict[str, Any]] = {}
        try:
            for member in ready:
                plan = self._config_plan(member)
                if plan is None:
                    return self._set_state(InstanceState.REPLUG)
                plans[member.index] = plan
        except ApplianceError as exc:
            LOG.warning("%s: cannot read the appliance's interfaces: %s", self._name, exc)
            self.outcomes.failed(f"cannot read the appliance's interfaces: {exc}")
            return self._set_state(InstanceState.RESTART)
        except Exception as exc:
            # The network model failed us, not the appliance: retry later, no reboot.
            LOG.warning("%s: cannot build the config: %s", self._name, exc)
            self.outcomes.failed(f"cannot build the config: {exc}")
            return self._set_state(InstanceState.UP)
        failed = [m for m in ready if not self._push_config(m, plans[m.index])]
        if len(failed) == len(ready):
            return self._set_state(InstanceState.RESTART)
        for member in failed:
            self._fail(member, "refused its configuration")
        state = self._health_state(keep_configured=False)
        if state is InstanceState.UP:
            state = InstanceState.CONFIGURED
            self.attempts = 0
            self.outcomes.configured()
        return self._set_state(state)

    def replug(self) -> InstanceState:
        """Hot-plug and unplug ports until each member has exactly the resource's networks."""
        detached: list[PortSpec] = []
        for member in [m for m in self._members.values() if m.answered and m.address]:
            if not self._replug_member(member, detached):
                return self._set_state(InstanceState.RESTART)
        for port in detached:
            self._release_port(port)
        self._sync_instances()
        if not self._members:
            return self._set_state(InstanceState.RESTART)
        state = self._health_state(keep_configured=False)
        return self._set_state(state)

    def stop(self) -> InstanceState:
        """Destroy every instance of the resource and release its ports: DOWN, or GONE."""
        exists = self._driver.refresh()
        listed = self._listed_members()
        ids = {m.info.id for m in self._members.values()} | {i.id for i in listed}
        failures = [i for i in sorted(ids) if not self._destroy(i, "is being stopped")]
        self._members.clear()
        if failures:
            raise ProvisionerError(f"{self._name}: cannot destroy {', '.join(failures)}")
        self._driver.release_ports()
        return self._set_state(InstanceState.DOWN if exists else InstanceState.GONE)

    def set_error(self) -> InstanceState:
        """Give up booting: too many attempts failed.

        A resource that no longer exists is GONE instead: ERROR would hold it
        (POLLs are ignored in ERROR) until someone deletes it by hand.
        """
        if not self._driver.refresh():
            return self._set_state(InstanceState.GONE)
        self.error_since = self._clock()
        LOG.error("%s: %d boot attempts failed; in ERROR", self._name, self.attempts)
        # The failure that led here says more than the count: keep it in the message.
        previous = self.outcomes.last_error
        cause = f" (last: {previous[0]})" if previous else ""
        self.outcomes.failed(f"{self.attempts} boot attempts failed; in ERROR{cause}")
        return self._set_state(InstanceState.ERROR)

    def clear_error(self) -> InstanceState:
        """Leave ERROR with a fresh boot counter, to try again."""
        self.error_since = None
        self.attempts = 0
        return self._set_state(InstanceState.DOWN)

    def start_rebuild(self) -> None:
        """An operator-requested rebuild: forget failed boots (a fresh count), count it."""
        self.attempts = 0
        self._metrics.rebuilt(self.resource.driver)

    def read_stats(self) -> None:
        """Read each answering member's traffic counters and hand them to the stats callback.

        The callback receives ``{instance name: {ifname: {"rx_bytes": ...}}}``.
        """
        if self._stats_callback is None:
            return
        counters: dict[str, Any] = {}
        for member in self._members.values():
            if not (member.answered and member.address):
                continue
            try:
                counters[member.info.name] = self._client.read_counters(member.address)
            except ApplianceError as exc:
                LOG.warning("%s: cannot read counters: %s", self._name, exc)
        if counters:
            self._stats_callback(self.resource, counters)

    # -- the platform --------------------------------------------------------------

    @property
    def _name(self) -> str:
        return self._driver.appliance_name

    @property
    def _required_count(self) -> int:
        return len(_HA_PRIORITIES) if self._driver.is_ha else 1

    def _listed_members(self) -> list[InstanceInfo]:
        """The platform's instances that belong to this resource (not merely share a prefix)."""
        listed = self._provisioner.list_instances(self._name)
        return [i for i in listed if member_index(i.name, self._name) is not None]

    def _sync_instances(self) -> None:
        """Align the tracked members with what the platform lists."""
        listed = {info.id: info for info in self._listed_members()}
        self._destroying &= listed.keys()
        for member in list(self._members.values()):
            info = listed.pop(member.info.id, None)
            if info is None:
                LOG.warning("%s: instance %s vanished", self._name, member.info.id)
                self._forget(member)
            elif info.status == InstanceStatus.ERROR:
                self._fail(member, "is in ERROR on the platform")
            elif member.index >= self._required_count:
                self._destroy(member.info.id, "is an HA member the resource no longer needs")
                del self._members[member.index]
            else:
                member.info = info
        for info in listed.values():
            if info.id not in self._destroying:
                self._adopt_or_destroy(info)

    def _adopt_or_destroy(self, info: InstanceInfo) -> None:
        """Take over an instance booted before (by a previous run), unless it is stale."""
        index = member_index(info.name, self._name)
        if index is None:
            return
        age = self._wall_clock() - info.created_at
        if index >= self._required_count:
            reason = "is an HA member the resource does not need"
        elif index in self._members:
            reason = f"duplicates {self._members[index].info.id}"
        elif info.status == InstanceStatus.ERROR:
            reason = "is in ERROR on the platform"
        elif info.status == InstanceStatus.BUILDING and age > self._boot_timeout:
            reason = f"has been booting for {age:.0f} s"
        else:
            remaining = max(0.0, self._boot_timeout - age)
            self._members[index] = _Member(index, info, self._clock() + remaining, counted=True)
            LOG.info("%s: adopted instance %s", self._name, info.id)
            return
        self._destroy(info.id, reason)

    def _boot_member(self, index: int, image_uuid: str | None, counted: bool) -> None:
        name = member_name(self._name, index)
        try:
            management_port, ports = self._driver.ensure_ports(index)
            info = self._provisioner.boot(
                name, image_uuid, self._driver.flavor, management_port, ports
            )
        except Exception as exc:
            LOG.warning("%s: boot failed: %s", name, exc)
            self._boot_failed(f"boot of {name} failed: {exc}")
            if not counted:
                self.attempts += 1
            return
        LOG.info("%s: booted instance %s from image %s", name, info.id, image_uuid)
        self._metrics.booted(self.resource.driver)
        deadline = self._clock() + self._boot_timeout
        self._members[index] = _Member(index, info, deadline, counted)

    def _boot_failed(self, message: str) -> None:
        self._metrics.boot_failed(self.resource.driver)
        self.outcomes.failed(message)

    def _fail(self, member: _Member, why: str) -> None:
        """Destroy a member that cannot serve; a boot not counted yet counts now."""
        self._destroy(member.info.id, why)
        self._forget(member)

    def _forget(self, member: _Member) -> None:
        del self._members[member.index]
        if not member.counted:
            self.attempts += 1

    def _destroy(self, instance_id: str, why: str) -> bool:
        """Request one deletion; False when the platform refused (the next look retries)."""
        LOG.info("%s: destroying instance %s: it %s", self._name, instance_id, why)
        try:
            self._provisioner.destroy(instance_id)
        except Exception as exc:
            LOG.warning("%s: cannot destroy %s: %s", self._name, instance_id, exc)
            return False
        self._destroying.add(instance_id)
        return True

    # -- the appliances ------------------------------------------------------------

    def _probe(self) -> None:
        """Probe every member; fail those past their boot deadline or no longer answering.

        A booting member gets one probe (the state machine comes back later);
        one that answered before gets ``max_retries`` rounds, so one lost
        packet does not destroy a working appliance.
        """
        now = self._clock()
        established = [m for m in self._members.values() if m.answered]
        for member in [m for m in self._members.values() if not m.answered]:
            if self._answers(member):
                LOG.info("%s: instance %s answers", self._name, member.info.id)
                member.deadline = None
            elif member.deadline is not None and now >= member.deadline:
                why = f"did not answer within {self._boot_timeout:.0f} s"
                self._boot_failed(f"instance {member.info.id} {why}")
                self._fail(member, why)
        silent = established
        for round_number in range(self._max_retries):
            if round_number:
                self._sleep(self._retry_delay)
            silent = [m for m in silent if not self._answers(m)]
            if not silent:
                return
        for member in silent:
            self.outcomes.failed(f"instance {member.info.id} stopped answering")
            self._fail(member, "stopped answering")

    def _answers(self, member: _Member) -> bool:
        """One liveness probe; only one of a member that answered before can fail."""
        address = member.address
        if address is None:
            return False
        started = self._clock()
        alive = self._client.is_alive(address, self._alive_timeout)
        self._metrics.health_polled(
            self.resource.driver,
            seconds=self._clock() - started,
            failed=member.answered and not alive,
        )
        return alive

    def _health_state(self, *, keep_configured: bool) -> InstanceState:
        """The state the tracked members amount to (no I/O)."""
        if not self._members:
            return InstanceState.DOWN
        if any(not m.answered for m in self._members.values()):
            return InstanceState.BOOTING
        if len(self._members) < self._required_count:
            return InstanceState.DEGRADED
        if keep_configured and self._state is InstanceState.CONFIGURED:
            return InstanceState.CONFIGURED
        return InstanceState.UP

    def _appliance_macs(self, member: _Member) -> dict[str, str]:
        """MAC -> interface name, as the member's agent reports them."""
        interfaces = self._client.get_interfaces(member.address or "")
        return {
            str(i["lladdr"]).lower(): str(i["ifname"])
            for i in interfaces
            if i.get("lladdr") and i.get("ifname")
        }

    def _config_plan(self, member: _Member) -> dict[str, Any] | None:
        """The config to push to ``member``, or None when its ports must be re-plugged first."""
        management_port, ports = self._driver.ensure_ports(member.index)
        macs = self._appliance_macs(member)
        plugged = {p.port_id for p in member.info.ports if p.role != "management"}
        wanted = [management_port, *ports]
        if plugged != {p.port_id for p in ports} or any(
            p.mac_address.lower() not in macs for p in wanted
        ):
            return None
        config = self._driver.build_config(member.address or "", macs)
        if self._driver.is_ha:
            config["ha_config"] = {
                **config.get("ha_config", {}),
                "peers": [
                    m.address
                    for m in self._members.values()
                    if m.index != member.index and m.address
                ],
                "priority": _HA_PRIORITIES[member.index],
            }
        return config

    def _push_config(self, member: _Member, config: Mapping[str, Any]) -> bool:
        """Push ``config``, retrying what may pass next time; False when it never took."""
        retrying = Retrying(
            stop=stop_after_attempt(self._max_retries),
            wait=wait_fixed(self._retry_delay),
            sleep=self._sleep,
            retry=retry_if_exception(_worth_retrying),
            reraise=True,
        )
        started = self._clock()
        try:
            retrying(self._client.put_config, member.address or "", config, self._config_timeout)
        except ApplianceError as exc:
            LOG.warning("%s: instance %s: %s", self._name, member.info.id, exc)
            self._config_pushed(ok=False, started=started)
            self.outcomes.failed(f"config push to instance {member.info.id} failed: {exc}")
            return False
        self._config_pushed(ok=True, started=started)
        return True

    def _config_pushed(self, *, ok: bool, started: float) -> None:
        self._metrics.config_pushed(self.resource.driver, ok=ok, seconds=self._clock() - started)

    def _replug_member(self, member: _Member, detached: list[PortSpec]) -> bool:
        """Plug and unplug ``member``'s ports (failing it if that fails).

        Returns False when only a reboot can help: the appliance does not even
        show the ports the platform says are plugged into it.
        """
        management_port, ports = self._driver.ensure_ports(member.index)
        plugged = [p for p in member.info.ports if p.role != "management"]
        try:
            seen = self._appliance_macs(member)
        except ApplianceError as exc:
            LOG.warning("%s: cannot read interfaces before re-plug: %s", self._name, exc)
            return False
        if any(p.mac_address.lower() not in seen for p in (management_port, *plugged)):
            LOG.warning("%s: the platform and the appliance disagree on ports", self._name)
            return False
        wanted_ids = {p.port_id for p in ports}
        plugged_ids = {p.port_id for p in plugged}
        to_plug = [p for p in ports if p.port_id not in plugged_ids]
        to_unplug = [p for p in plugged if p.port_id not in wanted_ids]
        try:
            for port in to_plug:
                self._provisioner.plug(member.info.id, port)
            for port in to_unplug:
                self._provisioner.unplug(member.info.id, port)
                detached.append(port)
        except Exception as exc:
            self._fail(member, f"could not be re-plugged: {exc}")
            return True
        wanted_macs = {p.mac_address.lower() for p in (management_port, *ports)}
        gone_macs = {p.mac_address.lower() for p in to_unplug}
        if not self._wait_for_interfaces(member, wanted_macs, gone_macs):
            self._fail(member, f"did not show its new ports within {self._hotplug_timeout} s")
        return True

    def _wait_for_interfaces(self, member: _Member, wanted: set[str], gone: set[str]) -> bool:
        """Poll the appliance until it shows every wanted MAC and none of the unplugged ones."""
        polls = max(1, math.ceil(self._hotplug_timeout / _HOTPLUG_POLL))
        for poll in range(polls):
            if poll:
                self._sleep(_HOTPLUG_POLL)
            try:
                seen = set(self._appliance_macs(member))
            except ApplianceError:
                continue
            if wanted <= seen and not gone & seen:
                return True
        return False

    def _release_port(self, port: PortSpec) -> None:
        try:
            self._driver.release_port(port)
        except Exception as exc:
            LOG.warning("%s: cannot release port %s: %s", self._name, port.port_id, exc)

    # -- reporting -------------------------------------------------------------------

    def _set_state(self, state: InstanceState) -> InstanceState:
        """Record ``state`` and report it to the network model when it changed.

        GONE is not reported: the resource no longer exists to carry a status.
        A report that failed is tried again the next time a state is recorded.

        Entering DEGRADED is logged: it lasts only while the missing HA member
        boots (under a second on netns), the router's status shows it only as
        BUILD, and without this line an operator could not tell from the log
        that a pair ran on one member.
        """
        if state is InstanceState.DEGRADED and self._state is not InstanceState.DEGRADED:
            LOG.warning(
                "%s: DEGRADED: %d of %d members left",
                self._name,
                len(self._members),
                self._required_count,
            )
        self._state = state
        if state is InstanceState.GONE or state is self._reported:
            return state
        try:
            self._driver.report_status(state)
        except Exception as exc:
            LOG.warning("%s: cannot report status %s: %s", self._name, state, exc)
        else:
            self._reported = state
        return state


def _worth_retrying(exc: BaseException) -> bool:
    """Whether the same push may pass a moment later.

    Yes for an unreachable or failing (5xx) agent, and for a 409 (an
    interface not plugged in yet: hot-plugs take a moment to show); no for
    any other refusal (4xx), which the same config will get again.
    """
    if isinstance(exc, ApplianceConfigError):
        return exc.status_code >= 500 or exc.status_code == 409
    return isinstance(exc, ApplianceError)
