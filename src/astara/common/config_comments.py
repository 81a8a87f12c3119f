"""Trailing ``# comments`` after values in Astara's configuration files.

The install guide writes lines such as::

    interface_driver=astara.common.linux.interface.BridgeInterfaceDriver  #For Linuxbridge
    enabled=True  # enable the feature

oslo.config keeps everything after ``=`` as the value, so those files would
set a driver name with a comment glued to it and fail on the boolean. Astara's
rule, the one Python's configparser applies with ``inline_comment_prefixes``:
a ``#`` preceded by whitespace starts a comment. Secret options (passwords,
shared keys) are taken verbatim, because a password may well contain `` #``
and silently cutting it would be far worse than a failed login; the one
exception is a secret URL (``[coordination] url``, ``[database] connection``),
which cannot contain whitespace, so its comment is unambiguous.

oslo.config offers no hook into its parser, so :func:`inline_comments_stripped`
swaps its parser class for the duration of one ``ConfigOpts.__call__``. Files
are read only then (values are converted later, from what was read), so the
swap covers every file the command line names.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from oslo_config import cfg

_INLINE_COMMENT = re.compile(r"\s+#.*$")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://\S*$")
_swap_lock = threading.Lock()

#: (group, option) as written in a file: group lower-cased except DEFAULT,
#: option with dashes turned to underscores.
OptionKey = tuple[str, str]


def strip_inline_comment(value: str) -> str:
    """``value`` without a trailing whitespace-``#`` comment."""
    return _INLINE_COMMENT.sub("", value)


def strip_secret_inline_comment(value: str) -> str:
    """``value`` without its comment if what precedes it is a URL, else unchanged."""
    stripped = strip_inline_comment(value)
    return stripped if _URL.match(stripped) else value


def option_key(group: str | None, name: str) -> OptionKey:
    """How a file's ``[group] name`` is compared, whatever its spelling."""
    group = group or "DEFAULT"
    return (group if group == "DEFAULT" else group.lower(), name.replace("-", "_"))


def verbatim_keys(opts_by_group: Iterable[tuple[str, Iterable[cfg.Opt]]]) -> frozenset[OptionKey]:
    """The keys, old names included, of the secret options among ``opts_by_group``."""
    keys: set[OptionKey] = set()
    for group, opts in opts_by_group:
        for opt in opts:
            if not opt.secret:
                continue
            keys.add(option_key(group, opt.dest))
            for old in opt.deprecated_opts:
                keys.add(option_key(old.group or group, old.name or opt.dest))
    return frozenset(keys)


@contextmanager
def inline_comments_stripped(verbatim: frozenset[OptionKey]) -> Iterator[None]:
    """While active, files parsed by oslo.config lose their trailing comments.

    Options whose key is in ``verbatim`` (the secret ones) keep their value
    as written unless it is a URL.
    """

    class CommentStrippingParser(cfg.ConfigParser):
        def assignment(self, key: str, value: list[str]) -> None:
            secret = option_key(self.section, key) in verbatim
            strip = strip_secret_inline_comment if secret else strip_inline_comment
            super().assignment(key, [strip(line) for line in value])

    with _swap_lock:
        original = cfg.ConfigParser
        setattr(cfg, "ConfigParser", CommentStrippingParser)  # noqa: B010
        try:
            yield
        finally:
            setattr(cfg, "ConfigParser", original)  # noqa: B010
