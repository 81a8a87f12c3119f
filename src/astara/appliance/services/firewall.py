"""The firewall service: one nftables transaction per change, none when nothing changed."""

from __future__ import annotations

import logging

from astara.appliance.firewall.policy import AgentAccess, build_ruleset
from astara.appliance.firewall.ruleset import TABLE_FAMILY, TABLE_NAME, render
from astara.appliance.netns import CommandError, Namespace
from astara.appliance.services.base import Target

LOG = logging.getLogger(__name__)


class FirewallService:
    """Keeps the appliance's nftables table equal to the rendered policy.

    A reload is skipped when the rendered text equals the last one loaded and
    the kernel still lists exactly what it listed right after that load, so a
    re-applied configuration touches no rule, and a table changed behind the
    agent's back is put right on the next apply.
    """

    name = "firewall"

    def __init__(self, ns: Namespace, access: AgentAccess) -> None:
        self._ns = ns
        self._access = access
        self._loaded: tuple[str, str] | None = None

    def apply(self, current: Target, target: Target) -> None:
        text = render(build_ruleset(target, self._access))
        if self._loaded is not None and self._loaded == (text, self._listing()):
            LOG.debug("%s: firewall unchanged", self._ns)
            return
        self._ns.run(["nft", "-f", "-"], stdin=text)
        self._loaded = (text, self._listing())
        LOG.info("%s: firewall ruleset loaded (%d lines)", self._ns, text.count("\n"))
        self._forget_removed_translations(current, target)

    def rollback(self, attempted: Target, previous: Target) -> None:
        self.apply(attempted, previous)

    def _listing(self) -> str:
        try:
            return self._ns.run(["nft", "list", "table", TABLE_FAMILY, TABLE_NAME])
        except CommandError:
            return ""

    def _forget_removed_translations(self, current: Target, target: Target) -> None:
        """Drop conntrack entries of floating IPs that went away or moved.

        Without this, connections NATed through a removed floating IP would
        keep flowing until they time out.
        """
        kept = set(target.config.floating_ips)
        for fip in set(current.config.floating_ips) - kept:
            for direction in ("--orig-dst", "--reply-dst"):
                try:
                    self._ns.run(["conntrack", "-D", direction, str(fip.floating_ip)])
                except CommandError as exc:
                    if "0 flow entries" not in str(exc):
                        LOG.warning("%s: conntrack cleanup for %s: %s", self._ns, fip, exc)
            LOG.info("%s: forgot connections of floating IP %s", self._ns, fip.floating_ip)


def active_ruleset(ns: Namespace) -> str:
    """Everything nftables enforces in the namespace, as ``nft list ruleset`` prints it."""
    return ns.run(["nft", "list", "ruleset"])
