"""The states of a resource's state machine: one class per box of the diagram.

Each state has two methods. ``execute(action, machine)`` does the state's work
and returns the action to carry on with; ``transition(action, machine)``
returns the next state. The diagram, read from the ``transition`` methods::

    CalcAction ─┬─ GONE or DELETE ───────────────► StopInstance
                ├─ ERROR: POLL ─────────────────► CalcAction (nothing to do)
                │         within the cooldown ──► CalcAction (action deferred to its end)
                │         otherwise ────────────► ClearError ─► (as below)
                ├─ REBUILD ──────────────────────► RebuildInstance
                ├─ CLUSTER_REBUILD, DEGRADED/DOWN► CreateInstance
                ├─ BOOTING ──────────────────────► CheckBoot
                ├─ DOWN or DEGRADED ─────────────► CreateInstance
                └─ otherwise ────────────────────► Alive
    Alive ───────── GONE ► Stop; DOWN/DEGRADED ► Create; BOOTING ► CheckBoot;
                    CONFIGURED: POLL ► CalcAction, READ ► ReadStats; else ► Configure
    CreateInstance ─ GONE ► Stop; ERROR ► CalcAction; boot failed ► CalcAction (retry
                    later); else ► CheckBoot
    CheckBoot ───── DOWN/GONE ► Stop; UP ► Configure; else ► CalcAction (wake up later)
    ConfigureInstance ─ REPLUG ► Replug; RESTART/DOWN/GONE ► Stop; UP ► PushUpdate;
                    READ ► ReadStats; else ► CalcAction
    ReplugInstance ─ RESTART/DOWN/GONE ► Stop; else ► Configure
    StopInstance ── GONE or DELETE ► Exit; else ► CreateInstance
    RebuildInstance ─ GONE ► Exit; else ► CreateInstance
    PushUpdate, ReadStats ► CalcAction
    ClearError ──── as CalcAction would, now that the state is DOWN

States hold no data (the machine does), so each is a single shared object.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from astara.orchestrator.event import Crud
from astara.orchestrator.instance_state import InstanceState

if TYPE_CHECKING:
    from astara.orchestrator.state_machine import StateMachine

_STOPPED = (InstanceState.RESTART, InstanceState.DOWN, InstanceState.GONE)


class State:
    """One box of the diagram."""

    __slots__ = ()

    @property
    def name(self) -> str:
        return type(self).__name__

    def execute(self, action: Crud, machine: StateMachine) -> Crud:
        """Do this state's work; return the action to carry on with."""
        return action

    def transition(self, action: Crud, machine: StateMachine) -> State:
        """The next state, from the action and the instance's state."""
        return CALC_ACTION


class CalcAction(State):
    """Take the next action from the queue and route it; the machine rests here."""

    __slots__ = ()

    def execute(self, action: Crud, machine: StateMachine) -> Crud:
        return machine.take_next_action()

    def transition(self, action: Crud, machine: StateMachine) -> State:
        state = machine.instances.state
        # DELETE is never held back by ERROR: a resource that goes must not leak its appliance.
        if state is InstanceState.ERROR and action is not Crud.DELETE:
            if action is Crud.POLL:
                return CALC_ACTION
            if machine.in_error_cooldown():
                machine.defer_until_cooldown_ends(action)
                return CALC_ACTION
            return CLEAR_ERROR
        return route(action, state)


def route(action: Crud, state: InstanceState) -> State:
    """Where an action goes from CalcAction for an instance that is not in ERROR."""
    if state is InstanceState.GONE or action is Crud.DELETE:
        return STOP_INSTANCE
    if action is Crud.REBUILD:
        return REBUILD_INSTANCE
    if action is Crud.CLUSTER_REBUILD and state in (InstanceState.DEGRADED, InstanceState.DOWN):
        return CREATE_INSTANCE
    if state is InstanceState.BOOTING:
        return CHECK_BOOT
    if state in (InstanceState.DOWN, InstanceState.DEGRADED):
        return CREATE_INSTANCE
    return ALIVE


class ClearError(State):
    """Leave ERROR (the cooldown is over and a real action arrived), then carry on."""

    __slots__ = ()

    def execute(self, action: Crud, machine: StateMachine) -> Crud:
        machine.instances.clear_error()
        return action

    def transition(self, action: Crud, machine: StateMachine) -> State:
        return route(action, machine.instances.state)


class Alive(State):
    """Check the appliance still answers and the resource still exists."""

    __slots__ = ()

    def execute(self, action: Crud, machine: StateMachine) -> Crud:
        machine.instances.update_state()
        return action

    def transition(self, action: Crud, machine: StateMachine) -> State:
        state = machine.instances.state
        if state is InstanceState.GONE:
            return STOP_INSTANCE
        if state in (InstanceState.DOWN, InstanceState.DEGRADED):
            return CREATE_INSTANCE
        if state is InstanceState.BOOTING:
            return CHECK_BOOT
        if state is InstanceState.CONFIGURED:
            if action is Crud.POLL:
                return CALC_ACTION
            if action is Crud.READ:
                return READ_STATS
        return CONFIGURE_INSTANCE


class CreateInstance(State):
    """Boot the missing instances, or give up (ERROR) after too many failed boots."""

    __slots__ = ()

    def execute(self, action: Crud, machine: StateMachine) -> Crud:
        instances = machine.instances
        if instances.attempts >= machine.reboot_error_threshold:
            instances.set_error()
            return action
        state = instances.boot(machine.image_uuid)
        if state in (InstanceState.DOWN, InstanceState.DEGRADED):
            machine.retry_later(action)  # the boot failed: try again after a pause
        else:
            machine.reset_boot_checks()
        return action

    def transition(self, action: Crud, machine: StateMachine) -> State:
        state = machine.instances.state
        if state is InstanceState.GONE:
            return STOP_INSTANCE
        if state in (InstanceState.ERROR, InstanceState.DOWN, InstanceState.DEGRADED):
            return CALC_ACTION
        return CHECK_BOOT


class CheckBoot(State):
    """See whether the booted appliance answers; if not yet, come back later."""

    __slots__ = ()

    def execute(self, action: Crud, machine: StateMachine) -> Crud:
        if machine.instances.check_boot() is InstanceState.BOOTING:
            machine.wake_for_boot_check()
        return action

    def transition(self, action: Crud, machine: StateMachine) -> State:
        state = machine.instances.state
        if state in (InstanceState.DOWN, InstanceState.GONE):
            return STOP_INSTANCE
        if state is InstanceState.UP:
            return CONFIGURE_INSTANCE
        return CALC_ACTION


class ConfigureInstance(State):
    """Push the resource's configuration to the appliance."""

    __slots__ = ()

    def execute(self, action: Crud, machine: StateMachine) -> Crud:
        if machine.instances.configure() is InstanceState.CONFIGURED:
            return Crud.READ if action is Crud.READ else Crud.POLL
        return action

    def transition(self, action: Crud, machine: StateMachine) -> State:
        state = machine.instances.state
        if state is InstanceState.REPLUG:
            return REPLUG_INSTANCE
        if state in _STOPPED:
            return STOP_INSTANCE
        if state is InstanceState.UP:
            return PUSH_UPDATE
        if action is Crud.READ:
            return READ_STATS
        return CALC_ACTION


class ReplugInstance(State):
    """Hot-plug the appliance into the resource's current networks."""

    __slots__ = ()

    def execute(self, action: Crud, machine: StateMachine) -> Crud:
        machine.instances.replug()
        return action

    def transition(self, action: Crud, machine: StateMachine) -> State:
        if machine.instances.state in _STOPPED:
            return STOP_INSTANCE
        return CONFIGURE_INSTANCE


class StopInstance(State):
    """Destroy the appliance and release its ports."""

    __slots__ = ()

    def execute(self, action: Crud, machine: StateMachine) -> Crud:
        if machine.instances.stop() is InstanceState.GONE:
            return Crud.DELETE
        return action

    def transition(self, action: Crud, machine: StateMachine) -> State:
        if machine.instances.state is InstanceState.GONE or action is Crud.DELETE:
            return EXIT
        return CREATE_INSTANCE


class RebuildInstance(State):
    """Replace the appliance: stop it, forget failed boots, boot a new one."""

    __slots__ = ()

    def execute(self, action: Crud, machine: StateMachine) -> Crud:
        if machine.instances.stop() is InstanceState.GONE:
            return Crud.DELETE
        machine.instances.start_rebuild()
        return Crud.CREATE

    def transition(self, action: Crud, machine: StateMachine) -> State:
        if machine.instances.state is InstanceState.GONE:
            return EXIT
        return CREATE_INSTANCE


class PushUpdate(State):
    """The appliance answers but could not be configured yet: configure it again later."""

    __slots__ = ()

    def execute(self, action: Crud, machine: StateMachine) -> Crud:
        machine.retry_later(Crud.UPDATE)
        return action


class ReadStats(State):
    """Hand the appliance's traffic counters to the stats callback."""

    __slots__ = ()

    def execute(self, action: Crud, machine: StateMachine) -> Crud:
        machine.instances.read_stats()
        return action


class Exit(State):
    """The resource is gone and its appliance destroyed; the machine is finished."""

    __slots__ = ()


CALC_ACTION = CalcAction()
CLEAR_ERROR = ClearError()
ALIVE = Alive()
CREATE_INSTANCE = CreateInstance()
CHECK_BOOT = CheckBoot()
CONFIGURE_INSTANCE = ConfigureInstance()
REPLUG_INSTANCE = ReplugInstance()
STOP_INSTANCE = StopInstance()
REBUILD_INSTANCE = RebuildInstance()
PUSH_UPDATE = PushUpdate()
READ_STATS = ReadStats()
EXIT = Exit()
