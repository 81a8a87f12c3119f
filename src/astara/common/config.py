"""Loading Astara's configuration: one entry point for every command.

:func:`parse_config` registers every option, reads the command line and the
files it names, and checks every value, so a command either starts with a
configuration it can trust or stops at once with one line saying which file,
``[group]`` and option is wrong (exit status 2, no traceback).

The option definitions live in :mod:`astara.common.config_opts`, the checks
in :mod:`astara.common.config_check`, the RabbitMQ URL in
:mod:`astara.common.config_messaging`; this module ties them together.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
from collections.abc import Sequence

from oslo_config import cfg

from astara.common import config_opts
from astara.common.config_check import ConfigError, check_config, config_files, source_of
from astara.common.config_comments import inline_comments_stripped, verbatim_keys
from astara.common.config_messaging import transport_url

__all__ = [
    "CHECK_CONFIG_OPT",
    "ConfigError",
    "check_config",
    "list_opts",
    "load_orchestrator_config",
    "parse_config",
    "transport_url",
]

#: Read when no --config-file is given (the install guide's location).
DEFAULT_CONFIG_FILE = "/etc/astara/orchestrator.ini"

CHECK_CONFIG_OPT = cfg.BoolOpt(
    "check-config",
    default=False,
    help="Only check the configuration: print 'OK: <files>' and exit 0, or print "
    "the problem and exit 2.",
)

#: How oslo.config reports a bad command-line option value it found in a file.
_CLI_VALUE_ERROR = re.compile(r"argument --(\S+): (Invalid .*)")


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    """Astara's options for oslo-config-generator (namespace ``astara``).

    Includes the Keystone password plugin's options, which keystoneauth1
    registers only when it loads the plugin, so operators find them in the sample.
    """
    return [
        (group, [*opts, *config_opts.auth_plugin_opts()])
        if group == config_opts.KEYSTONE_GROUP else (group, opts)
        for group, opts in config_opts.astara_opts()
    ]


def _default_config_files() -> list[str]:
    return [DEFAULT_CONFIG_FILE] if os.path.exists(DEFAULT_CONFIG_FILE) else []


def _load(conf: cfg.ConfigOpts, argv: Sequence[str], prog: str,
          default_config_files: Sequence[str]) -> None:
    """Read the command line and files into ``conf``, turning oslo's errors into ConfigError."""
    try:
        with inline_comments_stripped(verbatim_keys(list_opts())):
            _call_reporting_cli_values(conf, argv, prog, default_config_files)
    except cfg.ConfigFilesNotFoundError as exc:
        raise ConfigError(", ".join(exc.config_files), None, None,
                          "cannot read: no such file") from exc
    except cfg.ConfigFilesPermissionDeniedError as exc:
        raise ConfigError(", ".join(exc.config_files), None, None,
                          "cannot read: permission denied") from exc
    except cfg.ConfigDirNotFoundError as exc:
        raise ConfigError(exc.config_dir, None, None, "no such directory") from exc
    except cfg.ConfigFileParseError as exc:
        raise ConfigError(exc.config_file, None, None, f"not an INI file: {exc.msg}") from exc
    except OSError as exc:
        raise ConfigError(exc.filename or "configuration", None, None,
                          f"cannot read: {exc.strerror}") from exc
    except cfg.Error as exc:
        files = ", ".join(_config_files_in(argv) or default_config_files) or "configuration"
        raise ConfigError(files, None, None, str(exc)) from exc


def _config_files_in(argv: Sequence[str]) -> list[str]:
    """The --config-file arguments of ``argv`` (for errors raised before ``conf`` knows them)."""
    files = []
    for index, arg in enumerate(argv):
        if arg == "--config-file" and index + 1 < len(argv):
            files.append(argv[index + 1])
        elif arg.startswith("--config-file="):
            files.append(arg.partition("=")[2])
    return files


def _call_reporting_cli_values(conf: cfg.ConfigOpts, argv: Sequence[str], prog: str,
                               default_config_files: Sequence[str]) -> None:
    """``conf(argv)``, with a bad command-line option value set in a file as a ConfigError.

    oslo.config converts command-line options (``debug``, ``log_file``...)
    found in files while parsing, and reports a bad one by writing to stderr
    and exiting 1. Its stderr is held back so that such a failure becomes
    Astara's one line and exit status 2; anything else it wrote (argparse's
    usage errors) is passed on unchanged.
    """
    held = io.StringIO()
    try:
        with contextlib.redirect_stderr(held):
            conf(list(argv), project="astara", prog=prog,
                 default_config_files=list(default_config_files))
    except SystemExit:
        bad_value = _CLI_VALUE_ERROR.search(held.getvalue())
        if bad_value is None:
            sys.stderr.write(held.getvalue())
            raise
        option, problem = bad_value.groups()
        files = _config_files_in(argv) or default_config_files
        raise ConfigError(source_of(files, None, option), None, option,
                          f"invalid value: {problem}") from None
    sys.stderr.write(held.getvalue())


def parse_config(
    argv: Sequence[str],
    prog: str,
    extra_cli_opts: Sequence[cfg.Opt] = (),
    default_config_files: Sequence[str] | None = None,
) -> cfg.ConfigOpts:
    """A new, checked ``ConfigOpts`` from ``argv`` (without the program name).

    ``extra_cli_opts`` are the command's own options (a sub-command, a flag).
    Without ``--config-file`` the files in ``default_config_files`` are read
    (by default ``/etc/astara/orchestrator.ini`` when it exists). On a bad
    configuration this prints one line to stderr and raises ``SystemExit(2)``.

    Files are read once, here; a later ``conf.reload_config_files()`` would
    not strip trailing comments, so reload by calling this function again.
    """
    conf = cfg.ConfigOpts()
    config_opts.register_opts(conf, extra_cli_opts)
    defaults = _default_config_files() if default_config_files is None else default_config_files
    try:
        _load(conf, argv, prog, defaults)
        check_config(conf)
    except ConfigError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    return conf


def load_orchestrator_config(
    argv: Sequence[str],
    prog: str = "astara-orchestrator",
    extra_cli_opts: Sequence[cfg.Opt] = (),
) -> cfg.ConfigOpts:
    """:func:`parse_config` plus ``--check-config``, for astara-orchestrator's main.

    With ``--check-config`` a valid configuration prints ``OK: <files>`` and
    exits 0 without starting anything.
    """
    conf = parse_config(argv, prog, [CHECK_CONFIG_OPT, *extra_cli_opts])
    if conf.check_config:
        print(f"OK: {', '.join(config_files(conf)) or 'no configuration file, defaults'}")
        raise SystemExit(0)
    return conf
