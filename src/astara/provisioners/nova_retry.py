"""How the nova provisioner rides out a busy or briefly unreachable Nova.

Nova answers 503 while its API workers restart, 409 while a server is between
task states (an interface attach during boot), 429 when rate limited, and a
request can time out under load. Each of those passes if tried again a little
later, so such failures are retried with exponential backoff; anything else
(a bad flavor, a missing image, a refused request) would fail the same way
again and is reported at once. Either way the caller gets one
:class:`ProvisionerError` whose message says what was being done, how often
it was tried and what Nova answered, which is all an operator needs from the log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from keystoneauth1 import exceptions as ks_exceptions
from openstack import exceptions as sdk_exceptions
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from astara.provisioners.base import ProvisionerError

LOG = logging.getLogger(__name__)

T = TypeVar("T")

#: HTTP statuses after which the same request may succeed (server-side 5xx come on top).
_TRANSIENT_STATUSES = frozenset({408, 409, 429})


def is_transient(error: BaseException) -> bool:
    """True when repeating the request later may succeed."""
    if isinstance(error, ks_exceptions.RetriableConnectionFailure):
        return True  # timed out, or could not connect
    if isinstance(error, sdk_exceptions.HttpException):
        status = error.status_code
        return status is None or status >= 500 or status in _TRANSIENT_STATUSES
    return False


def describe(error: BaseException) -> str:
    """One line for the log: what Nova (or the connection) said."""
    if isinstance(error, sdk_exceptions.HttpException) and error.status_code:
        details = error.details or error.message or type(error).__name__
        return f"HTTP {error.status_code}: {details}"
    return str(error) or type(error).__name__


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """At most ``attempts`` tries, waiting ``initial_wait`` doubled each time up to ``max_wait``.

    ``sleep`` is injectable so tests can record the backoff instead of waiting it out.
    """

    attempts: int = 5
    initial_wait: float = 0.5
    max_wait: float = 10.0
    sleep: Callable[[float], None] = time.sleep

    def call(self, doing: str, operation: Callable[[], T]) -> T:
        """Run ``operation``; ProvisionerError naming ``doing`` when it finally fails."""
        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=self.initial_wait, max=self.max_wait),
            retry=retry_if_exception(is_transient),
            sleep=self.sleep,
            before_sleep=_log_retry(doing),
            reraise=True,
        )
        try:
            return retrying(operation)
        except (sdk_exceptions.SDKException, ks_exceptions.ClientException) as error:
            tries = retrying.statistics.get("attempt_number", 1)
            if is_transient(error):
                raise ProvisionerError(
                    f"nova: {doing}: still failing after {tries} attempts: {describe(error)}"
                ) from error
            raise ProvisionerError(f"nova: {doing}: {describe(error)}") from error


def _log_retry(doing: str) -> Callable[[RetryCallState], None]:
    def log(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        LOG.warning("nova: %s: attempt %d failed (%s); retrying in %.1f s",
                    doing, state.attempt_number, describe(error) if error else "?", delay)

    return log
