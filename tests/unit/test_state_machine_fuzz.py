"""A state machine fed random events while its platform and appliances misbehave at random.

Whatever happens, it must never raise, never queue more than two actions,
never keep a worker thread busy, and end deleted exactly when its resource
was deleted (a DELETE event, or the resource vanished from the network
model), with no appliance left behind.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from astara.orchestrator.appliance_client import ApplianceError
from astara.orchestrator.event import Crud
from astara.provisioners.base import ProvisionerError
from tests.unit.doubles import MachineRig, rejecting

#: Each switch of the doubles and the fault it injects when on.
FAULTS: dict[str, tuple[str, str, Any]] = {
    "boot fails": ("provisioner", "boot_error", ProvisionerError("no capacity")),
    "destroy fails": ("provisioner", "destroy_error", ProvisionerError("nova 503")),
    "listing fails": ("provisioner", "list_error", ProvisionerError("nova 503")),
    "plug fails": ("provisioner", "plug_error", ProvisionerError("attach refused")),
    "appliance dead": ("client", "all_dead", True),
    "config refused": ("client", "config_error", rejecting(422, "invalid")),
    "agent failing": ("client", "config_error", ApplianceError("timed out")),
    "network model down": ("driver", "refresh_error", RuntimeError("neutron 503")),
    "config unbuildable": ("driver", "build_error", RuntimeError("neutron 503")),
    "status unreportable": ("driver", "report_error", RuntimeError("neutron 503")),
}
OFF: dict[str, Any] = {"all_dead": False}

events = st.tuples(
    st.just("event"),
    st.sampled_from(list(Crud)),
    st.sampled_from([{}, {"image_uuid": "image-custom"}, {"router_image_uuid": 7}]),
)
faults = st.tuples(st.just("fault"), st.sampled_from(sorted(FAULTS)), st.booleans())
steps = st.one_of(
    events,
    faults,
    st.tuples(st.just("time"), st.sampled_from([0.5, 3, 31, 61, 700])),
    st.tuples(st.just("wake")),
    st.tuples(st.just("networks"), st.sampled_from(["net-a", "net-int"])),
    st.tuples(st.just("gone")),
)


def set_fault(rig: MachineRig, name: str, on: bool) -> None:
    owner, attribute, value = FAULTS[name]
    setattr(getattr(rig, owner), attribute, value if on else OFF.get(attribute))


def play(rig: MachineRig, step: tuple[Any, ...]) -> bool:
    """Apply one step; True when it deleted the resource."""
    kind = step[0]
    if kind == "event":
        _, crud, body = step
        rig.deliver(crud, **body)
        return bool(crud is Crud.DELETE)
    if kind == "fault":
        set_fault(rig, step[1], step[2])
    elif kind == "time":
        rig.clock.advance(step[1])
        wake_at = rig.machine.wake_at()
        if wake_at is not None and wake_at <= rig.clock.now:
            rig.wake()
    elif kind == "wake":
        rig.wake()
    elif kind == "networks":
        networks = rig.driver.networks
        networks.remove(step[1]) if step[1] in networks else networks.append(step[1])
    elif kind == "gone":
        rig.driver.exists = False
        rig.deliver(Crud.UPDATE)  # the notification that comes with a deletion
        return True
    return False


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ha=st.booleans(),
    boot_delay=st.sampled_from([0.0, 5.0]),
    script=st.lists(steps, max_size=40),
)
def test_random_events_and_faults(
    ha: bool, boot_delay: float, script: list[tuple[Any, ...]]
) -> None:
    rig = MachineRig(
        ha=ha,
        boot_delay=boot_delay,
        boot_timeout=60,
        reboot_error_threshold=3,
        error_state_cooldown=30,
        record=False,
    )
    deleted = False
    for step in script:
        deleted = play(rig, step) or deleted
        assert rig.machine.queue_depth() <= 2
        assert not rig.machine.has_more_work()  # run() drained it: no thread kept busy
    for name in FAULTS:
        set_fault(rig, name, False)
    rig.settle()
    assert rig.machine.deleted is deleted
    if deleted:
        assert rig.provisioner.instances == {}
        assert rig.machine.wake_at() is None
