"""``astara-appliance``: the agent daemon, one process serving one appliance."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import sys
from pathlib import Path

import uvicorn

from astara.appliance.api import create_app
from astara.appliance.appliance import Appliance
from astara.appliance.firewall.policy import AgentAccess
from astara.appliance.links import UnknownInterfaceError
from astara.appliance.manager import ApplyError
from astara.appliance.netns import CommandError

LOG = logging.getLogger("astara.appliance")

DEFAULT_PORT = 5000


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an IP address: {value!r}") from exc


def _port(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port: {value!r}")
    return int(value)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="astara-appliance",
        description="Serve the appliance REST API and apply router configurations.",
    )
    parser.add_argument(
        "--host",
        type=_address,
        required=True,
        help="address to serve the API on (the appliance's management address)",
    )
    parser.add_argument("--port", type=_port, default=DEFAULT_PORT, help="API port (5000)")
    parser.add_argument(
        "--state-dir",
        type=Path,
        required=True,
        help="directory for the last good configuration and dnsmasq's files; "
        "must be readable by dnsmasq's unprivileged user",
    )
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    appliance = Appliance(None, args.state_dir, AgentAccess(args.port, args.host))
    try:
        appliance.start()
    except (ApplyError, UnknownInterfaceError, CommandError, OSError) as exc:
        LOG.error("cannot start: %s", exc)
        return 1
    uvicorn.run(
        create_app(appliance),
        host=str(args.host),
        port=args.port,
        log_level=args.log_level,
        workers=1,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
