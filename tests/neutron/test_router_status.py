"""Astara reports router status through its extension; users see it on the router.

The orchestrator's calls are made as it makes them, with plain HTTP: ``PUT
/v2.0/astara/routerstatus/{id}`` (and the original's ``/v2.0/dhrouterstatus``);
what a user sees is read back with the real ``openstack router show``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pymysql
import pytest
from tests.neutron.conftest import NeutronServer

pytestmark = pytest.mark.neutron

# Under noauth, Neutron 29 runs every API request as admin (identity headers
# included), so the refusal of non-admins is checked on the plugin itself, in
# Neutron's interpreter, with a real non-admin Neutron context.
NON_ADMIN_UPDATE = """
from oslo_config import cfg
from neutron_lib import context, exceptions
from neutron_lib.api import faults
from astara_neutron.db.router_status_db import RouterStatusDbMixin

cfg.CONF([], project="neutron")  # a context asks Neutron's policy engine about its roles
member = context.Context(user_id="astt-user", project_id="astt-project", roles=["member"],
                         is_admin=False)
try:
    RouterStatusDbMixin().update_routerstatus(
        member, "{router_id}", {{"routerstatus": {{"status": "ERROR"}}}})
except exceptions.AdminRequired as refused:
    status = next(code for fault, code in faults.FAULT_MAP.items() if isinstance(refused, fault))
    print(status.code)
"""


@pytest.fixture(scope="module")
def api(neutron_server: NeutronServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{neutron_server.endpoint}/v2.0", timeout=30) as client:
        yield client


@pytest.fixture
def router(neutron_server: NeutronServer, unique_name: Callable[[str], str]) -> dict[str, Any]:
    """A router with one interface on a private network, made with the CLI."""
    cli = neutron_server.openstack_json
    network = cli("network", "create", unique_name("net"))
    subnet = cli("subnet", "create", "--network", network["id"], "--subnet-range",
                 "10.9.0.0/24", unique_name("subnet"))
    created: dict[str, Any] = cli("router", "create", unique_name("router"))
    neutron_server.openstack("router", "add", "subnet", created["id"], subnet["id"])
    return created


def status_shown_by_cli(neutron_server: NeutronServer, router_id: str) -> str:
    return str(neutron_server.openstack_json("router", "show", router_id)["status"])


def put_status(api: httpx.Client, path: str, status: str, **kwargs: Any) -> httpx.Response:
    return api.put(path, json={"routerstatus": {"status": status}}, **kwargs)


@pytest.mark.parametrize("path", ["/astara/routerstatus/{id}", "/dhrouterstatus/{id}"])
def test_status_written_by_astara_is_what_users_see(
    neutron_server: NeutronServer, api: httpx.Client, router: dict[str, Any], path: str
) -> None:
    url = path.format(id=router["id"])
    for status in ("BUILD", "ACTIVE", "ERROR", "DOWN"):
        answer = put_status(api, url, status).raise_for_status().json()
        assert answer == {"routerstatus": {"id": router["id"], "status": status}}
        assert status_shown_by_cli(neutron_server, router["id"]) == status
    assert api.get(url).raise_for_status().json()["routerstatus"]["status"] == "DOWN"


def test_status_collection_lists_routers(api: httpx.Client, router: dict[str, Any]) -> None:
    put_status(api, f"/astara/routerstatus/{router['id']}", "BUILD").raise_for_status()
    for collection in ("/astara/routerstatus", "/dhrouterstatus"):
        listed = api.get(collection, params={"id": router["id"]}).raise_for_status().json()
        assert listed == {collection.rsplit("/", 1)[-1]: [{"id": router["id"], "status": "BUILD"}]}


def test_bad_status_requests_are_refused_and_change_nothing(
    neutron_server: NeutronServer, api: httpx.Client, router: dict[str, Any]
) -> None:
    url = f"/astara/routerstatus/{router['id']}"
    put_status(api, url, "ACTIVE").raise_for_status()

    assert put_status(api, url, "SLEEPING").status_code == 400
    assert api.put(url, json={"status": "ERROR"}).status_code == 400
    assert put_status(api, "/astara/routerstatus/00000000-0000-4000-8000-000000000000",
                      "ERROR").status_code == 404
    # The original's DELETE removed the router itself; here it is refused.
    assert api.delete(url).status_code == 405
    assert api.post("/astara/routerstatus", json={"routerstatus": {"status": "ERROR"}}
                    ).status_code == 400

    assert status_shown_by_cli(neutron_server, router["id"]) == "ACTIVE"


def test_only_admins_may_set_router_status(
    neutron_server: NeutronServer, router: dict[str, Any]
) -> None:
    refused = subprocess.run(
        [str(neutron_server.venv / "bin" / "python"), "-c",
         NON_ADMIN_UPDATE.format(router_id=router["id"])],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert (refused.returncode, refused.stdout.strip()) == (0, "403"), refused.stderr


def test_interface_status_follows_the_appliance_ports_behind_it(
    neutron_server: NeutronServer, api: httpx.Client, router: dict[str, Any],
    mariadb_database: str,
) -> None:
    cli = neutron_server.openstack_json
    interface = cli("port", "list", "--router", router["id"])[0]
    network_id = cli("port", "show", interface["ID"])["network_id"]
    assert cli("port", "show", interface["ID"])["status"] == "DOWN"
    appliance_port = cli("port", "create", "--network", network_id,
                         "--device-owner", "compute:astara", "--device", router["id"],
                         f"ASTARA:VRRP:{router['id']}")
    # No L2 agent here to bring the appliance's port up: play its part in the
    # session's own database.
    database = urlsplit(mariadb_database).path.lstrip("/")
    with pymysql.connect(host="127.0.0.1", user="root", database=database,
                         autocommit=True) as connection, connection.cursor() as cursor:
        cursor.execute("UPDATE ports SET status = 'ACTIVE' WHERE id = %s", (appliance_port["id"],))

    put_status(api, f"/astara/routerstatus/{router['id']}", "ACTIVE").raise_for_status()

    assert cli("port", "show", interface["ID"])["status"] == "ACTIVE"
