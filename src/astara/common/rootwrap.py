"""``astara-rootwrap``: the only program the ``astara`` user may run through sudo.

sudoers lets the orchestrator run ``astara-rootwrap /etc/astara/rootwrap.conf
COMMAND…`` as root; oslo.rootwrap then runs COMMAND only if a filter in
``rootwrap.d/*.filters`` allows it. This wrapper adds what oslo.rootwrap's own
``main`` lacks:

* oslo.rootwrap silently allows ``privsep-helper`` with *any* arguments (any
  privsep context, any config file). We drop that implicit filter, so only the
  privsep contexts our filter files name can start.
* ``ip netns exec NS CMD`` is matched on CMD's *base name* but executes CMD as
  given, so ``/home/astara/ip`` would pass as ``ip`` and run as root. We refuse
  a chained command given as a path; ``ip netns exec`` then finds it on root's
  PATH.
* ``ip -batch FILE`` and ``bridge -batch FILE`` read their commands from a
  file, out of the filters' sight, and echo the lines they reject (so
  ``ip -batch /etc/shadow`` would print password hashes). Batch mode is
  refused.
* A missing or malformed config file gets a one-line error, never a traceback.
"""

from __future__ import annotations

import configparser
import os
import shlex
import sys
from collections.abc import Sequence
from typing import NoReturn

from oslo_rootwrap import cmd, filters, wrapper

USAGE = "usage: astara-rootwrap /etc/astara/rootwrap.conf COMMAND [ARGUMENT ...]"

#: Programs whose ``-batch``/``-b`` option reads commands from a file.
_BATCH_CAPABLE = frozenset({"ip", "bridge"})
#: iproute2 accepts any abbreviation of an option, with one or two dashes.
_BATCH_OPTION = "batch"


class RootwrapConfigError(Exception):
    """The rootwrap config file cannot be read or is invalid."""


def load_config(path: str) -> wrapper.RootwrapConfig:
    """Read a rootwrap config file, with an error naming the file and the problem."""
    parser = configparser.RawConfigParser()
    try:
        with open(path, encoding="utf-8") as config_file:
            parser.read_file(config_file, source=path)
        return wrapper.RootwrapConfig(parser)
    except OSError as exc:
        raise RootwrapConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (configparser.Error, ValueError) as exc:
        raise RootwrapConfigError(f"invalid {path}: {exc}") from None


def load_filters(filters_path: Sequence[str]) -> list[filters.CommandFilter]:
    """The filters of ``filters_path``, without oslo.rootwrap's implicit privsep-helper.

    oslo.rootwrap appends an unrestricted ``privsep-helper`` CommandFilter
    named ``privsep-helper`` to whatever the files say; our own privsep filter
    (a RegExpFilter with another name) is what should decide.
    """
    return [
        fltr
        for fltr in wrapper.load_filters(list(filters_path))
        if not (fltr.name == "privsep-helper" and type(fltr) is filters.CommandFilter)
    ]


def _is_batch_option(arg: str) -> bool:
    if not arg.startswith("-"):
        return False
    name = arg[2:] if arg.startswith("--") else arg[1:]
    return bool(name) and _BATCH_OPTION.startswith(name)


def _is_netns_exec(argv: Sequence[str]) -> bool:
    return (
        len(argv) > 3
        and os.path.basename(argv[0]) == "ip"
        and argv[1] in filters.NETNS_VARS
        and argv[2] in filters.EXEC_VARS
    )


def refusal_reason(argv: Sequence[str]) -> str | None:
    """Why ``argv`` is refused before any filter sees it, or None.

    These are holes in what oslo.rootwrap's filters can express (see the
    module docstring); the filters still have to allow whatever passes here.
    """
    if not argv:
        return "no command"
    if _is_netns_exec(argv):
        chained = argv[4:]
        if "/" in chained[0]:
            return (
                f"`ip netns exec` must name its command ({os.path.basename(chained[0])}), "
                f"not give a path ({chained[0]})"
            )
        return refusal_reason(chained)
    program = os.path.basename(argv[0])
    if program in _BATCH_CAPABLE and any(_is_batch_option(arg) for arg in argv[1:]):
        return f"{program} batch mode reads commands from a file, out of the filters' sight"
    return None


def _exit_error(execname: str, message: str, returncode: int) -> NoReturn:
    print(f"{execname}: {message}", file=sys.stderr)
    sys.exit(returncode)


def main() -> NoReturn:
    """Entry point of ``astara-rootwrap CONFIG COMMAND [ARGUMENT ...]``."""
    execname = os.path.basename(sys.argv[0])
    if len(sys.argv) < 3:
        _exit_error(execname, USAGE, cmd.RC_NOCOMMAND)
    config_path, userargs = sys.argv[1], sys.argv[2:]
    try:
        config = load_config(config_path)
    except RootwrapConfigError as exc:
        _exit_error(execname, str(exc), cmd.RC_BADCONFIG)
    reason = refusal_reason(userargs)
    if reason is not None:
        _exit_error(
            execname,
            f"Unauthorized command: {shlex.join(userargs)} ({reason})",
            cmd.RC_UNAUTHORIZED,
        )
    if config.use_syslog:
        wrapper.setup_syslog(execname, config.syslog_log_facility, config.syslog_log_level)
    cmd.run_one_command(execname, config, load_filters(config.filters_path), userargs)
