"""The daemon life cycle shared by bird, keepalived and conntrackd, with ``tail`` as the daemon.

``tail -f <config>`` names its configuration file on its command line and
runs until signalled, which is all the life cycle needs; no privileges.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from astara.appliance.netns import CommandError, Namespace
from astara.appliance.services.daemon_process import ConfiguredDaemon, decide

MakeDaemon = Callable[..., ConfiguredDaemon]


def _start(config: Path) -> list[str]:
    return ["sh", "-c", 'tail -f "$0" >/dev/null 2>&1 &', str(config)]


@pytest.fixture
def make_daemon(tmp_path: Path) -> Iterator[MakeDaemon]:
    made: list[ConfiguredDaemon] = []

    def make(**kwargs: object) -> ConfiguredDaemon:
        daemon = ConfiguredDaemon(
            Namespace(None), "tail", tmp_path / "tail.conf", start_argv=_start, **kwargs
        )
        made.append(daemon)
        return daemon

    yield make
    for daemon in made:
        daemon.converge(None)


@pytest.mark.parametrize(
    ("needed", "running", "changed", "action"),
    [
        (False, False, False, "none"),
        (False, True, True, "stop"),
        (True, False, False, "start"),
        (True, True, False, "none"),
        (True, True, True, "reload"),
    ],
)
def test_decide(needed: bool, running: bool, changed: bool, action: str) -> None:
    assert decide(needed, running, changed) == action


def test_same_text_twice_touches_nothing(make_daemon: MakeDaemon) -> None:
    daemon = make_daemon(reload_signal=signal.SIGCONT)
    assert daemon.converge("a\n") == "start"
    pids = daemon.running_pids()
    assert len(pids) == 1
    assert daemon.converge("a\n") == "none"
    assert daemon.running_pids() == pids


def test_changed_text_is_reloaded_in_place(make_daemon: MakeDaemon) -> None:
    daemon = make_daemon(reload_signal=signal.SIGCONT)
    daemon.converge("a\n")
    pids = daemon.running_pids()
    assert daemon.converge("b\n") == "reload"
    assert daemon.running_pids() == pids
    assert daemon.config_path.read_text() == "b\n"


def test_without_a_reload_signal_a_change_restarts(make_daemon: MakeDaemon) -> None:
    daemon = make_daemon(reload_signal=None)
    daemon.converge("a\n")
    before = daemon.running_pids()
    assert daemon.converge("b\n") == "restart"
    after = daemon.running_pids()
    assert len(after) == 1
    assert after != before


def test_none_stops_the_daemon_and_removes_its_file(make_daemon: MakeDaemon) -> None:
    daemon = make_daemon()
    daemon.converge("a\n")
    assert daemon.converge(None) == "stop"
    assert daemon.running_pids() == []
    assert not daemon.config_path.exists()
    assert daemon.converge(None) == "none"


def test_a_dead_daemon_is_started_again(make_daemon: MakeDaemon) -> None:
    daemon = make_daemon()
    daemon.converge("a\n")
    daemon._stop(daemon.running_pids())
    assert daemon.converge("a\n") == "start"
    assert len(daemon.running_pids()) == 1


def test_a_file_failing_the_check_never_replaces_the_running_one(make_daemon: MakeDaemon) -> None:
    daemon = make_daemon(check_argv=lambda path: ["grep", "-q", "good", str(path)])
    daemon.converge("good\n")
    pids = daemon.running_pids()
    with pytest.raises(CommandError):
        daemon.converge("bad\n")
    assert daemon.config_path.read_text() == "good\n"
    assert daemon.running_pids() == pids
    assert [p.name for p in daemon.config_path.parent.iterdir()] == ["tail.conf"]
