"""Checking a loaded configuration before anything acts on it.

oslo.config converts a value only when it is read, so a typo in a rarely used
option would otherwise surface hours later, deep in a worker. The orchestrator
and the tools therefore read every registered option at start-up and apply
the checks a type cannot express (a CIDR, an importable class, a parseable
database URL...). Each problem becomes a :class:`ConfigError` that names the
file, the ``[group]`` and the option, so the operator knows where to look.
"""

from __future__ import annotations

import importlib
import ipaddress
import os
import urllib.parse
from collections.abc import Callable, Iterable
from importlib import metadata
from typing import Any

import sqlalchemy.engine
import sqlalchemy.exc
from oslo_config import cfg

from astara.common import config_opts
from astara.common.config_comments import OptionKey, option_key
from astara.common.config_messaging import split_host_port


class ConfigError(Exception):
    """One problem in the configuration, where it is and what is wrong."""

    def __init__(self, source: str, group: str | None, option: str | None, problem: str):
        super().__init__(source, group, option, problem)
        self.source = source
        self.group = group
        self.option = option
        self.problem = problem

    def __str__(self) -> str:
        where = self.source
        if self.option:
            where += f": [{self.group or 'DEFAULT'}] {self.option}"
        return f"{where}: {self.problem}"


def config_files(conf: cfg.ConfigOpts) -> list[str]:
    """The files ``conf`` was read from, in the order they were read."""
    files = list(conf.config_file or [])
    config_dir = conf.config_dir
    if config_dir and os.path.isdir(config_dir):
        files += sorted(
            os.path.join(config_dir, name)
            for name in os.listdir(config_dir)
            if name.endswith(".conf")
        )
    return files


def _known_aliases() -> dict[OptionKey, set[OptionKey]]:
    """Each Astara option's key and the keys of its deprecated names."""
    aliases: dict[OptionKey, set[OptionKey]] = {}
    for group, opts in config_opts.astara_opts():
        for opt in opts:
            key = option_key(group, opt.dest)
            aliases[key] = {key} | {
                option_key(old.group or group, old.name or opt.dest) for old in opt.deprecated_opts
            }
    return aliases


def source_of(files: Iterable[str], group: str | None, option: str) -> str:
    """The last of ``files`` setting ``[group] option``, else "default value or command line"."""
    wanted = _known_aliases().get(option_key(group, option), {option_key(group, option)})
    found = "default value or command line"
    for path in files:
        sections: dict[str, dict[str, Any]] = {}
        try:
            cfg.ConfigParser(path, sections).parse()
        except (OSError, cfg.ParseError):
            continue
        for section, values in sections.items():
            if any(option_key(section, key) in wanted for key in values):
                found = path
    return found


def _read_checked(conf: cfg.ConfigOpts, group: str | None, option: str) -> Any:
    """The value of ``[group] option``, or a :class:`ConfigError` saying what is wrong."""
    try:
        return conf[group][option] if group else conf[option]
    except (cfg.ConfigFileValueError, ValueError) as exc:
        problem = f"invalid value: {str(exc).partition(' is not valid: ')[2] or exc}"
    except cfg.TemplateSubstitutionError as exc:
        problem = f"{exc.msg}; write a literal '$' as '$$'"
    except cfg.NoSuchOptError as exc:
        problem = f"${exc.opt_name} names no option; write a literal '$' as '$$'"
    except cfg.RequiredOptError:
        problem = "a value is required"
    raise ConfigError(source_of(config_files(conf), group, option), group, option, problem)


def _check_types(conf: cfg.ConfigOpts) -> None:
    """Read every registered option so oslo.config converts, range-checks and substitutes it."""
    for name in conf:
        value = _read_checked(conf, None, name)
        if isinstance(value, cfg.ConfigOpts.GroupAttr):
            for option in value:
                _read_checked(conf, name, option)


def _check_management_prefix(conf: cfg.ConfigOpts) -> str | None:
    try:
        ipaddress.ip_network(conf.management_prefix)
    except ValueError as exc:
        return f"not an IP network in CIDR form (e.g. fdca:3ba5:a17a:acda::/64): {exc}"
    return None


def _check_interface_driver(conf: cfg.ConfigOpts) -> str | None:
    module_name, _, class_name = conf.interface_driver.rpartition(".")
    if not module_name:
        return f"{conf.interface_driver!r} is not a module.Class path"
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        return f"cannot import module {module_name!r}: {exc}"
    if not isinstance(getattr(module, class_name, None), type):
        return f"module {module_name!r} has no class {class_name!r}"
    return None


def _check_enabled_drivers(conf: cfg.ConfigOpts) -> str | None:
    if not conf.enabled_drivers:
        return f"enable at least one of: {', '.join(config_opts.DRIVER_NAMES)}"
    return None


def _check_network_model(conf: cfg.ConfigOpts) -> str | None:
    if conf.provisioner == "nova" and conf.network_model != "neutron":
        return (f"network_model {conf.network_model!r} needs provisioner 'netns': the nova "
                "provisioner plugs Neutron ports")
    return None


def _check_database_connection(conf: cfg.ConfigOpts) -> str | None:
    try:
        sqlalchemy.engine.make_url(conf.database.connection).get_dialect()
    except sqlalchemy.exc.NoSuchModuleError as exc:
        return f"unknown database driver: {exc}"
    except sqlalchemy.exc.ArgumentError:
        return "not a database URL (expected e.g. mysql+pymysql://user:pass@host/astara)"
    return None


def _check_coordination_url(conf: cfg.ConfigOpts) -> str | None:
    if not conf.coordination.enabled:
        return None
    scheme = urllib.parse.urlsplit(conf.coordination.url).scheme
    backends = sorted(ep.name for ep in metadata.entry_points(group="tooz.backends"))
    if scheme not in backends:
        return (f"scheme {scheme!r} is not a tooz backend; expected one of: "
                f"{', '.join(backends)}")
    return None


def _check_rabbit_hosts(conf: cfg.ConfigOpts) -> str | None:
    rabbit = conf[config_opts.RABBIT_GROUP]
    for entry in rabbit.rabbit_hosts:
        try:
            split_host_port(entry, rabbit.rabbit_port)
        except ValueError as exc:
            return str(exc)
    return None


_SEMANTIC_CHECKS: list[tuple[str | None, str, Callable[[cfg.ConfigOpts], str | None]]] = [
    (None, "management_prefix", _check_management_prefix),
    (None, "enabled_drivers", _check_enabled_drivers),
    (None, "network_model", _check_network_model),
    (None, "interface_driver", _check_interface_driver),
    ("database", "connection", _check_database_connection),
    ("coordination", "url", _check_coordination_url),
    (config_opts.RABBIT_GROUP, "rabbit_hosts", _check_rabbit_hosts),
]


def check_config(conf: cfg.ConfigOpts) -> None:
    """Raise :class:`ConfigError` for the first invalid value in ``conf``."""
    _check_types(conf)
    for group, option, check in _SEMANTIC_CHECKS:
        problem = check(conf)
        if problem:
            raise ConfigError(source_of(config_files(conf), group, option), group, option, problem)
