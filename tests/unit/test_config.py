"""Loading and checking orchestrator.ini: the install guide's file, comments, bad values."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from oslo_config import cfg

from astara.common import config
from astara.common.config_comments import strip_inline_comment

FIXTURES = Path(__file__).parent.parent / "fixtures" / "config"
INSTALL_GUIDE = FIXTURES / "install-guide.ini"
BIN = Path(sys.executable).parent

#: Any importable class will do where the test is not about the interface driver.
IMPORTABLE_DRIVER = "logging.NullHandler"

needs_interface_drivers = pytest.mark.skipif(
    importlib.util.find_spec("astara.common.linux") is None
    or importlib.util.find_spec("astara.common.linux.interface") is None,
    reason="astara.common.linux.interface (the interface drivers the install guide "
    "names) is not in the tree yet",
)


def write_config(tmp_path: Path, text: str, name: str = "orchestrator.ini") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def load(path: Path, *extra: str) -> cfg.ConfigOpts:
    return config.parse_config(["--config-file", str(path), *extra], "astara-test",
                               default_config_files=[])


def base_config(tmp_path: Path, extra: str = "") -> Path:
    return write_config(tmp_path, f"[DEFAULT]\ninterface_driver = {IMPORTABLE_DRIVER}\n{extra}")


@needs_interface_drivers
def test_install_guide_file_loads_with_the_values_it_means() -> None:
    conf = load(INSTALL_GUIDE)

    assert conf.log_file == "/var/log/astara/orchestrator.log"
    assert conf.management_prefix == "fdca:3ba5:a17a:acda::/64"
    assert conf.management_network_id == "2f1d3e7c-5a4b-4c1d-9e8f-0a1b2c3d4e5f"
    assert conf.management_subnet_id == "7c6b5a49-3827-4161-8f0e-d1c2b3a49586"
    assert conf.external_network_id == "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
    assert conf.ssh_public_key == "/etc/astara/id_rsa.pub"
    # The guide shows both drivers; the last line wins, its comment dropped.
    assert conf.interface_driver == "astara.common.linux.interface.OVSInterfaceDriver"
    assert conf.provider_rules_path == "/etc/astara/provider_rules.json"
    rabbit = conf.oslo_messaging_rabbit
    assert (rabbit.rabbit_userid, rabbit.rabbit_password, rabbit.rabbit_hosts) == (
        "guest", "guest", ["10.0.1.4"])
    keystone = conf.keystone_authtoken
    assert keystone.auth_uri == "http://127.0.0.1:5000"
    assert keystone.auth_type == "password"
    assert conf.database.connection == "mysql+pymysql://astara:astara@127.0.0.1/astara?charset=utf8"
    assert (conf.router.image_uuid, conf.router.instance_flavor) == (
        "4d7e1f0a-8b3c-4a6d-9e2f-5c1b0a9d8e7f", "6")
    coordination = conf.coordination
    assert coordination.enabled is True
    assert coordination.url == "kazoo://zookeeper.localnet:2181?timeout=5"
    assert coordination.group_id == "astara.orchestrator"
    assert coordination.heartbeat_interval == 1.0


@needs_interface_drivers
def test_install_guide_keystone_credentials_reach_keystoneauth() -> None:
    from keystoneauth1 import loading
    from keystoneauth1.identity.generic import Password

    conf = load(INSTALL_GUIDE)
    plugin = loading.load_auth_from_conf_options(conf, "keystone_authtoken")

    assert isinstance(plugin, Password)
    assert plugin.auth_url == "http://127.0.0.1:35357"
    assert conf.keystone_authtoken.username == "neutron"
    assert conf.keystone_authtoken.password == "neutron"
    assert conf.keystone_authtoken.project_name == "service"


@needs_interface_drivers
def test_install_guide_file_passes_check_config_through_the_console_script() -> None:
    result = run_orchestrator("--config-file", str(INSTALL_GUIDE), "--check-config")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"OK: {INSTALL_GUIDE}"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a.b.Driver  #For Linuxbridge", "a.b.Driver"),
        ("True  # enable the feature", "True"),
        ("1 # optional, tune as needed", "1"),
        ("http://127.0.0.1:5000     # Adjust the IP", "http://127.0.0.1:5000"),
        ("http://host/path#fragment", "http://host/path#fragment"),
        ("no comment here", "no comment here"),
        ("value\t# tab before the hash", "value"),
    ],
)
def test_strip_inline_comment(raw: str, expected: str) -> None:
    assert strip_inline_comment(raw) == expected


def test_secret_values_keep_a_hash_after_whitespace(tmp_path: Path) -> None:
    path = base_config(tmp_path, "[oslo_messaging_rabbit]\nrabbit_password = pa #ss\n"
                       "rabbit_userid = astara # the user\n")
    conf = load(path)

    assert conf.oslo_messaging_rabbit.rabbit_password == "pa #ss"
    assert conf.oslo_messaging_rabbit.rabbit_userid == "astara"


def test_comment_stripping_does_not_outlive_parsing(tmp_path: Path) -> None:
    load(base_config(tmp_path))  # an Astara parse first, with its hook
    path = write_config(tmp_path, "[DEFAULT]\nfoo = bar  # note\n", "other.ini")
    plain = cfg.ConfigOpts()
    plain.register_opt(cfg.StrOpt("foo"))
    plain(["--config-file", str(path)])

    assert plain.foo == "bar  # note"


def test_deprecated_names_still_set_the_new_options(tmp_path: Path) -> None:
    path = base_config(tmp_path, "management_net_id = net-1\nrug_api_port = 4000\n"
                       "router_image_uuid = img-1\n")
    conf = load(path)

    assert conf.management_network_id == "net-1"
    assert conf.api_port == 4000
    assert conf.router.image_uuid == "img-1"


def test_defaults_follow_the_catalogue(tmp_path: Path) -> None:
    conf = load(base_config(tmp_path))

    assert conf.api_port == 44250
    assert conf.enabled_drivers == ["router"]
    assert conf.provisioner == "nova"
    assert conf.network_model == "neutron"
    assert conf.database.connection == "sqlite:////var/lib/astara/astara.db"
    assert conf.coordination.url == "memcached://localhost:11211"
    assert conf.router.mgt_service_port == 5000


@pytest.mark.parametrize(
    ("group", "names"),
    [
        ("DEFAULT", "management_prefix management_network_id management_subnet_id "
         "external_network_id external_subnet_id ssh_public_key interface_driver "
         "provider_rules_path enabled_drivers health_check_period num_worker_processes "
         "num_worker_threads reboot_error_threshold error_state_cooldown boot_timeout "
         "queue_warning_threshold max_retries retry_delay alive_timeout config_timeout "
         "hotplug_timeout api_port api_listen host astara_metadata_port nova_metadata_ip "
         "nova_metadata_port neutron_metadata_proxy_shared_secret asn neighbor_asn "
         "hash_partition_exponent neutron_port_security_extension_enabled "
         "network_device_mtu ovs_integration_bridge ovs_use_veth endpoint_type auth_region "
         "amqp_url neutron_control_exchange provisioner network_model"),
        ("AGENT", "root_helper report_interval availability_zone"),
        ("router", "image_uuid instance_flavor mgt_service_port ipsec_vpn"),
        ("loadbalancer", "image_uuid instance_flavor mgt_service_port"),
        ("coordination", "enabled url group_id heartbeat_interval"),
        ("database", "connection mysql_engine"),
        ("oslo_messaging_rabbit",
         "rabbit_userid rabbit_password rabbit_hosts rabbit_port rabbit_virtual_host"),
        ("keystone_authtoken", "auth_type auth_uri auth_url username password project_name "
         "user_domain_name project_domain_name"),
    ],
)
def test_the_install_guide_and_catalogue_options_exist(group: str, names: str) -> None:
    listed = {opt.dest for listed_group, opts in config.list_opts() if listed_group == group
              for opt in opts}
    assert set(names.split()) - listed == set()


def test_every_option_tells_the_operator_what_it_does() -> None:
    undocumented = [
        f"[{group}] {opt.name}"
        for group, opts in config.list_opts()
        for opt in opts
        if not (opt.help or "").strip()
    ]
    assert undocumented == []


def test_passwords_and_urls_with_credentials_are_secret() -> None:
    secret = {(group, opt.dest) for group, opts in config.list_opts() for opt in opts
              if opt.secret}
    assert {
        ("oslo_messaging_rabbit", "rabbit_password"),
        ("keystone_authtoken", "password"),
        ("database", "connection"),
        ("DEFAULT", "neutron_metadata_proxy_shared_secret"),
    } <= secret


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ("[DEFAULT]\ntransport_url = rabbit://u:p@mq:5672/\n"
         "[oslo_messaging_rabbit]\nrabbit_hosts = other\n", "rabbit://u:p@mq:5672/"),
        ("[oslo_messaging_rabbit]\nrabbit_userid = guest\nrabbit_password = guest\n"
         "rabbit_hosts = 10.0.1.4\n", "rabbit://guest:guest@10.0.1.4:5672/"),
        ("[oslo_messaging_rabbit]\nrabbit_userid = a@b\nrabbit_password = p:w/d\n"
         "rabbit_hosts = mq1, mq2:5673, [fd00::1]:5674, fd00::2\nrabbit_port = 5670\n"
         "rabbit_virtual_host = astara\n",
         "rabbit://a%40b:p%3Aw%2Fd@mq1:5670,a%40b:p%3Aw%2Fd@mq2:5673,"
         "a%40b:p%3Aw%2Fd@[fd00::1]:5674,a%40b:p%3Aw%2Fd@[fd00::2]:5670/astara"),
    ],
    ids=["transport_url-wins", "install-guide-rabbit", "several-hosts"],
)
def test_transport_url(tmp_path: Path, settings: str, expected: str) -> None:
    path = write_config(tmp_path, f"[DEFAULT]\ninterface_driver = {IMPORTABLE_DRIVER}\n")
    extra = write_config(tmp_path, settings, "messaging.ini")
    conf = config.parse_config(["--config-file", str(path), "--config-file", str(extra)],
                               "astara-test", default_config_files=[])

    assert config.transport_url(conf) == expected


def test_transport_url_opts_stay_compatible_with_oslo_messaging(tmp_path: Path) -> None:
    import oslo_messaging

    conf = load(base_config(tmp_path, "transport_url = rabbit://u:p@mq:5672/\n"))
    url = config.transport_url(conf)
    parsed = oslo_messaging.TransportURL.parse(conf)  # registers oslo.messaging's own opts

    assert str(parsed) == url


@pytest.mark.parametrize(
    ("settings", "where", "problem"),
    [
        ("[DEFAULT]\nmanagement_prefix = fdca:3ba5::zz/64\n",
         "[DEFAULT] management_prefix", "not an IP network"),
        ("[DEFAULT]\nnum_worker_processes = 0\n",
         "[DEFAULT] num_worker_processes", "invalid value"),
        ("[DEFAULT]\napi_port = forty\n", "[DEFAULT] api_port", "invalid value"),
        ("[DEFAULT]\nenabled_drivers = router,firewall\n",
         "[DEFAULT] enabled_drivers", "firewall"),
        ("[DEFAULT]\nenabled_drivers =\n", "[DEFAULT] enabled_drivers", "at least one"),
        ("[DEFAULT]\nprovisioner = docker\n", "[DEFAULT] provisioner", "docker"),
        ("[DEFAULT]\nnetwork_model = local\n", "[DEFAULT] network_model", "needs provisioner"),
        ("[DEFAULT]\ninterface_driver = astara.no_such_module.Driver\n",
         "[DEFAULT] interface_driver", "cannot import module 'astara.no_such_module'"),
        ("[DEFAULT]\ninterface_driver = os.sep\n", "[DEFAULT] interface_driver",
         "has no class 'sep'"),
        ("[database]\nconnection = not a url\n", "[database] connection", "not a database URL"),
        ("[database]\nconnection = mysql+nosuchdriver://h/db\n", "[database] connection",
         "unknown database driver"),
        ("[coordination]\nenabled = true\nurl = zookeper://zk:2181\n",
         "[coordination] url", "not a tooz backend"),
        ("[coordination]\nenabled = maybe\n", "[coordination] enabled", "invalid value"),
        ("[coordination]\nheartbeat_interval = 0\n",
         "[coordination] heartbeat_interval", "invalid value"),
        ("[oslo_messaging_rabbit]\nrabbit_hosts = mq:notaport\n",
         "[oslo_messaging_rabbit] rabbit_hosts", "not host or host:port"),
        ("[router]\nimage_uuid = $undefined_variable\n", "[router] image_uuid", "$$"),
    ],
)
def test_bad_value_stops_with_one_line_naming_file_group_and_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], settings: str, where: str, problem: str
) -> None:
    path = base_config(tmp_path)
    bad = write_config(tmp_path, settings, "bad.ini")

    with pytest.raises(SystemExit) as stopped:
        config.parse_config(["--config-file", str(path), "--config-file", str(bad)],
                            "astara-test", default_config_files=[])

    assert stopped.value.code == 2
    message = capsys.readouterr().err
    assert message.count("\n") == 1
    assert message.startswith(f"astara-test: error: {bad}: {where}: ")
    assert problem in message


def test_disabled_coordination_url_is_not_checked(tmp_path: Path) -> None:
    conf = load(base_config(tmp_path, "[coordination]\nenabled = false\nurl = zookeper://zk\n"))

    assert conf.coordination.url == "zookeper://zk"


@pytest.mark.parametrize(
    ("make_path", "problem"),
    [
        (lambda tmp: tmp / "missing.ini", "cannot read: no such file"),
        (lambda tmp: tmp, "cannot read"),
        (lambda tmp: write_config(tmp, "this is not ini\n"), "not an INI file"),
    ],
    ids=["missing", "directory", "not-ini"],
)
def test_unreadable_file_stops_with_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    make_path: Callable[[Path], Path],
    problem: str,
) -> None:
    path = make_path(tmp_path)

    with pytest.raises(SystemExit) as stopped:
        load(path)

    assert stopped.value.code == 2
    message = capsys.readouterr().err
    assert message.count("\n") == 1
    assert str(path) in message
    assert problem in message


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_file_without_read_permission_stops_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = base_config(tmp_path)
    path.chmod(0)

    with pytest.raises(SystemExit) as stopped:
        load(path)

    assert stopped.value.code == 2
    assert "permission denied" in capsys.readouterr().err


def test_bad_command_line_option_value_in_a_file_names_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = base_config(tmp_path, "debug = sometimes\n")

    with pytest.raises(SystemExit) as stopped:
        load(path)

    assert stopped.value.code == 2
    assert capsys.readouterr().err.startswith(f"astara-test: error: {path}: [DEFAULT] debug: ")


def run_orchestrator(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "astara-orchestrator"), *args], capture_output=True,
                          text=True, check=False, timeout=120)


def test_check_config_accepts_a_good_file(tmp_path: Path) -> None:
    path = base_config(tmp_path)

    result = run_orchestrator("--config-file", str(path), "--check-config")

    assert (result.returncode, result.stdout.strip()) == (0, f"OK: {path}")


@pytest.mark.parametrize(
    ("settings", "where"),
    [
        ("management_prefix = 10.0.0.300/24\n", "[DEFAULT] management_prefix"),
        ("health_check_period = soon\n", "[DEFAULT] health_check_period"),
        ("[database]\nconnection = ://\n", "[database] connection"),
        ("[router]\nmgt_service_port = 70000\n", "[router] mgt_service_port"),
    ],
)
def test_check_config_rejects_bad_values_without_a_traceback(
    tmp_path: Path, settings: str, where: str
) -> None:
    path = base_config(tmp_path, settings)

    result = run_orchestrator("--config-file", str(path), "--check-config")

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith(f"astara-orchestrator: error: {path}: {where}: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_check_config_on_a_missing_file_exits_2_without_a_traceback(tmp_path: Path) -> None:
    result = run_orchestrator("--config-file", str(tmp_path / "nope.ini"), "--check-config")

    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"astara-orchestrator: error: {tmp_path / 'nope.ini'}: cannot read: no such file")


def test_sample_file_is_up_to_date(tmp_path: Path) -> None:
    root = Path(__file__).parent.parent.parent
    generated = tmp_path / "orchestrator.ini"
    subprocess.run(
        [str(BIN / "oslo-config-generator"), "--config-file",
         str(root / "etc" / "oslo-config-generator" / "orchestrator.conf"),
         "--output-file", str(generated)],
        check=True, capture_output=True, cwd=root, timeout=120,
    )

    committed = (root / "etc" / "astara" / "orchestrator.ini").read_text()
    assert generated.read_text() == committed, (
        "etc/astara/orchestrator.ini is stale: run oslo-config-generator "
        "--config-file etc/oslo-config-generator/orchestrator.conf"
    )
