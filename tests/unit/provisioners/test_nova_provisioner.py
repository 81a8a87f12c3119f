"""NovaProvisioner against a local stand-in for Nova's Compute API.

Nova cannot run on this machine, so these tests check the provisioner against
the Compute API v2.1's documented requests and responses:
:mod:`compute_api_double` serves them over HTTP on 127.0.0.1 and the real
openstacksdk and keystoneauth1 (version discovery, microversion negotiation,
error parsing, timeouts) talk to it. What the double cannot prove is how a
real Nova schedules and builds servers; that needs a cloud.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from keystoneauth1 import session as ks_session
from openstack import connection

from astara.drivers.base import PortSpec
from astara.provisioners.base import InstanceStatus, ProvisionerError
from astara.provisioners.nova import ApplianceDefaults, ManagementNetwork, NovaProvisioner
from astara.provisioners.nova_retry import RetryPolicy
from astara.provisioners.nova_servers import created_epoch
from tests.unit.provisioners.compute_api_double import (
    ComputeApiDouble,
    DoubleAuth,
    scheduler_hints,
)

PREFIX = "fdca:3ba5:a17a:acda::/64"
MANAGEMENT = PortSpec(
    "mgt-port", "mgt-net", "fa:16:3e:00:00:01", "management", ("fdca:3ba5:a17a:acda::5",)
)
EXTERNAL = PortSpec("ext-port", "ext-net", "fa:16:3e:00:00:02", "external", ("172.16.0.5",))
INTERNAL = PortSpec("int-port", "int-net", "fa:16:3e:00:00:03", "internal", ("10.0.0.1",))
EXTRA = PortSpec("extra-port", "extra-net", "fa:16:3e:00:00:04", "internal", ("10.1.0.1",))
NAME = "ak-router-6f1c1d2e"
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBm operator@astara"
#: Seconds one request may take before the client gives up (the hang tests wait this long).
REQUEST_TIMEOUT = 0.5


class RecordedSleep:
    """Stands in for time.sleep: records the backoff instead of waiting it out."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        #: What happens in the world while the provisioner waits.
        self.on_sleep: Callable[[], None] = lambda: None

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.on_sleep()


@pytest.fixture
def nova() -> Iterator[ComputeApiDouble]:
    with ComputeApiDouble() as double:
        for port in (MANAGEMENT, EXTERNAL, INTERNAL, EXTRA):
            double.add_port(port.port_id, port.network_id, port.mac_address, *port.fixed_ips)
        yield double


@pytest.fixture
def sleeps() -> RecordedSleep:
    return RecordedSleep()


@pytest.fixture
def ssh_key_file(tmp_path: Path) -> Path:
    path = tmp_path / "astara.pub"
    path.write_text(SSH_KEY + "\n", encoding="utf-8")
    return path


def make_provisioner(
    nova: ComputeApiDouble,
    sleeps: RecordedSleep,
    *,
    ssh_key: Path | None = None,
    defaults: dict[str, ApplianceDefaults] | None = None,
    attempts: int = 5,
) -> NovaProvisioner:
    session = ks_session.Session(
        auth=DoubleAuth(nova.endpoint, nova.project_id), timeout=REQUEST_TIMEOUT
    )
    return NovaProvisioner(
        connection.Connection(session=session),
        ManagementNetwork(PREFIX, MANAGEMENT.network_id),
        defaults if defaults is not None else {
            "router": ApplianceDefaults("appliance-image", "appliance-flavor"),
            "loadbalancer": ApplianceDefaults("appliance-image", "appliance-flavor"),
        },
        ssh_public_key_path=str(ssh_key) if ssh_key else None,
        retry=RetryPolicy(attempts=attempts, sleep=sleeps),
    )


@pytest.fixture
def provisioner(
    nova: ComputeApiDouble, sleeps: RecordedSleep, ssh_key_file: Path
) -> NovaProvisioner:
    return make_provisioner(nova, sleeps, ssh_key=ssh_key_file)


def boot(provisioner: NovaProvisioner, name: str = NAME) -> Any:
    return provisioner.boot(name, None, None, MANAGEMENT, [EXTERNAL, INTERNAL])


def sent_cloud_config(nova: ComputeApiDouble) -> dict[str, Any]:
    """The cloud-config document of the last boot request, decoded as cloud-init would."""
    body = nova.api_requests("POST", "/v2.1/servers")[-1][2]
    text = base64.b64decode(body["server"]["user_data"]).decode("utf-8")
    assert text.startswith("#cloud-config\n")
    document: dict[str, Any] = yaml.safe_load(text)
    return document


# -- boot -------------------------------------------------------------------------------


def test_an_ha_member_is_kept_off_the_host_of_its_sibling(
    nova: ComputeApiDouble, provisioner: NovaProvisioner
) -> None:
    """Nova's ``different_host`` hint, both ways: member 1 after 0, and 0 rebuilt beside 1."""
    for index in (1, 2):
        nova.add_port(f"mgt-{index}", MANAGEMENT.network_id, f"fa:16:3e:00:01:0{index}",
                      f"fdca:3ba5:a17a:acda::{index + 10}")  # fmt: skip
    first = boot(provisioner)
    [(_, _, alone)] = nova.api_requests("POST", "/v2.1/servers")
    assert scheduler_hints(alone) is None, "a lone appliance needs no hint"

    member_1 = PortSpec("mgt-1", MANAGEMENT.network_id, "fa:16:3e:00:01:01", "management",
                        ("fdca:3ba5:a17a:acda::11",))  # fmt: skip
    second = provisioner.boot(f"{NAME}-ha1", None, None, member_1, [])
    body = nova.api_requests("POST", "/v2.1/servers")[-1][2]
    assert scheduler_hints(body) == {"different_host": [first.id]}

    provisioner.destroy(first.id)  # member 0 failed; the pair is rebuilt beside member 1
    replacement = PortSpec("mgt-2", MANAGEMENT.network_id, "fa:16:3e:00:01:02", "management",
                           ("fdca:3ba5:a17a:acda::12",))  # fmt: skip
    provisioner.boot(NAME, None, None, replacement, [])
    body = nova.api_requests("POST", "/v2.1/servers")[-1][2]
    assert scheduler_hints(body) == {"different_host": [second.id]}


def test_boot_sends_the_documented_create_request(
    nova: ComputeApiDouble, provisioner: NovaProvisioner
) -> None:
    info = boot(provisioner)

    [(_, _, body)] = nova.api_requests("POST", "/v2.1/servers")
    server = body["server"]
    assert server["name"] == NAME
    assert server["imageRef"] == "appliance-image"
    assert server["flavorRef"] == "appliance-flavor"
    assert server["networks"] == [
        {"port": "mgt-port"}, {"port": "ext-port"}, {"port": "int-port"}
    ]
    assert server["config_drive"] is True
    assert nova.servers[info.id].name == NAME


def test_boot_user_data_configures_management_and_the_operator_key(
    nova: ComputeApiDouble, provisioner: NovaProvisioner
) -> None:
    boot(provisioner)

    document = sent_cloud_config(nova)
    assert document["bootcmd"] == [[
        "/usr/local/bin/astara-configure-management",
        "fa:16:3e:00:00:01",
        "fdca:3ba5:a17a:acda::5/64",
    ]]
    [user] = document["users"]
    assert user["name"] == "astara"
    assert user["ssh_authorized_keys"] == [SSH_KEY]


def test_boot_without_the_key_file_warns_and_boots_without_a_key(
    nova: ComputeApiDouble, sleeps: RecordedSleep, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    provisioner = make_provisioner(nova, sleeps, ssh_key=tmp_path / "missing.pub")

    with caplog.at_level(logging.WARNING):
        boot(provisioner)

    [user] = sent_cloud_config(nova)["users"]
    assert "ssh_authorized_keys" not in user
    assert "missing.pub" in caplog.text


def test_boot_reports_the_new_server_as_nova_shows_it(
    nova: ComputeApiDouble, provisioner: NovaProvisioner
) -> None:
    info = boot(provisioner)

    server = nova.servers[info.id]
    assert info.name == NAME
    assert info.status is InstanceStatus.BUILDING
    assert info.management_address == "fdca:3ba5:a17a:acda::5"
    assert info.created_at == created_epoch(server.created)
    assert info.image_uuid == "appliance-image"
    assert [p.port_id for p in info.ports] == ["mgt-port", "ext-port", "int-port"]


@pytest.mark.parametrize("status", ["BUILD", "ACTIVE"])
def test_boot_reuses_a_server_of_that_name_that_is_booting_or_running(
    nova: ComputeApiDouble, provisioner: NovaProvisioner, status: str
) -> None:
    existing = nova.add_server(NAME, status, port_ids=("mgt-port", "ext-port", "int-port"))

    info = boot(provisioner)

    assert info.id == existing
    assert nova.api_requests("POST", "/v2.1/servers") == []
    assert list(nova.servers) == [existing]


@pytest.mark.parametrize("status", ["ERROR", "SHUTOFF"])
def test_boot_replaces_a_failed_server_of_that_name(
    nova: ComputeApiDouble, provisioner: NovaProvisioner, status: str
) -> None:
    failed = nova.add_server(NAME, status)

    info = boot(provisioner)

    assert info.id != failed
    assert failed not in nova.servers
    assert nova.api_requests("DELETE", f"/v2.1/servers/{failed}")
    assert nova.servers[info.id].name == NAME


def test_boot_leaves_a_server_being_deleted_alone_and_boots_another(
    nova: ComputeApiDouble, provisioner: NovaProvisioner
) -> None:
    nova.linger_deletes = True
    going = nova.add_server(NAME, "ACTIVE")
    nova.servers[going].task_state = "deleting"

    info = boot(provisioner)

    assert info.id != going
    assert nova.api_requests("DELETE") == []
    assert {s.name for s in nova.servers.values()} == {NAME}
    assert len(nova.servers) == 2


def test_boot_ignores_another_projects_server_with_the_same_name(
    nova: ComputeApiDouble, provisioner: NovaProvisioner
) -> None:
    tenants = nova.add_server(NAME, "ERROR", tenant_id="some-tenant")

    info = boot(provisioner)

    assert info.id != tenants
    assert tenants in nova.servers
    assert nova.api_requests("DELETE") == []


def test_boot_whose_answer_was_lost_finds_the_server_instead_of_booting_twice(
    nova: ComputeApiDouble, provisioner: NovaProvisioner
) -> None:
    nova.hang_next(1, method="POST", after_handling=True)

    info = boot(provisioner)

    assert len(nova.api_requests("POST", "/v2.1/servers")) == 1
    assert list(nova.servers) == [info.id]


@pytest.mark.parametrize(
    ("defaults", "name", "option"),
    [
        ({"router": ApplianceDefaults(None, "appliance-flavor")}, NAME, "[router] image_uuid"),
        (
            {"loadbalancer": ApplianceDefaults("appliance-image", None)},
            "ak-loadbalancer-9a8b",
            "[loadbalancer] instance_flavor",
        ),
    ],
)
def test_boot_without_image_or_flavor_names_the_option_to_set(
    nova: ComputeApiDouble, sleeps: RecordedSleep,
    defaults: dict[str, ApplianceDefaults], name: str, option: str,
) -> None:
    provisioner = make_provisioner(nova, sleeps, defaults=defaults)

    with pytest.raises(ProvisionerError) as raised:
        boot(provisioner, name)
    assert str(raised.value).startswith(f"cannot boot {name}: ")
    assert str(raised.value).endswith(f"; set {option}")
    assert nova.requests == []


def test_boot_prefers_the_image_and_flavor_it_is_given(
    nova: ComputeApiDouble, provisioner: NovaProvisioner
) -> None:
    nova.images.add("custom-image")
    nova.flavors.add("big")

    info = provisioner.boot(NAME, "custom-image", "big", MANAGEMENT, [])

    [(_, _, body)] = nova.api_requests("POST", "/v2.1/servers")
    assert (body["server"]["imageRef"], body["server"]["flavorRef"]) == ("custom-image", "big")
    assert info.image_uuid == "custom-image"


def test_a_refused_boot_is_reported_at_once_with_novas_message(
    nova: ComputeApiDouble, provisioner: NovaProvisioner, sleeps: RecordedSleep
) -> None:
    with pytest.raises(ProvisionerError, match="HTTP 400: Image gone-image could not be found"):
        provisioner.boot(NAME, "gone-image", None, MANAGEMENT, [])
    assert len(nova.api_requests("POST", "/v2.1/servers")) == 1
    assert sleeps.delays == []


def test_boot_refuses_a_management_port_outside_the_management_prefix(
    nova: ComputeApiDouble, provisioner: NovaProvisioner
) -> None:
    stray = PortSpec("mgt-port", "mgt-net", "fa:16:3e:00:00:01", "management", ("10.9.9.9",))

    with pytest.raises(ProvisionerError, match="not in management_prefix"):
        provisioner.boot(NAME, None, None, stray, [])
    assert nova.requests == []


# -- listing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("nova_status", "status"),
    [
        ("BUILD", InstanceStatus.BUILDING),
        ("ACTIVE", InstanceStatus.ACTIVE),
        ("ERROR", InstanceStatus.ERROR),
        ("SHUTOFF", InstanceStatus.ERROR),
        ("HARD_REBOOT", InstanceStatus.BUILDING),
    ],
)
def test_list_maps_novas_status(
    nova: ComputeApiDouble, provisioner: NovaProvisioner, nova_status: str,
    status: InstanceStatus,
) -> None:
    info = boot(provisioner)
    nova.set_status(info.id, nova_status)

    [listed] = provisioner.list_instances(NAME)

    assert listed.status is status


def test_list_leaves_out_a_server_deleted_while_being_listed(
    nova: ComputeApiDouble, provisioner: NovaProvisioner
) -> None:
    going = nova.add_server(NAME)
    staying = nova.add_server(f"{NAME}-ha1")
    nova.fail_next(1, status=404, path_start=f"/v2.1/servers/{going}/os-interface")

    assert [i.id for i in provisioner.list_instances(NAME)] == [staying]


@pytest.mark.parametrize("nova_status", ["DELETED", "SOFT_DELETED"])
def test_list_leaves_out_deleted_servers(
    nova: ComputeApiDouble, provisioner: NovaProvisioner, nova_status: str
) -> None:
    nova.add_server(NAME, nova_status)

    assert provisioner.list_instances(NAME) == []


def test_list_reports_ports_with_the_management_one_told_apart(
    nova: ComputeApiDouble, provisioner: NovaProvisioner
) -> None:
    info = boot(provisioner)
    nova.set_status(info.id, "ACTIVE")

    [listed] = provisioner.list_instances(NAME)

    roles = {p.port_id: p.role for p in listed.ports}
    assert roles == {"mgt-port": "management", "ext-port": "internal", "int-port": "internal"}
    assert listed.management_address == "fdca:3ba5:a17a:acda::5"
    assert {p.mac_address for p in listed.ports} == {
        MANAGEMENT.mac_address, EXTERNAL.mac_address, INTERNAL.mac_address
    }


def test_list_matches_the_prefix_exactly_even_with_regex_characters(
    nova: ComputeApiDouble, provisioner: NovaProvisioner
) -> None:
    name = "ak-router-a.b+c(1)"
    wanted = {nova.add_server(name), nova.add_server(f"{name}-ha1")}
    nova.add_server("ak-router-aXb+c(1)")  # what an unescaped "." would match
    nova.add_server(f"{name}-other")  # same characters, another resource
    nova.add_server(f"{name}-ha1x")
    nova.add_server(f"x{name}")  # what an unanchored regex would match

    listed = provisioner.list_instances(name)

    assert {i.id for i in listed} == wanted
    [(_, path, _)] = nova.api_requests("GET", "/v2.1/servers/detail")
    query = parse_qs(urlsplit(path).query)
    assert query["name"] == [r"^ak-router-a\.b\+c\(1\)"]
    assert query["all_tenants"][0].lower() in {"1", "true"}


def test_list_leaves_out_other_projects_servers(
    nova: ComputeApiDouble, provisioner: NovaProvisioner
) -> None:
    ours = nova.add_server(NAME)
    nova.add_server(NAME, tenant_id="some-tenant")

    assert [i.id for i in provisioner.list_instances(NAME)] == [ours]


# -- destroy, plug, unplug ---------------------------------------------------------------


def test_destroy_twice_is_fine(nova: ComputeApiDouble, provisioner: NovaProvisioner) -> None:
    info = boot(provisioner)

    provisioner.destroy(info.id)
    provisioner.destroy(info.id)

    assert nova.servers == {}
    assert len(nova.api_requests("DELETE", f"/v2.1/servers/{info.id}")) == 2
    assert provisioner.list_instances(NAME) == []


def test_plug_attaches_and_unplug_detaches_a_port(
    nova: ComputeApiDouble, provisioner: NovaProvisioner
) -> None:
    info = boot(provisioner)
    nova.set_status(info.id, "ACTIVE")

    provisioner.plug(info.id, EXTRA)
    [(_, _, body)] = nova.api_requests("POST", f"/v2.1/servers/{info.id}/os-interface")
    assert body == {"interfaceAttachment": {"port_id": "extra-port"}}
    [listed] = provisioner.list_instances(NAME)
    assert "extra-port" in {p.port_id for p in listed.ports}

    provisioner.unplug(info.id, INTERNAL)
    assert nova.api_requests("DELETE", f"/v2.1/servers/{info.id}/os-interface/int-port")
    [listed] = provisioner.list_instances(NAME)
    assert {p.port_id for p in listed.ports} == {"mgt-port", "ext-port", "extra-port"}


def test_plug_and_unplug_repeated_change_nothing(
    nova: ComputeApiDouble, provisioner: NovaProvisioner
) -> None:
    info = boot(provisioner)
    nova.set_status(info.id, "ACTIVE")

    provisioner.plug(info.id, EXTRA)
    provisioner.plug(info.id, EXTRA)
    provisioner.unplug(info.id, INTERNAL)
    provisioner.unplug(info.id, INTERNAL)

    assert len(nova.api_requests("POST", f"/v2.1/servers/{info.id}/os-interface")) == 1
    assert nova.servers[info.id].port_ids == ["mgt-port", "ext-port", "extra-port"]


def test_plug_waits_out_a_server_still_building(
    nova: ComputeApiDouble, provisioner: NovaProvisioner, sleeps: RecordedSleep
) -> None:
    info = boot(provisioner)
    sleeps.on_sleep = lambda: nova.set_status(info.id, "ACTIVE")  # the boot ends meanwhile

    provisioner.plug(info.id, EXTRA)

    assert len(nova.api_requests("POST", f"/v2.1/servers/{info.id}/os-interface")) == 2
    assert "extra-port" in nova.servers[info.id].port_ids


def test_plug_into_a_server_stuck_building_reports_novas_refusal(
    nova: ComputeApiDouble, provisioner: NovaProvisioner
) -> None:
    info = boot(provisioner)

    with pytest.raises(ProvisionerError, match=r"HTTP 409: .*vm_state building"):
        provisioner.plug(info.id, EXTRA)
    assert len(nova.api_requests("POST", f"/v2.1/servers/{info.id}/os-interface")) == 5


def test_plug_into_a_missing_server_says_so(
    nova: ComputeApiDouble, provisioner: NovaProvisioner
) -> None:
    with pytest.raises(ProvisionerError, match=r"attaching port extra-port to gone.*404"):
        provisioner.plug("gone", EXTRA)


# -- stale servers -----------------------------------------------------------------------


def test_find_stale_reports_appliances_of_unknown_resources_only(
    nova: ComputeApiDouble, provisioner: NovaProvisioner
) -> None:
    nova.add_server("ak-router-known")
    nova.add_server("ak-router-known-ha1")
    nova.add_server("ak-loadbalancer-lb-1")
    orphans = {nova.add_server("ak-router-gone"), nova.add_server("ak-router-known-x-ha1")}
    nova.add_server("web-server")
    nova.add_server("ak-router-tenants", tenant_id="some-tenant")

    stale = provisioner.find_stale({"ak-router-known", "ak-loadbalancer-lb-1"})

    assert {i.id for i in stale} == orphans


def test_find_stale_ignores_drivers_it_does_not_boot_for(
    nova: ComputeApiDouble, sleeps: RecordedSleep
) -> None:
    provisioner = make_provisioner(
        nova, sleeps, defaults={"router": ApplianceDefaults("appliance-image", None)}
    )
    gone_router = nova.add_server("ak-router-gone")
    nova.add_server("ak-loadbalancer-gone")

    assert [i.id for i in provisioner.find_stale(set())] == [gone_router]


# -- Nova failing ------------------------------------------------------------------------


def test_nova_unavailable_a_few_times_is_retried_with_growing_backoff(
    nova: ComputeApiDouble, provisioner: NovaProvisioner, sleeps: RecordedSleep
) -> None:
    nova.fail_next(3, status=503)

    info = boot(provisioner)

    assert nova.servers[info.id].name == NAME
    assert sleeps.delays == [0.5, 1.0, 2.0]


def test_nova_unavailable_for_good_gives_a_clear_error(
    nova: ComputeApiDouble, provisioner: NovaProvisioner, sleeps: RecordedSleep
) -> None:
    nova.fail_next(10, status=503)

    with pytest.raises(ProvisionerError) as raised:
        provisioner.destroy("some-server")

    message = str(raised.value)
    assert "deleting instance some-server" in message
    assert "still failing after 5 attempts" in message
    assert "HTTP 503" in message
    assert len(sleeps.delays) == 4


def test_a_request_that_hangs_times_out_and_is_retried(
    nova: ComputeApiDouble, sleeps: RecordedSleep
) -> None:
    provisioner = make_provisioner(nova, sleeps, attempts=2)
    server = nova.add_server(NAME)
    nova.hang_next(1)

    assert [i.id for i in provisioner.list_instances(NAME)] == [server]
    assert len(sleeps.delays) == 1


def test_nova_hanging_for_good_gives_a_clear_error(
    nova: ComputeApiDouble, sleeps: RecordedSleep
) -> None:
    provisioner = make_provisioner(nova, sleeps, attempts=2)
    nova.hang_next(2)

    with pytest.raises(ProvisionerError, match=r"listing .*after 2 attempts.*timed out"):
        provisioner.list_instances(NAME)
