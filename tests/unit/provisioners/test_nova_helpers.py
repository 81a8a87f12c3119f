"""The nova provisioner's pure parts: cloud-init user data, status mapping, names, retry policy."""

from __future__ import annotations

import base64
import logging
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from keystoneauth1 import exceptions as ks_exceptions
from openstack import exceptions as sdk_exceptions

from astara.drivers.base import PortSpec
from astara.provisioners.base import InstanceStatus, ProvisionerError, member_name
from astara.provisioners.nova_retry import RetryPolicy, is_transient
from astara.provisioners.nova_servers import (
    created_epoch,
    instance_status,
    name_filter,
    possible_appliance_names,
)
from astara.provisioners.nova_userdata import (
    encode_user_data,
    management_interface_address,
    read_ssh_public_key,
    render_user_data,
)


def management_port(*ips: str) -> PortSpec:
    return PortSpec("mgt", "mgt-net", "fa:16:3e:aa:bb:cc", "management", ips)


# -- user data ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ip", "prefix", "expected"),
    [
        ("fdca:3ba5:a17a:acda::5", "fdca:3ba5:a17a:acda::/64", "fdca:3ba5:a17a:acda::5/64"),
        ("192.168.100.7", "192.168.100.0/22", "192.168.100.7/22"),
    ],
)
def test_management_address_carries_the_management_prefix_length(
    ip: str, prefix: str, expected: str
) -> None:
    assert management_interface_address(management_port(ip), prefix) == expected


@pytest.mark.parametrize(
    ("port", "problem"),
    [
        (management_port(), "has no fixed IP"),
        (management_port("10.0.0.5"), "not in management_prefix"),
        (management_port("nonsense"), "not an IP address"),
    ],
)
def test_a_management_port_that_cannot_be_used_is_refused(port: PortSpec, problem: str) -> None:
    with pytest.raises(ProvisionerError, match=problem):
        management_interface_address(port, "fdca:3ba5:a17a:acda::/64")


def test_user_data_survives_a_key_and_command_yaml_would_misread() -> None:
    key = "ssh-rsa AAAA: #not-a-comment 'quoted' \"both\" user@host"
    text = render_user_data(
        management_port("fdca::5"), "fdca::/64", "/opt/bin/configure: mgmt", key
    )

    document = yaml.safe_load(text)
    assert document["bootcmd"] == [["/opt/bin/configure: mgmt", "fa:16:3e:aa:bb:cc", "fdca::5/64"]]
    assert document["users"][0]["ssh_authorized_keys"] == [key]
    assert document["users"][0]["lock_passwd"] is True


def test_user_data_is_sent_as_base64() -> None:
    assert base64.b64decode(encode_user_data("#cloud-config\né\n")).decode() == "#cloud-config\né\n"


def test_an_empty_or_unreadable_key_file_means_no_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    empty = tmp_path / "empty.pub"
    empty.write_text("\n", encoding="utf-8")

    with caplog.at_level(logging.WARNING):
        assert read_ssh_public_key(str(empty)) is None
        assert read_ssh_public_key(str(tmp_path)) is None  # a directory
    assert read_ssh_public_key(None) is None
    assert str(tmp_path) in caplog.text


# -- statuses and timestamps -------------------------------------------------------------


@pytest.mark.parametrize(
    ("nova_status", "expected"),
    [
        ("BUILD", InstanceStatus.BUILDING),
        ("ACTIVE", InstanceStatus.ACTIVE),
        ("ERROR", InstanceStatus.ERROR),
        ("SHELVED_OFFLOADED", InstanceStatus.ERROR),
        ("REBUILD", InstanceStatus.BUILDING),
        ("MIGRATING", InstanceStatus.ACTIVE),
        ("SOME_FUTURE_STATUS", InstanceStatus.ACTIVE),
        ("DELETED", None),
        ("SOFT_DELETED", None),
    ],
)
def test_nova_statuses_map_to_what_the_instance_manager_acts_on(
    nova_status: str, expected: InstanceStatus | None
) -> None:
    assert instance_status(nova_status) is expected


@pytest.mark.parametrize(
    "created", ["2024-05-01T12:00:00Z", "2024-05-01T12:00:00+00:00", "2024-05-01T12:00:00"]
)
def test_created_timestamps_are_read_as_utc(created: str) -> None:
    assert created_epoch(created) == 1714564800.0


def test_a_server_of_unknown_age_counts_as_old() -> None:
    assert created_epoch(None) == 0.0


# -- names -------------------------------------------------------------------------------


@given(st.text(min_size=1, max_size=40))
def test_the_name_filter_matches_exactly_the_names_starting_with_the_prefix(prefix: str) -> None:
    pattern = re.compile(name_filter(prefix))
    assert pattern.search(prefix + "-ha1")
    assert not pattern.search("x" + prefix)


@given(st.text(alphabet="abc-h0123.", min_size=1, max_size=20), st.integers(0, 3))
def test_a_member_name_leads_back_to_its_appliance(appliance: str, index: int) -> None:
    assert appliance in possible_appliance_names(member_name(appliance, index))


def test_a_name_that_only_shares_a_prefix_is_not_a_member() -> None:
    assert possible_appliance_names("ak-router-abc-other") == ["ak-router-abc-other"]
    assert possible_appliance_names("ak-router-abc-ha1") == ["ak-router-abc-ha1", "ak-router-abc"]


# -- retry policy ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (ks_exceptions.ConnectTimeout("timed out"), True),
        (ks_exceptions.ConnectFailure("refused"), True),
        (sdk_exceptions.HttpException("busy", http_status=503), True),
        (sdk_exceptions.HttpException("later", http_status=429), True),
        (sdk_exceptions.HttpException("task state", http_status=409), True),
        (sdk_exceptions.HttpException("bad", http_status=400), False),
        (sdk_exceptions.HttpException("denied", http_status=403), False),
        (ValueError("a bug"), False),
    ],
)
def test_only_failures_that_may_pass_are_retried(error: Exception, transient: bool) -> None:
    assert is_transient(error) is transient


def test_backoff_doubles_up_to_its_bound() -> None:
    delays: list[float] = []
    policy = RetryPolicy(attempts=6, initial_wait=1.0, max_wait=5.0, sleep=delays.append)

    def unreachable() -> None:
        raise ks_exceptions.ConnectFailure("connection refused")

    with pytest.raises(ProvisionerError, match="still failing after 6 attempts: connection"):
        policy.call("listing", unreachable)
    assert delays == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_a_bug_in_the_operation_is_not_disguised_as_a_nova_failure() -> None:
    def buggy() -> None:
        raise KeyError("oops")

    with pytest.raises(KeyError):
        RetryPolicy(sleep=lambda _: None).call("listing", buggy)
