"""GroupSession on tooz's file backend: joining, seeing others, leaving, and repairing itself.

The file backend is real tooz code with no server, so these tests run
anywhere; the Redis and ZooKeeper behaviour (leases, kill -9) is in
tests/integration/test_coordination.py.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from tooz import coordination

from astara.orchestrator.coordination_group import GroupSession

GROUP = "astara.test"
TIMEOUT = 3.0


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"file://{tmp_path / 'coordination'}"


@pytest.fixture
def sessions(url: str) -> Iterator[dict[str, GroupSession]]:
    opened = {name: GroupSession(url, GROUP, name, TIMEOUT) for name in ("orch-a", "orch-b")}
    yield opened
    for session in opened.values():
        session.close()


def test_the_first_refresh_creates_the_group_and_joins(
        sessions: dict[str, GroupSession]) -> None:
    assert sessions["orch-a"].refresh() == {"orch-a"}


def test_members_see_each_other_as_text(sessions: dict[str, GroupSession]) -> None:
    sessions["orch-a"].refresh()
    assert sessions["orch-b"].refresh() == {"orch-a", "orch-b"}
    assert sessions["orch-a"].refresh() == {"orch-a", "orch-b"}


def test_a_closed_member_is_gone_at_once(sessions: dict[str, GroupSession]) -> None:
    sessions["orch-a"].refresh()
    sessions["orch-b"].refresh()
    sessions["orch-b"].close()
    assert sessions["orch-a"].refresh() == {"orch-a"}


def test_a_lost_group_is_created_again_and_rejoined(
        url: str, sessions: dict[str, GroupSession], caplog: pytest.LogCaptureFixture) -> None:
    """What a restarted Redis or a wiped ZooKeeper looks like: the group is gone."""
    sessions["orch-a"].refresh()
    shutil.rmtree(Path(url.removeprefix("file://")) / "groups")
    assert sessions["orch-a"].refresh() == {"orch-a"}
    assert "orch-a was dropped from coordination group" in caplog.text


def test_a_failed_connection_is_retried_by_the_next_refresh(tmp_path: Path) -> None:
    blocker = tmp_path / "coordination"
    blocker.write_text("not a directory")
    session = GroupSession(f"file://{blocker}", GROUP, "orch-a", TIMEOUT)
    with pytest.raises(coordination.ToozConnectionError):
        session.refresh()
    blocker.unlink()
    assert session.refresh() == {"orch-a"}
    session.close()


def test_close_without_joining_or_twice_is_harmless(url: str) -> None:
    session = GroupSession(url, GROUP, "orch-a", TIMEOUT)
    session.close()
    session.refresh()
    session.close()
    session.close()


def test_a_member_needs_a_name(url: str) -> None:
    with pytest.raises(ValueError, match="non-empty id"):
        GroupSession(url, GROUP, "", TIMEOUT)
