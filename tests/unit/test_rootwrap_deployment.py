"""The deployment files that put astara-rootwrap to work parse with the tools that read them.

Each check uses the host's own tool (visudo, systemd-analyze, logrotate) and is
skipped, with the reason, where that tool is missing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ETC = Path(__file__).resolve().parents[2] / "etc"
SUDOERS = ETC / "sudoers.d" / "astara"
UNIT = ETC / "systemd" / "astara-orchestrator.service"
LOGROTATE = ETC / "logrotate.d" / "astara"
PROVIDER_RULES = ETC / "astara" / "provider_rules.json"
ORCHESTRATOR = "/usr/local/bin/astara-orchestrator"


def tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if path is None:
        pytest.skip(f"{name} is not installed on this host")
    return path


def run(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, cwd=cwd)


def test_sudoers_parses_and_allows_only_rootwrap() -> None:
    checked = run(tool("visudo"), "-c", "-f", str(SUDOERS))

    assert checked.returncode == 0, checked.stdout + checked.stderr
    rules = [line for line in SUDOERS.read_text().splitlines() if line.startswith("astara ")]
    assert rules == [
        "astara ALL = (root) NOPASSWD: /usr/local/bin/astara-rootwrap  /etc/astara/rootwrap.conf *"
    ]


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    verified = run(tool("systemd-analyze"), "verify", str(UNIT), cwd=tmp_path)

    # The orchestrator is not installed where the tests run; anything else is a defect.
    problems = [
        line
        for line in (verified.stdout + verified.stderr).splitlines()
        if line.strip()
        and not (
            f"Command {ORCHESTRATOR} is not executable" in line and not Path(ORCHESTRATOR).exists()
        )
    ]
    assert problems == []


def test_systemd_unit_runs_unprivileged_and_stops_cleanly() -> None:
    settings = dict(
        line.split("=", 1)
        for line in UNIT.read_text().splitlines()
        if "=" in line and line[0] != "#"
    )

    assert settings["User"] == "astara"
    assert settings["ExecStart"] == f"{ORCHESTRATOR} --config-file=/etc/astara/orchestrator.ini"
    assert settings["Restart"] == "on-failure"
    assert settings["KillSignal"] == "SIGTERM"
    # sudo must keep working: nothing may set no_new_privs.
    assert settings.get("NoNewPrivileges", "no") == "no"


def test_logrotate_config_parses(tmp_path: Path) -> None:
    checked = run(tool("logrotate"), "-d", "-s", str(tmp_path / "state"), str(LOGROTATE))

    assert checked.returncode == 0, checked.stderr
    assert "error" not in checked.stderr.lower()
    assert "rotating pattern: /var/log/astara/*.log" in checked.stderr


def test_provider_rules_sample_is_the_catalogues() -> None:
    rules = json.loads(PROVIDER_RULES.read_text())

    assert rules == {"labels": {"ext": ["192.168.57.0/24"]}, "prerules": [], "postrules": []}
