"""The one way Astara does anything as root.

The orchestrator runs as the unprivileged ``astara`` user (install guide), so
everything that needs root goes through exactly two doors, both opened by the
same ``[AGENT] root_helper`` (``sudo astara-rootwrap /etc/astara/rootwrap.conf``):

* :func:`run_privileged` runs one external command (``ovs-vsctl``, ``nft``,
  ``ip netns exec …``) as an argv list, never through a shell, so no argument
  is ever re-parsed. Rootwrap's filters decide what may run.
* :data:`network_admin` is an oslo.privsep context for netlink work done in
  Python with pyroute2 (links, addresses): a small root daemon, started once
  through the root helper, keeps only CAP_NET_ADMIN and CAP_SYS_ADMIN (the
  latter to enter named network namespaces) and runs only the functions
  decorated with ``@network_admin.entrypoint``.

When the process already runs as root (single-host mode, the e2e tests) both
doors lead straight in: no sudo, no daemon.

The daemon's channel belongs to the process that started it (on the first
entrypoint call): fork worker processes before that, or have a forked child
call ``network_admin.stop()`` so that it starts its own.
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
from collections.abc import Sequence

from oslo_privsep import capabilities, priv_context

LOG = logging.getLogger(__name__)

DEFAULT_ROOT_HELPER = "sudo astara-rootwrap /etc/astara/rootwrap.conf"
#: Longest stderr excerpt kept in an error message: enough to say why, short
#: enough for one log line.
_STDERR_EXCERPT = 400

_root_helper: list[str] = shlex.split(DEFAULT_ROOT_HELPER)

network_admin = priv_context.PrivContext(
    "astara",
    cfg_section="privsep_network_admin",
    pypath=f"{__name__}.network_admin",
    capabilities=[capabilities.CAP_NET_ADMIN, capabilities.CAP_SYS_ADMIN],
)
# Root needs no daemon: entrypoints then run in this process.
network_admin.set_client_mode(os.geteuid() != 0)


class PrivilegedCommandError(Exception):
    """A privileged command could not run or failed; the message is one log line."""

    def __init__(self, argv: Sequence[str], reason: str, returncode: int | None = None) -> None:
        super().__init__(f"privileged command `{shlex.join(argv)}` {reason}")
        self.argv = tuple(argv)
        self.returncode = returncode


def configure(root_helper: str) -> None:
    """Use ``root_helper`` ([AGENT] root_helper) for commands and the privsep daemon.

    Called once by the main process after it has read its configuration.
    """
    helper = shlex.split(root_helper)
    if not helper:
        raise ValueError("[AGENT] root_helper is empty; the default is " + DEFAULT_ROOT_HELPER)
    global _root_helper
    _root_helper = helper
    priv_context.init(root_helper=helper)


def _as_one_line(stderr: bytes) -> str:
    text = " ".join(stderr.decode(errors="replace").split())
    if len(text) > _STDERR_EXCERPT:
        return text[:_STDERR_EXCERPT] + "…"
    return text or "(no error output)"


def run_privileged(
    argv: Sequence[str],
    *,
    input: bytes | None = None,
    check: bool = True,
    timeout: float = 30,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``argv`` as root and return its result, stdout and stderr captured.

    ``input`` is fed to the command's stdin (``nft -j -f -`` reads its
    ruleset that way, so no file ever needs to be trusted). With ``check`` a
    non-zero exit raises :class:`PrivilegedCommandError`; a command that
    cannot start or outlives ``timeout`` seconds always does.
    """
    args = [str(arg) for arg in argv]
    if not args:
        raise ValueError("run_privileged needs a command")
    command = args if os.geteuid() == 0 else [*_root_helper, *args]
    LOG.debug("running as root: %s", shlex.join(command))
    try:
        result = subprocess.run(
            command, input=input, capture_output=True, timeout=timeout, check=False
        )
    except OSError as exc:
        reason = f"cannot start {command[0]}: {exc.strerror or exc}"
        raise PrivilegedCommandError(args, reason) from None
    except subprocess.TimeoutExpired:
        raise PrivilegedCommandError(args, f"timed out after {timeout:g}s") from None
    if check and result.returncode != 0:
        raise PrivilegedCommandError(
            args,
            f"exited {result.returncode}: {_as_one_line(result.stderr)}",
            result.returncode,
        )
    return result
