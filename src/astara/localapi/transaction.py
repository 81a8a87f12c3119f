"""One write transaction: the session to change rows with and what to announce."""

from __future__ import annotations

from sqlalchemy.orm import Session

from astara.localapi.context import RequestContext
from astara.localapi.notifications import Notification


class Transaction:
    """The unit of work a service function runs in.

    Services add rows through :attr:`session` and queue notifications with
    :meth:`announce`; the store commits and only then delivers them.
    """

    def __init__(self, session: Session, context: RequestContext) -> None:
        self.session = session
        self.context = context
        self.notifications: list[Notification] = []

    def announce(self, notification: Notification) -> None:
        self.notifications.append(notification)
