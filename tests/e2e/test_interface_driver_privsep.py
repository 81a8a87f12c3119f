"""The non-root path, for real: rootwrap with the shipped filters, then the privsep daemon.

As the astara user the orchestrator reaches root only through
``astara-rootwrap``: commands via :func:`run_privileged`, netlink via the
privsep daemon that rootwrap starts. Here the root helper is this checkout's
``astara-rootwrap`` with a config pointing at the repository's filters (sudo is
the only piece left out), and privsep is forced on although the test runs as
root, so a filter or an entrypoint that does not fit fails here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from oslo_config import cfg

from astara.common import privileged
from astara.common.linux.interface import BridgeInterfaceDriver, veth_outer_name
from astara.common.privileged import PrivilegedCommandError, run_privileged

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
ROOTWRAP = VENV_BIN / "astara-rootwrap"
MAC = "fa:16:3e:00:5a:02"


@pytest.fixture
def root_helper(tmp_path: Path) -> Iterator[str]:
    """Route privileged work through this checkout's astara-rootwrap and a live privsep daemon."""
    if not ROOTWRAP.exists() or not (VENV_BIN / "privsep-helper").exists():
        pytest.skip("astara-rootwrap or privsep-helper is not installed next to this Python")
    conf = tmp_path / "rootwrap.conf"
    exec_dirs = [str(VENV_BIN), "/sbin", "/usr/sbin", "/bin", "/usr/bin"]
    conf.write_text(
        "[DEFAULT]\n"
        f"filters_path={REPO / 'etc' / 'astara' / 'rootwrap.d'}\n"
        f"exec_dirs={','.join(exec_dirs)}\n"
        "use_syslog=False\n"
    )
    helper = f"{ROOTWRAP} {conf}"
    privileged.configure(helper)
    # The daemon's command without config files: deterministic whatever
    # other tests have loaded into cfg.CONF.
    cfg.CONF.set_override(
        "helper_command", f"{helper} privsep-helper", group="privsep_network_admin"
    )
    privileged.network_admin.set_client_mode(True)
    try:
        yield helper
    finally:
        privileged.network_admin.stop()
        privileged.network_admin.set_client_mode(os.geteuid() != 0)
        cfg.CONF.clear_override("helper_command", group="privsep_network_admin")
        privileged.configure(privileged.DEFAULT_ROOT_HELPER)


def _global_addresses(device: str) -> str:
    return subprocess.run(
        ["ip", "-o", "addr", "show", "dev", device, "scope", "global"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


@pytest.mark.usefixtures("root_helper")
def test_bridge_driver_plugs_through_the_privsep_daemon(
    bridge_factory, owned_name, adopt_link
) -> None:
    bridge = bridge_factory()
    device = owned_name("ns-")
    outer = adopt_link(veth_outer_name(device))
    driver = BridgeInterfaceDriver()

    driver.plug("astt-network", "astt-port", device, MAC, bridge=bridge)
    driver.init_l3(device, ["10.197.3.1/24"])

    assert privileged.network_admin.channel is not None  # the daemon did the work
    assert "10.197.3.1/24" in _global_addresses(device)
    master = subprocess.run(
        ["ip", "-o", "link", "show", "dev", outer], capture_output=True, text=True, check=True
    ).stdout
    assert f"master {bridge}" in master

    driver.unplug(device)

    assert subprocess.run(["ip", "link", "show", "dev", outer], capture_output=True).returncode
    assert subprocess.run(["ip", "link", "show", "dev", device], capture_output=True).returncode


def test_commands_go_through_rootwrap_when_not_root(
    root_helper: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(privileged.os, "geteuid", lambda: 1234)

    listed = run_privileged(["ip", "-o", "link", "show", "lo"])
    with pytest.raises(PrivilegedCommandError) as refused:
        run_privileged(["cat", "/etc/shadow"])

    assert b"lo" in listed.stdout
    assert refused.value.returncode == 99
    assert "Unauthorized command: cat /etc/shadow" in str(refused.value)
