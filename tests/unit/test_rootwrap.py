"""The rootwrap filters shipped in etc/astara allow what Astara runs and nothing dangerous.

Commands are only *matched* (oslo.rootwrap's filter API), never executed,
except for a harmless ``ip -V`` that proves the console script runs end to end.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from oslo_rootwrap import filters, wrapper

from astara.common import rootwrap
from astara.common.linux.interface import InterfaceOptions, OVSInterfaceDriver

REPO = Path(__file__).resolve().parents[2]
FILTERS_DIR = REPO / "etc" / "astara" / "rootwrap.d"
SHIPPED_CONF = REPO / "etc" / "astara" / "rootwrap.conf"
SYSTEM_DIRS = ["/sbin", "/usr/sbin", "/bin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin"]
# Programs the filters name that a test host may lack; stand-ins make the
# filters' "is it installed" check pass so that matching alone is tested.
STAND_INS = ("ovs-vsctl", "astara-appliance", "privsep-helper", "dnsmasq", "keepalived",
             "conntrackd", "bird", "haproxy", "nft", "sysctl", "bridge", "ip")  # fmt: skip


@pytest.fixture(scope="module")
def rootwrap_conf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A rootwrap.conf like the shipped one, pointing at the repository's filters."""
    tmp = tmp_path_factory.mktemp("rootwrap")
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    for name in STAND_INS:
        stand_in = bin_dir / name
        stand_in.write_text("#!/bin/false\n")
        stand_in.chmod(0o755)
    conf = tmp / "rootwrap.conf"
    conf.write_text(
        "[DEFAULT]\n"
        f"filters_path={FILTERS_DIR}\n"
        f"exec_dirs={','.join([*SYSTEM_DIRS, str(bin_dir)])}\n"
        "use_syslog=False\n"
    )
    return conf


@pytest.fixture(scope="module")
def config(rootwrap_conf: Path) -> wrapper.RootwrapConfig:
    return rootwrap.load_config(str(rootwrap_conf))


@pytest.fixture(scope="module")
def loaded_filters(config: wrapper.RootwrapConfig) -> list[filters.CommandFilter]:
    return rootwrap.load_filters(config.filters_path)


def allowed(
    argv: list[str], loaded: list[filters.CommandFilter], config: wrapper.RootwrapConfig
) -> bool:
    """Would astara-rootwrap run ``argv``? Our refusals first, then the filters."""
    if rootwrap.refusal_reason(argv) is not None:
        return False
    try:
        wrapper.match_filter(loaded, argv, exec_dirs=config.exec_dirs)
    except wrapper.NoFilterMatched:
        return False
    return True


def test_shipped_config_has_the_install_guide_settings() -> None:
    shipped = rootwrap.load_config(str(SHIPPED_CONF))

    assert shipped.filters_path == ["/etc/astara/rootwrap.d", "/usr/share/astara/rootwrap"]
    assert shipped.exec_dirs == ["/sbin", "/usr/sbin", "/bin", "/usr/bin",
                                 "/usr/local/bin", "/usr/local/sbin"]  # fmt: skip
    assert shipped.use_syslog is False


NS = "ak-router-0b9e"
STATE = "/var/lib/astara/ak-router-0b9e"

ALLOWED = [
    ["ip", "netns", "add", NS],
    ["ip", "netns", "delete", NS],
    ["ip", "netns", "pids", NS],
    ["ip", "link", "set", "dev", "tap0b9e", "up"],
    ["ip", "-6", "addr", "add", "fdca:3ba5:a17a:acda::1/64", "dev", "ns-0b9e"],
    ["ip", "route", "replace", "default", "via", "192.168.57.1"],
    ["ip", "netns", "exec", NS, "ip", "link", "set", "lo", "up"],
    ["bridge", "fdb", "add", "fa:16:3e:00:00:01", "dev", "tap0b9e", "master"],
    ["nft", "-j", "-f", "-"],
    ["nft", "-f", "-"],
    ["nft", "-j", "list", "ruleset"],
    ["ip", "netns", "exec", NS, "nft", "-j", "-f", "-"],
    ["sysctl", "-w", "net.ipv4.ip_forward=1"],
    ["sysctl", "-w", "net.ipv6.conf.ns-0b9e.accept_dad=0"],
    ["ip", "netns", "exec", NS, "sysctl", "-w", "net.ipv6.conf.all.forwarding=1"],
    ["ip", "netns", "exec", NS, "astara-appliance", "--config-file", f"{STATE}/agent.ini"],
    ["ip", "netns", "exec", NS, "dnsmasq", f"--conf-file={STATE}/dnsmasq.conf"],
    ["ip", "netns", "exec", NS, "keepalived", f"--use-file={STATE}/keepalived.conf",
     f"--pid={STATE}/keepalived.pid", f"--vrrp_pid={STATE}/vrrp.pid"],
    ["ip", "netns", "exec", NS, "conntrackd", "-d", "-C", f"{STATE}/conntrackd.conf"],
    ["ip", "netns", "exec", NS, "bird", "-c", f"{STATE}/bird.conf", "-s", f"{STATE}/bird.ctl",
     "-P", f"{STATE}/bird.pid"],
    ["ip", "netns", "exec", NS, "haproxy", "-D", "-f", f"{STATE}/haproxy.cfg",
     "-p", f"{STATE}/haproxy.pid"],
    ["privsep-helper", "--config-file", "/etc/astara/orchestrator.ini",
     "--privsep_context", "astara.common.privileged.network_admin",
     "--privsep_sock_path", "/tmp/tmpp510ozaw/privsep.sock"],
]  # fmt: skip


@pytest.mark.parametrize("argv", ALLOWED, ids=lambda argv: " ".join(argv)[:60])
def test_commands_astara_runs_are_allowed(
    argv: list[str], loaded_filters: list[filters.CommandFilter], config: wrapper.RootwrapConfig
) -> None:
    assert allowed(argv, loaded_filters, config)


REFUSED = [
    ["rm", "-rf", "/"],
    ["rm", "-f", "/var/lib/astara/ak-router-0b9e/dnsmasq.pid"],
    ["bash"],
    ["sh", "-c", "id"],
    ["cat", "/etc/shadow"],
    ["ip", "netns", "exec", NS, "bash"],
    ["ip", "netns", "exec", NS, "cat", "/etc/shadow"],
    ["ip", "netns", "exec", NS, "rm", "-rf", "/"],
    # a program merely named like an allowed one, given by path
    ["ip", "netns", "exec", NS, "/home/astara/ip", "link"],
    ["ip", "netns", "exec", NS, "ip", "netns", "exec", NS, "/tmp/nft", "-f", "-"],
    # batch mode reads commands (and echoes rejected lines) from a file
    ["ip", "-batch", "/etc/shadow"],
    ["ip", "-b", "/etc/shadow"],
    ["ip", "--batch", "/etc/shadow"],
    ["bridge", "-b", "/etc/shadow"],
    ["ip", "netns", "exec", NS, "ip", "-ba", "/etc/shadow"],
    # nft only reads stdin: a file could be a symlink to a secret
    ["nft", "-f", "/etc/shadow"],
    ["nft", "-j", "-f", "/var/lib/astara/rules.json"],
    ["nft", "flush", "ruleset"],
    ["sysctl", "-w", "kernel.core_pattern=|/tmp/x"],
    ["sysctl", "-p", "/etc/shadow"],
    ["sysctl", "-w", "net.ipv4/../../kernel/core_pattern=x"],
    ["ovs-vsctl", "--log-file=/etc/ld.so.preload", "show"],
    ["ovs-vsctl", "del-br", "br-int"],
    ["dnsmasq", "--dhcp-script=/tmp/evil"],
    ["dnsmasq", "--conf-file=/var/lib/astara/../../../etc/shadow"],
    ["ip", "netns", "exec", NS, "dnsmasq", "--conf-file=/etc/shadow"],
    ["haproxy", "-f", "/tmp/evil.cfg"],
    ["kill", "-9", "1"],
    ["kill", "1"],
    # privsep: only Astara's context, with a config file from /etc/astara
    ["privsep-helper", "--privsep_context", "os.system",
     "--privsep_sock_path", "/tmp/tmpabc/privsep.sock"],
    ["privsep-helper", "--config-file", "/tmp/evil.conf",
     "--privsep_context", "astara.common.privileged.network_admin",
     "--privsep_sock_path", "/tmp/tmpabc/privsep.sock"],
    ["privsep-helper", "--config-file", "/etc/astara/../shadow",
     "--privsep_context", "astara.common.privileged.network_admin",
     "--privsep_sock_path", "/tmp/tmpabc/privsep.sock"],
]  # fmt: skip


@pytest.mark.parametrize("argv", REFUSED, ids=lambda argv: " ".join(argv)[:60])
def test_dangerous_commands_are_refused(
    argv: list[str], loaded_filters: list[filters.CommandFilter], config: wrapper.RootwrapConfig
) -> None:
    assert not allowed(argv, loaded_filters, config)


def test_oslo_rootwrap_alone_would_allow_any_privsep_context(
    config: wrapper.RootwrapConfig, loaded_filters: list[filters.CommandFilter]
) -> None:
    """The reason load_filters exists: oslo.rootwrap adds an unrestricted privsep-helper."""
    argv = ["privsep-helper", "--privsep_context", "os.system",
            "--privsep_sock_path", "/tmp/tmpabc/privsep.sock"]  # fmt: skip
    oslo_filters = wrapper.load_filters(config.filters_path)

    assert wrapper.match_filter(oslo_filters, argv, exec_dirs=config.exec_dirs)
    assert not allowed(argv, loaded_filters, config)


def test_kill_is_limited_to_the_service_daemons(
    loaded_filters: list[filters.CommandFilter], config: wrapper.RootwrapConfig
) -> None:
    killable = {f.args[0] for f in loaded_filters if isinstance(f, filters.KillFilter)}
    assert killable == {f"/usr/sbin/{daemon}" for daemon in
                        ("dnsmasq", "keepalived", "conntrackd", "bird", "haproxy")}  # fmt: skip

    # A live process that is not one of them cannot be signalled, even this test.
    assert not allowed(["kill", "-TERM", str(os.getpid())], loaded_filters, config)
    with subprocess.Popen(["sleep", "60"]) as sleeper:
        try:
            assert not allowed(["kill", "-KILL", str(sleeper.pid)], loaded_filters, config)
        finally:
            sleeper.kill()


@pytest.mark.parametrize("use_veth", [False, True])
def test_ovs_driver_commands_match_the_ovs_filters(
    use_veth: bool,
    monkeypatch: pytest.MonkeyPatch,
    loaded_filters: list[filters.CommandFilter],
    config: wrapper.RootwrapConfig,
) -> None:
    """The driver and ovs.filters must agree on every argument, or plugging fails as non-root."""
    from astara.common.linux import interface

    commands: list[list[str]] = []
    monkeypatch.setattr(interface.shutil, "which", lambda *_a, **_k: "/usr/bin/ovs-vsctl")
    monkeypatch.setattr(interface, "run_privileged", lambda argv: commands.append(list(argv)))
    monkeypatch.setattr(interface.netlink, "link_exists", lambda *_a: False)
    monkeypatch.setattr(interface.netlink, "create_veth", lambda *_a: None)
    monkeypatch.setattr(interface.netlink, "configure_link", lambda *_a: None)
    monkeypatch.setattr(interface.netlink, "delete_link", lambda *_a: None)
    driver = OVSInterfaceDriver(InterfaceOptions(ovs_use_veth=use_veth))
    port_id = "0b9e5a2c-8f1d-4f6e-9a43-5c1b2d3e4f50"
    device = driver.device_name_for_port(port_id)

    driver.plug("net-1", port_id, device, "fa:16:3e:12:34:56")
    driver.unplug(device)

    assert len(commands) == 2
    for argv in commands:
        assert allowed(argv, loaded_filters, config), argv


def run_console_script(*args: str) -> subprocess.CompletedProcess[str]:
    code = "from astara.common.rootwrap import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
    )


def test_console_script_runs_an_allowed_command(rootwrap_conf: Path) -> None:
    result = run_console_script(str(rootwrap_conf), "ip", "-V")

    assert result.returncode == 0, result.stderr
    assert "iproute2" in result.stdout


@pytest.mark.parametrize(
    ("args", "returncode", "message"),
    [
        ((), 98, "usage: astara-rootwrap"),
        (("/nonexistent/rootwrap.conf", "ip", "-V"), 97, "cannot read /nonexistent/rootwrap.conf"),
        (("{conf}", "cat", "/etc/shadow"), 99, "Unauthorized command: cat /etc/shadow"),
        (("{conf}", "ip", "-b", "/etc/shadow"), 99, "batch mode"),
    ],
)
def test_console_script_errors_are_one_clear_line(
    rootwrap_conf: Path, args: tuple[str, ...], returncode: int, message: str
) -> None:
    result = run_console_script(*(arg.format(conf=rootwrap_conf) for arg in args))

    assert result.returncode == returncode
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_invalid_config_is_reported_without_traceback(tmp_path: Path) -> None:
    broken = tmp_path / "rootwrap.conf"
    broken.write_text("[DEFAULT]\nfilters_path=/x\nsyslog_log_facility=nonsense\n")
    missing_option = tmp_path / "empty.conf"
    missing_option.write_text("[DEFAULT]\n")

    for conf in (broken, missing_option):
        result = run_console_script(str(conf), "ip", "-V")
        assert result.returncode == 97
        assert f"invalid {conf}" in result.stderr
        assert "Traceback" not in result.stderr
