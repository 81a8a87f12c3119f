"""Which resource a log line is about: a context set around work on one resource.

Every line logged while a thread works on one resource (a worker thread in a
state machine's ``update()``, the intake thread delivering that resource's
event) must name the resource and its tenant, or an operator cannot follow
one router through the log of a busy orchestrator. Passing ids to every log
call would miss the lines of the drivers, provisioners and clients below the
state machine; a :class:`contextvars.ContextVar` set once around the work
reaches them all, thread by thread.

:class:`ResourceLogFilter`, on every handler, copies the context onto each
record as ``resource_id``, ``tenant_id`` and ``driver`` (``-`` outside any
resource), and :func:`install` puts it on the handlers and makes oslo.log's
default line formats show them, unless the operator configured a format of
their own.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from oslo_config import cfg

#: The record attributes the filter sets, and their value outside any resource.
FIELDS = ("resource_id", "tenant_id", "driver")
NONE = "-"

#: What the default line formats show between the logger name and the message.
_FIELDS_FORMAT = "[resource_id=%(resource_id)s tenant_id=%(tenant_id)s driver=%(driver)s] "
#: oslo.log's own defaults, with the resource fields added before the message.
_DEFAULT_FORMAT = (
    "%(asctime)s.%(msecs)03d %(process)d %(levelname)s %(name)s [-] "
    + _FIELDS_FORMAT
    + "%(instance)s%(message)s"
)
_CONTEXT_FORMAT = (
    "%(asctime)s.%(msecs)03d %(process)d %(levelname)s %(name)s "
    "[%(global_request_id)s %(request_id)s %(user_identity)s] "
    + _FIELDS_FORMAT
    + "%(instance)s%(message)s"
)


class NamesResource(Protocol):
    """A resource as log lines name it (an :class:`~astara.orchestrator.event.Resource`)."""

    @property
    def id(self) -> str: ...

    @property
    def tenant_id(self) -> str: ...

    @property
    def driver(self) -> str: ...


_CURRENT: contextvars.ContextVar[tuple[str, str, str] | None] = contextvars.ContextVar(
    "astara_log_resource", default=None
)


@contextmanager
def about(resource: NamesResource) -> Iterator[None]:
    """Within this block, this thread's log records are about ``resource``."""
    token = _CURRENT.set((resource.id, resource.tenant_id, resource.driver))
    try:
        yield
    finally:
        _CURRENT.reset(token)


def current() -> dict[str, str]:
    """The fields the records of this thread get now."""
    values = _CURRENT.get() or (NONE, NONE, NONE)
    return dict(zip(FIELDS, values, strict=True))


class ResourceLogFilter(logging.Filter):
    """Adds ``resource_id``, ``tenant_id`` and ``driver`` to every record (never drops one).

    A record that already carries a field (passed with ``extra=``) keeps it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in current().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


def install(conf: cfg.ConfigOpts) -> None:
    """After ``oslo_log.setup``: the resource fields on every root handler and in the formats.

    Only the default formats change (oslo.log reads them for each record, so
    setting them after its setup is enough): a format string the operator
    set is kept as is, and may use the fields too.
    """
    conf.set_default("logging_default_format_string", _DEFAULT_FORMAT)
    conf.set_default("logging_context_format_string", _CONTEXT_FORMAT)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, ResourceLogFilter) for f in handler.filters):
            handler.addFilter(ResourceLogFilter())
