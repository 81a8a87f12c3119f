"""Every option Astara reads, grouped as in ``orchestrator.ini``.

The groups and names follow the install guide and the original service, so an
operator's existing ``orchestrator.ini`` keeps working; renamed options keep
their old names as deprecated aliases. Library options are registered here
too (oslo.log, the keystoneauth1 password plugin in ``[keystone_authtoken]``)
so one call, :func:`register_opts`, prepares a ``ConfigOpts`` for any Astara
command. oslo.messaging's own options (``transport_url``...) are registered by
oslo.messaging when a transport is built (see ``config.transport_url``), which
keeps its import, and the eventlet it drags in, out of every command's start.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence

from keystoneauth1 import loading as ks_loading
from oslo_config import cfg, types
from oslo_log import log

#: The resource drivers Astara ships; ``enabled_drivers`` picks among them.
DRIVER_NAMES = ("router", "loadbalancer")
DEFAULT_INTERFACE_DRIVER = "astara.common.linux.interface.OVSInterfaceDriver"
KEYSTONE_GROUP = "keystone_authtoken"
RABBIT_GROUP = "oslo_messaging_rabbit"

_network_opts = [
    cfg.StrOpt(
        "management_network_id",
        deprecated_name="management_net_id",
        help="ID of the network that connects the orchestrator to the appliances' "
        "REST APIs (the management network).",
    ),
    cfg.StrOpt(
        "management_subnet_id",
        help="ID of the subnet of the management network the appliances get "
        "their management address from.",
    ),
    cfg.StrOpt(
        "management_prefix",
        default="fdca:3ba5:a17a:acda::/64",
        help="IP network (CIDR) of the management subnet; the orchestrator's "
        "local management address and the appliances' addresses are in it.",
    ),
    cfg.StrOpt(
        "external_network_id",
        help="ID of the external (public) network routers use as their gateway.",
    ),
    cfg.StrOpt(
        "external_subnet_id",
        help="ID of the subnet of the external network gateway addresses come from.",
    ),
    cfg.StrOpt(
        "interface_driver",
        default=DEFAULT_INTERFACE_DRIVER,
        help="Python class (module.Class) that plugs the orchestrator's own port "
        "into the management network; pick the one matching the L2 agent: "
        "astara.common.linux.interface.OVSInterfaceDriver (Open vSwitch) or "
        "astara.common.linux.interface.BridgeInterfaceDriver (Linux bridge).",
    ),
    cfg.StrOpt(
        "ovs_integration_bridge",
        default="br-int",
        help="Open vSwitch bridge the OVS interface driver plugs ports into.",
    ),
    cfg.BoolOpt(
        "ovs_use_veth",
        default=False,
        help="Plug ports into Open vSwitch through a veth pair instead of an "
        "internal OVS port.",
    ),
    cfg.IntOpt(
        "network_device_mtu",
        min=68,
        help="MTU set on the interfaces the interface driver creates; unset "
        "keeps the kernel's default.",
    ),
    cfg.BoolOpt(
        "neutron_port_security_extension_enabled",
        default=True,
        help="Neutron has the port_security extension: Astara then disables port "
        "security on the management, VRRP and load-balancer ports it creates.",
    ),
    cfg.StrOpt(
        "neutron_control_exchange",
        default="neutron",
        help="AMQP exchange Neutron publishes its notifications on.",
    ),
    cfg.StrOpt(
        "amqp_url",
        secret=True,
        deprecated_for_removal=True,
        deprecated_reason="Use [DEFAULT] transport_url.",
        help="Messaging URL, used only when transport_url is not set.",
    ),
    cfg.StrOpt(
        "endpoint_type",
        default="publicURL",
        choices=["publicURL", "internalURL", "adminURL", "public", "internal", "admin"],
        help="Which catalog endpoint of Nova and Neutron to talk to.",
    ),
    cfg.StrOpt(
        "auth_region",
        help="Keystone region whose Nova and Neutron endpoints are used; unset "
        "takes the catalog's only region.",
    ),
]

_model_opts = [
    cfg.StrOpt(
        "network_model",
        default="neutron",
        choices=[
            ("neutron", "read routers, ports and networks from a real Neutron API"),
            ("local", "use Astara's own embedded, Neutron-compatible API (single host)"),
        ],
        help="Where the network model (routers, networks, ports) comes from.",
    ),
    cfg.StrOpt(
        "provisioner",
        default="nova",
        choices=[
            ("nova", "each appliance is a Nova server booted from the appliance image"),
            ("netns", "each appliance is a network namespace on this host"),
        ],
        help="Where appliances run.",
    ),
    cfg.ListOpt(
        "enabled_drivers",
        default=["router"],
        item_type=types.String(choices=DRIVER_NAMES),
        help="Resource types Astara serves with appliances.",
    ),
    cfg.StrOpt(
        "ssh_public_key",
        default="/etc/astara/astara.pub",
        help="Public SSH key injected into the appliances for the 'astara' user; "
        "optional, a missing file means no key.",
    ),
    cfg.StrOpt(
        "astara_boot_command",
        default="astara-configure-management",
        help="Command cloud-init runs in a new appliance to configure its "
        "management interface.",
    ),
    cfg.StrOpt(
        "provider_rules_path",
        default="/etc/astara/provider_rules.json",
        help="JSON file of provider labels (named address groups) copied into "
        "every router appliance's configuration.",
    ),
    cfg.PortOpt(
        "asn",
        default=64512,
        help="BGP autonomous system number of the router appliances.",
    ),
    cfg.PortOpt(
        "neighbor_asn",
        default=64512,
        help="BGP autonomous system number of the routers' upstream neighbour.",
    ),
]

_orchestrator_opts = [
    cfg.StrOpt(
        "host",
        default=socket.gethostname(),
        sample_default="<this host's name>",
        help="Name of this orchestrator in the cluster and towards Neutron.",
    ),
    cfg.IntOpt(
        "num_worker_processes",
        default=16,
        min=1,
        help="Worker processes; each owns a share of the tenants.",
    ),
    cfg.IntOpt(
        "num_worker_threads",
        default=4,
        min=1,
        help="Threads per worker process; each runs one resource's state machine "
        "at a time.",
    ),
    cfg.IntOpt(
        "health_check_period",
        default=60,
        min=1,
        help="Seconds between two health checks (POLL events) of every resource.",
    ),
    cfg.IntOpt(
        "reboot_error_threshold",
        default=5,
        min=1,
        help="Failed boots in a row after which a resource is put in ERROR.",
    ),
    cfg.IntOpt(
        "error_state_cooldown",
        default=30,
        min=0,
        help="Seconds during which events for a resource in ERROR are ignored "
        "before it is tried again.",
    ),
    cfg.IntOpt(
        "boot_timeout",
        default=600,
        min=1,
        help="Seconds an appliance may take to boot and answer before it is "
        "considered failed and rebuilt.",
    ),
    cfg.IntOpt(
        "queue_warning_threshold",
        default=100,
        min=1,
        help="Log a warning when a resource has this many events waiting.",
    ),
    cfg.IntOpt(
        "max_retries",
        default=3,
        min=0,
        help="Retries of an appliance health probe or configuration push.",
    ),
    cfg.IntOpt(
        "retry_delay",
        default=1,
        min=0,
        help="Seconds between two retries, and between two polls of a deletion.",
    ),
    cfg.IntOpt(
        "alive_timeout",
        default=3,
        min=1,
        help="Seconds an appliance has to answer a health probe.",
    ),
    cfg.IntOpt(
        "config_timeout",
        default=90,
        min=1,
        help="Seconds an appliance has to apply a configuration push.",
    ),
    cfg.IntOpt(
        "hotplug_timeout",
        default=10,
        min=1,
        help="Seconds to wait for a hot-plugged port to show up in an appliance.",
    ),
    cfg.IntOpt(
        "hash_partition_exponent",
        default=10,
        min=1,
        max=16,
        help="Each orchestrator takes 2**N places on the cluster's hash ring; "
        "more places spread resources more evenly. The original's 5 lets three "
        "orchestrators split 300 routers more than 20% unevenly; 10 keeps them within 15%.",
    ),
]

_api_opts = [
    cfg.PortOpt(
        "api_port",
        default=44250,
        deprecated_name="rug_api_port",
        help="TCP port of the orchestrator's control API.",
    ),
    cfg.IPOpt(
        "api_listen",
        help="Address the control API listens on. Unset: the orchestrator's own address "
        "on the management network (the first address of management_prefix), so only "
        "the management network reaches it; single-host mode listens on 127.0.0.1 too.",
    ),
    cfg.StrOpt(
        "api_auth_strategy",
        default="keystone",
        choices=[
            ("keystone", "a Keystone token (X-Auth-Token) whose roles include api_admin_role"),
            ("token_file", "the token kept in api_token_file (single-host mode's choice)"),
        ],
        help="How the control API authenticates its callers; an unauthenticated call "
        "gets 401 and changes nothing.",
    ),
    cfg.StrOpt(
        "api_admin_role",
        default="admin",
        help="The Keystone role a token needs for the control API (api_auth_strategy "
        "= keystone).",
    ),
    cfg.StrOpt(
        "api_token_file",
        default="/etc/astara/control-api.token",
        help="File holding the control API's token (api_auth_strategy = token_file): "
        "made at the first start, readable by its owner only; astara-ctl reads it.",
    ),
    cfg.PortOpt(
        "astara_metadata_port",
        default=9697,
        help="Port the metadata proxy listens on for the appliances' requests.",
    ),
    cfg.HostAddressOpt(
        "nova_metadata_ip",
        default="127.0.0.1",
        help="Address of Nova's metadata API the metadata proxy forwards to.",
    ),
    cfg.PortOpt(
        "nova_metadata_port",
        default=8775,
        help="Port of Nova's metadata API.",
    ),
    cfg.StrOpt(
        "neutron_metadata_proxy_shared_secret",
        default="",
        secret=True,
        deprecated_name="quantum_metadata_proxy_shared_secret",
        help="Key the metadata proxy signs instance ids with; must equal Nova's "
        "[neutron] metadata_proxy_shared_secret.",
    ),
]

_agent_opts = [
    cfg.StrOpt(
        "root_helper",
        default="sudo astara-rootwrap /etc/astara/rootwrap.conf",
        help="Command prefix that runs privileged commands.",
    ),
    cfg.IntOpt(
        "report_interval",
        default=60,
        min=1,
        help="Seconds between two state reports to Neutron.",
    ),
    cfg.StrOpt(
        "availability_zone",
        default="nova",
        help="Availability zone reported to Neutron.",
    ),
    cfg.BoolOpt(
        "log_agent_heartbeats",
        default=False,
        help="Ask Neutron to log every state report.",
    ),
]

_appliance_opts = [
    cfg.IntOpt(
        "max_sleep",
        default=15,
        min=1,
        help="Upper bound, in seconds, of the backoff between two attempts to "
        "list the resources at start-up.",
    ),
]


def _driver_opts(driver: str) -> list[cfg.Opt]:
    """The per-driver appliance options; the router's also keep their old DEFAULT names."""
    legacy_group = "DEFAULT" if driver == "router" else None

    def old(name: str) -> list[cfg.DeprecatedOpt]:
        return [cfg.DeprecatedOpt(name, group=legacy_group)] if legacy_group else []

    return [
        cfg.StrOpt(
            "image_uuid",
            deprecated_opts=old("router_image_uuid"),
            help=f"Glance image the {driver} appliances boot from (nova provisioner).",
        ),
        cfg.StrOpt(
            "instance_flavor",
            deprecated_opts=old("router_instance_flavor"),
            help=f"Nova flavor of the {driver} appliances (nova provisioner).",
        ),
        cfg.PortOpt(
            "mgt_service_port",
            default=5000,
            deprecated_opts=old("akanda_mgt_service_port"),
            help=f"Port of the REST API inside the {driver} appliances.",
        ),
    ]


_router_only_opts = [
    cfg.BoolOpt(
        "ipsec_vpn",
        default=False,
        help="Handle VPNaaS (IPsec) events and configure IPsec in router appliances.",
    ),
]

_coordination_opts = [
    cfg.BoolOpt(
        "enabled",
        default=False,
        help="Run several orchestrators as one cluster that shares the resources "
        "on a hash ring kept in a coordination service.",
    ),
    cfg.StrOpt(
        "url",
        default="memcached://localhost:11211",
        secret=True,
        help="tooz URL of the coordination service, e.g. "
        "kazoo://zookeeper:2181?timeout=5 or redis://host:6379.",
    ),
    cfg.StrOpt(
        "group_id",
        default="astara.orchestrator",
        help="Cluster name; orchestrators with the same group share resources.",
    ),
    cfg.FloatOpt(
        "heartbeat_interval",
        default=1.0,
        min=0.1,
        help="Seconds between two heartbeats to the coordination service.",
    ),
]

_database_opts = [
    cfg.StrOpt(
        "connection",
        default="sqlite:////var/lib/astara/astara.db",
        secret=True,
        help="SQLAlchemy URL of Astara's database, e.g. "
        "mysql+pymysql://user:pass@host/astara?charset=utf8mb4 or "
        "postgresql+psycopg://user:pass@host/astara.",
    ),
    cfg.StrOpt(
        "mysql_engine",
        default="InnoDB",
        help="Storage engine of the tables created on MySQL or MariaDB.",
    ),
]

_rabbit_opts = [
    cfg.StrOpt(
        "rabbit_userid",
        default="guest",
        help="RabbitMQ user, used when [DEFAULT] transport_url is not set.",
    ),
    cfg.StrOpt(
        "rabbit_password",
        default="guest",
        secret=True,
        help="RabbitMQ password, used when [DEFAULT] transport_url is not set.",
    ),
    cfg.ListOpt(
        "rabbit_hosts",
        default=["localhost"],
        help="RabbitMQ servers as host or host:port, used when [DEFAULT] "
        "transport_url is not set.",
    ),
    cfg.PortOpt(
        "rabbit_port",
        default=5672,
        help="Port of the rabbit_hosts given without one.",
    ),
    cfg.StrOpt(
        "rabbit_virtual_host",
        default="/",
        help="RabbitMQ virtual host.",
    ),
]

_auth_uri_opt = cfg.StrOpt(
    "auth_uri",
    help="Public Keystone URL (the one clients are told to authenticate at).",
)


def auth_plugin_opts() -> list[cfg.Opt]:
    """The keystoneauth1 password plugin's options, for the sample file only.

    keystoneauth1 registers them itself when it loads the plugin
    (``load_auth_from_conf_options``), marking several required; registering
    them earlier would make every command, astara-dbsync included, demand
    Keystone credentials. Files may set them all the same: oslo.config keeps
    unregistered values until someone registers the option.
    """
    return ks_loading.get_auth_plugin_conf_options("password")


def astara_opts() -> list[tuple[str, list[cfg.Opt]]]:
    """The options Astara registers, by group (see also :func:`auth_plugin_opts`)."""
    return [
        ("DEFAULT", [*_network_opts, *_model_opts, *_orchestrator_opts, *_api_opts]),
        ("AGENT", list(_agent_opts)),
        ("astara_appliance", list(_appliance_opts)),
        ("router", [*_driver_opts("router"), *_router_only_opts]),
        ("loadbalancer", _driver_opts("loadbalancer")),
        ("coordination", list(_coordination_opts)),
        ("database", list(_database_opts)),
        (RABBIT_GROUP, list(_rabbit_opts)),
        # auth_type keeps its old name auth_plugin, the install guide's.
        (KEYSTONE_GROUP, [*ks_loading.get_auth_common_conf_options(), _auth_uri_opt]),
    ]


def register_opts(conf: cfg.ConfigOpts, extra_cli_opts: Sequence[cfg.Opt] = ()) -> None:
    """Register Astara's, oslo.log's and the extra command-line options on ``conf``."""
    log.register_options(conf)
    conf.register_cli_opts(list(extra_cli_opts))
    for group, opts in astara_opts():
        conf.register_opts(opts, group=None if group == "DEFAULT" else group)
