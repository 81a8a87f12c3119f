"""The store: the SQLite file, its transactions, and notifications after commit.

Writers take one lock, in this process and (through ``BEGIN IMMEDIATE``) in
the file, so "is this address free?" and "take it" happen as one step.
Notifications are handed over after the commit but before the lock is
released: a listener thus hears about changes in the order they were made,
which matters when a create and a delete of the same router race.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.orm import Session

from astara.localapi.context import DEFAULT_PROJECT_ID, RequestContext
from astara.localapi.engine import WRITE_OPTION, make_engine
from astara.localapi.models import ID_PREFIX_KEY, ID_PREFIX_PATTERN, Base
from astara.localapi.notifications import Notify, deliver
from astara.localapi.services import routers
from astara.localapi.transaction import Transaction


class Store:
    def __init__(
        self,
        database_url: str,
        notify: Notify,
        default_project_id: str = DEFAULT_PROJECT_ID,
        id_prefix: str = "",
    ) -> None:
        if not ID_PREFIX_PATTERN.fullmatch(id_prefix):
            raise ValueError(
                f"id prefix {id_prefix!r} must be at most 8 lowercase letters or digits"
            )
        self._id_prefix = id_prefix
        self._engine = make_engine(database_url)
        Base.metadata.create_all(self._engine)
        self._writer = self._engine.execution_options(**{WRITE_OPTION: True})
        self._write_lock = threading.Lock()
        self._notify = notify
        self.default_project_id = default_project_id

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A consistent snapshot to read from; readers never wait for the writer."""
        with Session(self._engine) as session, session.begin():
            yield session

    @contextmanager
    def writing(self, context: RequestContext) -> Iterator[Transaction]:
        """The one write transaction; its notifications go out once it has committed."""
        with self._write_lock:
            with Session(
                self._writer, expire_on_commit=False, info={ID_PREFIX_KEY: self._id_prefix}
            ) as session:
                transaction = Transaction(session, context)
                with session.begin():
                    yield transaction
            deliver(self._notify, transaction.notifications, context.as_notification_context())

    def set_router_status(self, router_id: str, status: str) -> dict[str, Any]:
        """Record what the orchestrator found the router's appliance doing.

        ``status`` is one of BUILD, ACTIVE, ERROR, DOWN; the router's ports
        follow it (ACTIVE with the router, DOWN otherwise).
        """
        with self.writing(RequestContext(self.default_project_id)) as transaction:
            return routers.set_status(transaction, router_id, status)

    def close(self) -> None:
        self._engine.dispose()
