"""normalise(): every notification the drivers consume, with payloads as Neutron sends them."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from astara.orchestrator.event import Crud, Event, Resource
from astara.orchestrator.notifications import normalise

LOGGER = "astara.orchestrator.notifications"
BOTH = ("router", "loadbalancer")

TENANT = "6e2f5c9a1d3b4c7e8f0a1b2c3d4e5f60"
ADMIN_PROJECT = "0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a"
ROUTER_1 = "11111111-1111-4111-8111-111111111111"
ROUTER_2 = "22222222-2222-4222-8222-222222222222"
NETWORK = "3a4b5c6d-0000-4000-8000-00000000000a"
SUBNET = "3a4b5c6d-0000-4000-8000-00000000000b"
PORT = "3a4b5c6d-0000-4000-8000-00000000000c"
FIP = "3a4b5c6d-0000-4000-8000-00000000000d"
LB = "44444444-4444-4444-8444-444444444444"
LISTENER = "55555555-5555-4555-8555-555555555555"
POOL = "66666666-6666-4666-8666-666666666666"
MEMBER = "77777777-7777-4777-8777-777777777777"
MONITOR = "88888888-8888-4888-8888-888888888888"

#: The context Neutron sends with a notification: the caller, here the tenant.
CONTEXT: dict[str, Any] = {
    "user_id": "a1b2c3",
    "tenant_id": TENANT,
    "project_id": TENANT,
    "is_admin": False,
    "request_id": "req-5d1e3a52-9c0e-4b55-9d6e-2b0f4f1c5a77",
    "roles": ["member", "reader"],
}


def owned(**fields: Any) -> dict[str, Any]:
    """An API object as Neutron renders it: owner under both names."""
    return {"tenant_id": TENANT, "project_id": TENANT, **fields}


def router(router_id: str = ROUTER_1) -> dict[str, Any]:
    return owned(
        id=router_id,
        name="r",
        admin_state_up=True,
        status="ACTIVE",
        external_gateway_info={"network_id": NETWORK, "enable_snat": True},
        routes=[],
        ha=False,
        distributed=False,
        availability_zone_hints=[],
    )


def interface(router_id: str = ROUTER_2) -> dict[str, Any]:
    return owned(
        id=router_id, port_id=PORT, subnet_id=SUBNET, subnet_ids=[SUBNET], network_id=NETWORK
    )


def port(device_owner: str = "compute:nova", device_id: str = "vm-1") -> dict[str, Any]:
    return owned(
        id=PORT,
        network_id=NETWORK,
        mac_address="fa:16:3e:12:34:56",
        fixed_ips=[{"subnet_id": SUBNET, "ip_address": "10.0.0.5"}],
        device_owner=device_owner,
        device_id=device_id,
        admin_state_up=True,
        status="ACTIVE",
    )


def subnet() -> dict[str, Any]:
    return owned(
        id=SUBNET,
        network_id=NETWORK,
        cidr="10.0.0.0/24",
        ip_version=4,
        gateway_ip="10.0.0.1",
        enable_dhcp=True,
        dns_nameservers=[],
        host_routes=[],
    )


def floatingip(router_id: str | None = ROUTER_2) -> dict[str, Any]:
    return owned(
        id=FIP,
        floating_ip_address="172.24.4.10",
        floating_network_id=NETWORK,
        router_id=router_id,
        port_id=PORT if router_id else None,
        fixed_ip_address="10.0.0.5" if router_id else None,
        status="ACTIVE",
    )


def loadbalancer() -> dict[str, Any]:
    return owned(
        id=LB,
        vip_subnet_id=SUBNET,
        vip_address="10.0.0.20",
        provisioning_status="ACTIVE",
        listeners=[{"id": LISTENER}],
        pools=[{"id": POOL}],
    )


Notification = tuple[str, dict[str, Any], Crud, str]

ROUTER_NOTIFICATIONS: list[Notification] = [
    ("router.create.end", {"router": router()}, Crud.CREATE, ROUTER_1),
    ("router.update.end", {"router": router()}, Crud.UPDATE, ROUTER_1),
    ("router.change.end", {"router": router()}, Crud.UPDATE, ROUTER_1),
    ("router.delete.end", {"router_id": ROUTER_1}, Crud.DELETE, ROUTER_1),
    ("router.delete.end", {"router_id": ROUTER_1, "router": router()}, Crud.DELETE, ROUTER_1),
    ("router.delete.end", {"router": router()}, Crud.DELETE, ROUTER_1),
    ("router.interface.create", {"router_interface": interface()}, Crud.UPDATE, ROUTER_2),
    ("router.interface.delete", {"router_interface": interface()}, Crud.UPDATE, ROUTER_2),
    ("router.interface.create", {"router.interface": interface()}, Crud.UPDATE, ROUTER_2),
    ("router.interface.delete", {"router.interface": interface()}, Crud.UPDATE, ROUTER_2),
    ("port.create.end", {"port": port()}, Crud.UPDATE, ""),
    ("port.update.end", {"port": port()}, Crud.UPDATE, ""),
    ("port.change.end", {"port": port()}, Crud.UPDATE, ""),
    ("port.delete.end", {"port_id": PORT, "port": port()}, Crud.UPDATE, ""),
    ("port.delete.end", {"port_id": PORT}, Crud.UPDATE, ""),
    (
        "port.create.end",
        {"port": port("network:router_interface", ROUTER_2)},
        Crud.UPDATE,
        ROUTER_2,
    ),
    ("port.update.end", {"port": port("network:router_gateway", ROUTER_2)}, Crud.UPDATE, ROUTER_2),
    (
        "port.update.end",
        {"port": port("network:router_interface_distributed", ROUTER_2)},
        Crud.UPDATE,
        ROUTER_2,
    ),
    (
        "port.delete.end",
        {"port_id": PORT, "port": port("network:ha_router_replicated_interface", ROUTER_2)},
        Crud.UPDATE,
        ROUTER_2,
    ),
    ("port.update.end", {"port": port("network:router_interface", "")}, Crud.UPDATE, ""),
    ("port.update.end", {"port": port("network:dhcp", "dhcp-1")}, Crud.UPDATE, ""),
    ("subnet.create.end", {"subnet": subnet()}, Crud.UPDATE, ""),
    ("subnet.update.end", {"subnet": subnet()}, Crud.UPDATE, ""),
    ("subnet.change.end", {"subnet": subnet()}, Crud.UPDATE, ""),
    ("subnet.delete.end", {"subnet_id": SUBNET, "subnet": subnet()}, Crud.UPDATE, ""),
    ("subnet.delete.end", {"subnet_id": SUBNET}, Crud.UPDATE, ""),
    ("floatingip.create.end", {"floatingip": floatingip()}, Crud.UPDATE, ROUTER_2),
    ("floatingip.create.end", {"floatingip": floatingip(None)}, Crud.UPDATE, ""),
    # An update names the router the address is on now, not one it left.
    ("floatingip.update.end", {"floatingip": floatingip()}, Crud.UPDATE, ""),
    ("floatingip.update.end", {"floatingip": floatingip(None)}, Crud.UPDATE, ""),
    ("floatingip.change.end", {"floatingip": floatingip()}, Crud.UPDATE, ""),
    (
        "floatingip.delete.end",
        {"floatingip_id": FIP, "floatingip": floatingip()},
        Crud.UPDATE,
        ROUTER_2,
    ),
    ("floatingip.delete.end", {"floatingip_id": FIP}, Crud.UPDATE, ""),
    (
        "vpnservice.update.end",
        {"vpnservice": owned(id="vpn-1", router_id=ROUTER_1, subnet_id=SUBNET)},
        Crud.UPDATE,
        ROUTER_1,
    ),
    ("vpnservice.delete.end", {"vpnservice_id": "vpn-1"}, Crud.UPDATE, ""),
    (
        "ipsec_site_connection.create.end",
        {"ipsec_site_connection": owned(id="conn-1", vpnservice_id="vpn-1")},
        Crud.UPDATE,
        "",
    ),
    ("ikepolicy.update.end", {"ikepolicy": owned(id="ike-1")}, Crud.UPDATE, ""),
    ("ipsecpolicy.change.end", {"ipsecpolicy": owned(id="ipsec-1")}, Crud.UPDATE, ""),
]

LOADBALANCER_NOTIFICATIONS: list[Notification] = [
    ("loadbalancer.create.end", {"loadbalancer": loadbalancer()}, Crud.CREATE, LB),
    ("loadbalancer.update.end", {"loadbalancer": loadbalancer()}, Crud.UPDATE, LB),
    (
        "loadbalancer.delete.end",
        {"loadbalancer_id": LB, "loadbalancer": loadbalancer()},
        Crud.DELETE,
        LB,
    ),
    ("loadbalancer.delete.end", {"loadbalancer_id": LB}, Crud.DELETE, LB),
    (
        "listener.create.end",
        {"listener": owned(id=LISTENER, loadbalancers=[{"id": LB}], protocol="HTTP")},
        Crud.UPDATE,
        LB,
    ),
    (
        "listener.update.end",
        {"listener": owned(id=LISTENER, loadbalancer_id=LB, protocol_port=80)},
        Crud.UPDATE,
        LB,
    ),
    (
        "listener.delete.end",
        {"listener_id": LISTENER, "listener": owned(id=LISTENER, loadbalancers=[{"id": LB}])},
        Crud.UPDATE,
        LB,
    ),
    (
        "pool.create.end",
        {
            "pool": owned(
                id=POOL,
                loadbalancers=[{"id": LB}],
                listeners=[{"id": LISTENER}],
                lb_algorithm="ROUND_ROBIN",
            )
        },
        Crud.UPDATE,
        LB,
    ),
    ("pool.update.end", {"pool": owned(id=POOL, loadbalancer_id=LB)}, Crud.UPDATE, LB),
    ("pool.delete.end", {"pool_id": POOL}, Crud.UPDATE, ""),
    (
        "member.create.end",
        {"member": owned(id=MEMBER, address="10.0.0.7", protocol_port=80, subnet_id=SUBNET)},
        Crud.UPDATE,
        "",
    ),
    (
        "member.update.end",
        {"member": owned(id=MEMBER, weight=2), "loadbalancer_id": LB},
        Crud.UPDATE,
        LB,
    ),
    ("member.delete.end", {"member_id": MEMBER}, Crud.UPDATE, ""),
    (
        "healthmonitor.create.end",
        {"healthmonitor": owned(id=MONITOR, pools=[{"id": POOL}], type="HTTP")},
        Crud.UPDATE,
        "",
    ),
    (
        "healthmonitor.update.end",
        {"healthmonitor": owned(id=MONITOR), "loadbalancer": loadbalancer()},
        Crud.UPDATE,
        LB,
    ),
    ("healthmonitor.delete.end", {"healthmonitor_id": MONITOR}, Crud.UPDATE, ""),
]


def _ids(table: list[Notification]) -> list[str]:
    return [f"{event_type}-{i}" for i, (event_type, *_) in enumerate(table)]


@pytest.mark.parametrize(
    ("event_type", "payload", "crud", "router_id"),
    ROUTER_NOTIFICATIONS,
    ids=_ids(ROUTER_NOTIFICATIONS),
)
def test_router_notification(
    event_type: str, payload: dict[str, Any], crud: Crud, router_id: str
) -> None:
    events = normalise(event_type, payload, CONTEXT, BOTH)
    assert events == [Event(Resource("router", router_id, TENANT), crud, payload)]


@pytest.mark.parametrize(
    ("event_type", "payload", "crud", "loadbalancer_id"),
    LOADBALANCER_NOTIFICATIONS,
    ids=_ids(LOADBALANCER_NOTIFICATIONS),
)
def test_loadbalancer_notification(
    event_type: str, payload: dict[str, Any], crud: Crud, loadbalancer_id: str
) -> None:
    events = normalise(event_type, payload, CONTEXT, BOTH)
    assert events == [Event(Resource("loadbalancer", loadbalancer_id, TENANT), crud, payload)]


@pytest.mark.parametrize(
    ("event_type", "payload"),
    [(event_type, payload) for event_type, payload, _, _ in ROUTER_NOTIFICATIONS],
    ids=_ids(ROUTER_NOTIFICATIONS),
)
def test_router_notifications_need_the_router_driver(
    event_type: str, payload: dict[str, Any]
) -> None:
    assert normalise(event_type, payload, CONTEXT, ["loadbalancer"]) == []


@pytest.mark.parametrize(
    ("event_type", "payload"),
    [(event_type, payload) for event_type, payload, _, _ in LOADBALANCER_NOTIFICATIONS],
    ids=_ids(LOADBALANCER_NOTIFICATIONS),
)
def test_loadbalancer_notifications_need_the_loadbalancer_driver(
    event_type: str, payload: dict[str, Any]
) -> None:
    assert normalise(event_type, payload, CONTEXT, {"router", "firewall"}) == []


class TestTenantWithSeveralRouters:
    """The original sent id-less router events to the tenant's first router only."""

    def test_interface_port_of_the_second_router_names_the_second_router(self) -> None:
        payload = {"port": port("network:router_interface", ROUTER_2)}
        [event] = normalise("port.update.end", payload, CONTEXT, BOTH)
        assert event.resource.id == ROUTER_2

    def test_floating_ip_on_the_second_router_names_the_second_router(self) -> None:
        [event] = normalise("floatingip.create.end", {"floatingip": floatingip()}, CONTEXT, BOTH)
        assert event.resource.id == ROUTER_2

    def test_interface_added_to_the_second_router_names_the_second_router(self) -> None:
        payload = {"router_interface": interface(ROUTER_2)}
        [event] = normalise("router.interface.create", payload, CONTEXT, BOTH)
        assert event.resource.id == ROUTER_2

    @pytest.mark.parametrize(
        ("event_type", "payload"),
        [
            ("subnet.update.end", {"subnet": subnet()}),
            ("port.create.end", {"port": port()}),
            ("floatingip.update.end", {"floatingip": floatingip()}),
        ],
    )
    def test_change_no_router_can_be_read_from_addresses_every_router_of_the_tenant(
        self, event_type: str, payload: dict[str, Any]
    ) -> None:
        [event] = normalise(event_type, payload, CONTEXT, BOTH)
        assert event.resource == Resource("router", "", TENANT)
        assert not event.resource.is_wildcard


class TestTenant:
    def test_owner_in_the_payload_wins_over_the_caller(self) -> None:
        admin = {**CONTEXT, "tenant_id": ADMIN_PROJECT, "project_id": ADMIN_PROJECT}
        [event] = normalise("router.update.end", {"router": router()}, admin, BOTH)
        assert event.resource.tenant_id == TENANT

    def test_project_id_alone_is_enough(self) -> None:
        payload = {"router": {"id": ROUTER_1, "project_id": TENANT}}
        [event] = normalise("router.update.end", payload, {}, BOTH)
        assert event.resource.tenant_id == TENANT

    def test_owner_of_an_interface_comes_from_the_interface(self) -> None:
        admin = {"tenant_id": ADMIN_PROJECT}
        payload = {"router_interface": interface()}
        [event] = normalise("router.interface.create", payload, admin, BOTH)
        assert event.resource.tenant_id == TENANT

    def test_owner_of_a_listener_comes_from_the_listener(self) -> None:
        admin = {"project_id": ADMIN_PROJECT}
        payload = {"listener": owned(id=LISTENER, loadbalancer_id=LB)}
        [event] = normalise("listener.update.end", payload, admin, BOTH)
        assert event.resource.tenant_id == TENANT

    @pytest.mark.parametrize(
        "context",
        [
            {"tenant_id": TENANT},
            {"project_id": TENANT},
            {"tenant_id": None, "project_id": TENANT},
            {"tenant_id": "", "project_id": TENANT},
        ],
    )
    def test_context_names_the_tenant_when_the_payload_does_not(
        self, context: dict[str, Any]
    ) -> None:
        [event] = normalise("router.delete.end", {"router_id": ROUTER_1}, context, BOTH)
        assert event.resource == Resource("router", ROUTER_1, TENANT)

    def test_empty_owner_in_the_payload_falls_back_to_the_context(self) -> None:
        payload = {"port": {**port(), "tenant_id": "", "project_id": ""}}
        [event] = normalise("port.update.end", payload, CONTEXT, BOTH)
        assert event.resource.tenant_id == TENANT


@pytest.mark.parametrize(
    "event_type",
    [
        "routerstatus.update",
        "routerstatus.update.end",
        "loadbalancerstatus.update",
        "loadbalancerstatus.update.end",
        "router.create.start",
        "router.interface.create.start",
        "listener.create.start",
        "pool.create.start",
        "member.create.start",
        "loadbalancer.create.start",
        "network.create.end",
        "security_group.update.end",
        "compute.instance.create.end",
        "",
    ],
)
def test_notifications_nobody_consumes_are_ignored_quietly(
    event_type: str, caplog: pytest.LogCaptureFixture
) -> None:
    payload = {"router": router(), "loadbalancer": loadbalancer(), "port": port()}
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        assert normalise(event_type, payload, CONTEXT, BOTH) == []
    assert caplog.records == []


MALFORMED: list[tuple[str, Any, Any, str]] = [
    ("router.create.end", None, CONTEXT, "mapping"),
    ("router.create.end", ["router"], CONTEXT, "mapping"),
    ("router.create.end", "router", CONTEXT, "mapping"),
    ("router.create.end", {}, CONTEXT, "router.id"),
    ("router.create.end", {"router": None}, CONTEXT, "router.id"),
    ("router.create.end", {"router": {"id": 7, "tenant_id": TENANT}}, CONTEXT, "router.id"),
    ("router.update.end", {"router": {"id": None, "tenant_id": None}}, None, "tenant"),
    ("router.delete.end", {"router_id": None}, CONTEXT, "router_id"),
    ("router.interface.create", {"router_interface": {"tenant_id": TENANT}}, CONTEXT, "id"),
    ("router.interface.delete", {"router_interface": "r"}, CONTEXT, "router_interface"),
    ("port.create.end", {"port": "p"}, CONTEXT, "port_id"),
    ("port.delete.end", {"port_id": None}, CONTEXT, "port_id"),
    ("subnet.update.end", {}, CONTEXT, "subnet"),
    ("floatingip.delete.end", {"floatingip_id": 3}, CONTEXT, "floatingip"),
    ("vpnservice.update.end", {"vpnservice": []}, CONTEXT, "vpnservice"),
    ("loadbalancer.create.end", {"loadbalancer": {"tenant_id": TENANT}}, CONTEXT, "loadbalancer"),
    ("loadbalancer.delete.end", {}, CONTEXT, "loadbalancer_id"),
    ("listener.create.end", {"listener": ["x"]}, CONTEXT, "listener"),
    ("member.update.end", {"member": None, "member_id": None}, CONTEXT, "member"),
    ("router.update.end", {"router": {"id": ROUTER_1}}, {}, "tenant"),
    ("router.update.end", {"router": {"id": ROUTER_1}}, "ctx", "tenant"),
    ("router.update.end", {"router": {"id": ROUTER_1}}, {"tenant_id": 42}, "tenant"),
    ("router.update.end", {"router": owned(id="*")}, CONTEXT, "wildcard"),
    ("loadbalancer.update.end", {"loadbalancer": owned(id="error")}, CONTEXT, "wildcard"),
    ("router.update.end", {"router": {"id": ROUTER_1, "tenant_id": "*"}}, CONTEXT, "wildcard"),
]


@pytest.mark.parametrize(
    ("event_type", "payload", "context", "complaint"),
    MALFORMED,
    ids=[f"{event_type}-{i}" for i, (event_type, *_) in enumerate(MALFORMED)],
)
def test_malformed_notification_is_dropped_with_one_warning(
    event_type: str, payload: Any, context: Any, complaint: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        assert normalise(event_type, payload, context, BOTH) == []
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert event_type in record.getMessage()
    assert complaint in record.getMessage()


def test_event_type_that_is_not_text_is_dropped_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    not_text: Any = ["router.create.end"]
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        assert normalise(not_text, {"router": router()}, CONTEXT, BOTH) == []
    [record] = caplog.records
    assert record.levelno == logging.WARNING


def test_the_event_body_is_the_payload_and_the_payload_is_left_alone() -> None:
    payload = {"router": router()}
    snapshot = {"router": router()}
    [event] = normalise("router.create.end", payload, CONTEXT, BOTH)
    assert event.body is payload
    assert payload == snapshot


class TestCommands:
    """Commands go through the same door; their details are in test_commands.py."""

    def test_poll_is_a_poll_of_everything(self) -> None:
        [event] = normalise("astara.command", {"command": "poll"}, CONTEXT, BOTH)
        assert event.crud is Crud.POLL
        assert event.resource == Resource("*", "*", "*")

    def test_commands_do_not_depend_on_the_enabled_drivers(self) -> None:
        payload = {"command": "resource-update", "resource_id": ROUTER_1, "tenant_id": "*"}
        [event] = normalise("astara.command", payload, None, ())
        assert event.crud is Crud.COMMAND
        assert event.resource == Resource("*", ROUTER_1, "*")

    @pytest.mark.parametrize(
        "payload",
        [None, {}, {"command": "reboot-everything"}, {"command": "router-debug", "router_id": "*"}],
    )
    def test_a_refused_command_is_dropped_with_one_warning(
        self, payload: Any, caplog: pytest.LogCaptureFixture
    ) -> None:
        with caplog.at_level(logging.DEBUG, logger=LOGGER):
            assert normalise("astara.command", payload, CONTEXT, BOTH) == []
        [record] = caplog.records
        assert record.levelno == logging.WARNING
        assert "astara.command" in record.getMessage()
