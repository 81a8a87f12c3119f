"""run_privileged: argv run directly as root, through the root helper otherwise; no shell."""

from __future__ import annotations

import json
import logging
import shlex
import sys
from collections.abc import Iterator

import pytest

from astara.common import privileged
from astara.common.privileged import PrivilegedCommandError, run_privileged

PYTHON = sys.executable
# A stand-in root helper that reports the argv it was given, as JSON.
ECHO_ARGV_HELPER = shlex.join([PYTHON, "-c", "import json, sys; print(json.dumps(sys.argv[1:]))"])


@pytest.fixture(autouse=True)
def default_root_helper() -> Iterator[None]:
    yield
    privileged.configure(privileged.DEFAULT_ROOT_HELPER)


@pytest.fixture
def as_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(privileged.os, "geteuid", lambda: 0)


@pytest.fixture
def as_astara_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(privileged.os, "geteuid", lambda: 1234)


@pytest.mark.usefixtures("as_root")
def test_root_runs_the_argv_itself() -> None:
    result = run_privileged([PYTHON, "-c", "import os; print('ran')"])

    assert result.returncode == 0
    assert result.stdout == b"ran\n"


@pytest.mark.usefixtures("as_astara_user")
def test_non_root_goes_through_the_root_helper_without_a_shell() -> None:
    privileged.configure(ECHO_ARGV_HELPER)
    argv = ["ip", "link", "set", "dev", "tap 1; rm -rf /", "$(id)"]

    result = run_privileged(argv)

    assert json.loads(result.stdout) == argv


@pytest.mark.usefixtures("as_astara_user")
def test_default_root_helper_is_the_install_guides() -> None:
    captured: list[list[str]] = []

    def fake_run(command: list[str], **_: object) -> object:
        captured.append(command)
        raise FileNotFoundError(2, "No such file or directory")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(privileged.subprocess, "run", fake_run)
        with pytest.raises(PrivilegedCommandError, match="cannot start sudo"):
            run_privileged(["ip", "-V"])

    assert captured == [["sudo", "astara-rootwrap", "/etc/astara/rootwrap.conf", "ip", "-V"]]


@pytest.mark.usefixtures("as_root")
def test_input_reaches_the_command_stdin() -> None:
    result = run_privileged(
        [PYTHON, "-c", "import sys; print(sys.stdin.read().upper())"], input=b"table inet x"
    )

    assert result.stdout == b"TABLE INET X\n"


@pytest.mark.usefixtures("as_root")
def test_failure_raises_one_line_with_argv_and_stderr() -> None:
    script = "import sys; sys.stderr.write('Error: no such\\n  table\\n'); sys.exit(3)"

    with pytest.raises(PrivilegedCommandError) as raised:
        run_privileged([PYTHON, "-c", script])

    message = str(raised.value)
    assert "\n" not in message
    assert "exited 3" in message
    assert "Error: no such table" in message
    assert shlex.join([PYTHON, "-c", script]) in message
    assert raised.value.argv == (PYTHON, "-c", script)
    assert raised.value.returncode == 3


@pytest.mark.usefixtures("as_root")
def test_failure_is_returned_when_not_checked() -> None:
    result = run_privileged([PYTHON, "-c", "import sys; sys.exit(4)"], check=False)

    assert result.returncode == 4


@pytest.mark.usefixtures("as_root")
def test_missing_program_is_a_clear_error() -> None:
    with pytest.raises(PrivilegedCommandError, match="cannot start astara-no-such-program"):
        run_privileged(["astara-no-such-program", "--version"])


@pytest.mark.usefixtures("as_root")
def test_timeout_is_a_clear_error() -> None:
    with pytest.raises(PrivilegedCommandError, match=r"timed out after 0\.2s"):
        run_privileged([PYTHON, "-c", "import time; time.sleep(30)"], timeout=0.2)


@pytest.mark.usefixtures("as_root")
def test_each_command_is_logged_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger=privileged.__name__):
        run_privileged([PYTHON, "-c", "pass"])

    assert any("-c pass" in record.getMessage() for record in caplog.records)


def test_empty_command_and_empty_root_helper_are_refused() -> None:
    with pytest.raises(ValueError, match="needs a command"):
        run_privileged([])
    with pytest.raises(ValueError, match="root_helper is empty"):
        privileged.configure("   ")


def test_configure_also_routes_the_privsep_daemon_through_the_root_helper() -> None:
    privileged.configure("sudo /usr/local/bin/astara-rootwrap /etc/astara/rootwrap.conf")

    command = privileged.network_admin.helper_command("/tmp/tmpabc/privsep.sock")

    assert command[:4] == [
        "sudo", "/usr/local/bin/astara-rootwrap", "/etc/astara/rootwrap.conf", "privsep-helper"
    ]  # fmt: skip
    assert command[-4:] == [
        "--privsep_context", "astara.common.privileged.network_admin",
        "--privsep_sock_path", "/tmp/tmpabc/privsep.sock",
    ]  # fmt: skip
