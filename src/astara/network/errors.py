"""What can go wrong when reading or changing the network model.

The state machine treats these differently, so they are distinct types:

- :class:`NetworkModelUnavailable`: Neutron (or the local API) could not be
  reached or kept failing after retries. Nothing is wrong with the resource;
  the next event tries again.
- :class:`ResourceGone`: the API answered 404 for the resource asked for. For
  a router this means the appliance must go; for a port being deleted it is
  success.
- :class:`RequestRefused`: the API understood and said no (400, 409...).
  Retrying the same request cannot help, so it is not retried.
- :class:`MalformedResource`: the API answered with a document that is not the
  resource it should be. The message names the resource and the field.
"""

from __future__ import annotations


class NetworkModelError(Exception):
    """Base of every network-model failure, so callers can catch them as one."""


class NetworkModelUnavailable(NetworkModelError):
    """The network model did not answer usefully, even after retrying with backoff."""


class ResourceGone(NetworkModelError):
    """The network model answered 404: the resource does not exist (any more)."""

    def __init__(self, kind: str, resource_id: str) -> None:
        super().__init__(f"{kind} {resource_id} does not exist")
        self.kind = kind
        self.resource_id = resource_id


class RequestRefused(NetworkModelError):
    """The network model refused a request (a 4xx other than 404); the message says why."""

    def __init__(self, what: str, status: int, reason: str) -> None:
        super().__init__(f"{what}: refused with HTTP {status}: {reason}")
        self.status = status


class MalformedResource(NetworkModelError, ValueError):
    """A Neutron document lacks a field, or holds a value of the wrong kind."""

    def __init__(self, kind: str, resource_id: str | None, problem: str) -> None:
        name = f"{kind} {resource_id}" if resource_id else kind
        super().__init__(f"malformed {name}: {problem}")
        self.kind = kind
        self.resource_id = resource_id
