"""GET query strings: filters, ``fields``, sorting and marker/limit paging.

Filters compare against the resource as the API shows it, so every
attribute a client can read it can also filter on: repeated keys are
alternatives (``?device_owner=a&device_owner=b``), different keys must all
match, a list attribute matches when it contains the value, and ``fixed_ips``
takes Neutron's ``ip_address=...`` / ``subnet_id=...`` form. An attribute the
resource does not have is refused rather than ignored, because ignoring it
would answer "everything" to a question about something specific.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from astara.localapi.errors import BadRequest

_CONTROL_KEYS = frozenset({"fields", "sort_key", "sort_dir", "limit", "marker", "page_reverse"})
_TRUE = frozenset({"true", "1", "yes"})
#: Filter values that match an attribute that is null.
NULL_SPELLINGS = frozenset({"", "None", "null"})
_FALSE = frozenset({"false", "0", "no"})


@dataclass(frozen=True, slots=True)
class Page:
    items: list[dict[str, Any]]
    #: The id to continue after, when ``limit`` cut the list short.
    next_marker: str | None


def query(
    items: Iterable[dict[str, Any]],
    params: Sequence[tuple[str, str]],
    attributes: frozenset[str],
) -> Page:
    """Filter, sort and page ``items`` by the request's query ``params``."""
    grouped = group(params)
    filters = {key: values for key, values in grouped.items() if key not in _CONTROL_KEYS}
    unknown = sorted(set(filters) - attributes)
    if unknown:
        raise BadRequest(f"{', '.join(unknown)} is invalid attribute for filtering")
    selected = [item for item in items if _matches(item, filters)]
    ordered = _sorted(
        selected, grouped.get("sort_key", []), grouped.get("sort_dir", []), attributes
    )
    return _page(ordered, grouped)


def select_fields(item: dict[str, Any], params: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Only the attributes named by ``fields=`` (all of them when there is none)."""
    wanted = group(params).get("fields")
    if not wanted:
        return item
    return {key: value for key, value in item.items() if key in wanted}


def group(params: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for key, value in params:
        grouped.setdefault(key, []).append(value)
    return grouped


def _matches(item: Mapping[str, Any], filters: Mapping[str, list[str]]) -> bool:
    return all(
        any(_value_matches(key, item.get(key), wanted) for wanted in values)
        for key, values in filters.items()
    )


def _value_matches(key: str, actual: Any, wanted: str) -> bool:
    if key == "fixed_ips":
        attribute, _, value = wanted.partition("=")
        return any(entry.get(attribute) == value for entry in actual)
    if isinstance(actual, bool):
        return actual is _boolean(key, wanted)
    if isinstance(actual, list):
        return wanted in actual
    if actual is None:
        return wanted in NULL_SPELLINGS
    return str(actual) == wanted


def _boolean(key: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise BadRequest(f"Invalid input for {key}. Reason: '{value}' is not a valid boolean value.")


def _sorted(
    items: list[dict[str, Any]],
    keys: list[str],
    directions: list[str],
    attributes: frozenset[str],
) -> list[dict[str, Any]]:
    if directions and len(directions) != len(keys):
        raise BadRequest("The number of sort_keys and sort_dirs must be same")
    for key in keys:
        if key not in attributes:
            raise BadRequest(f"{key} is invalid attribute for sort_keys")
    for direction in directions:
        if direction not in ("asc", "desc"):
            raise BadRequest(f"{direction} is invalid value for sort_dirs, valid: asc, desc")
    ordered = list(items)
    # Python's sort is stable: sorting by the last key first leaves the first key in charge.
    pairs = list(zip(keys, directions or ["asc"] * len(keys), strict=True))
    for key, direction in reversed(pairs):
        ordered.sort(key=_sort_key(key), reverse=direction == "desc")
    return ordered


def _sort_key(key: str) -> Callable[[dict[str, Any]], tuple[bool, Any]]:
    def value_of(item: dict[str, Any]) -> tuple[bool, Any]:
        value = item.get(key)
        if value is None:
            return (False, "")
        return (True, value if isinstance(value, int | float | str) else str(value))

    return value_of


def _page(items: list[dict[str, Any]], grouped: Mapping[str, list[str]]) -> Page:
    start = 0
    marker = grouped.get("marker", [None])[-1]
    if marker is not None:
        ids = [item["id"] for item in items]
        if marker not in ids:
            raise BadRequest(f"Marker {marker} could not be found.")
        start = ids.index(marker) + 1
    limit = _limit(grouped.get("limit", ["0"])[-1])
    if limit == 0 or start + limit >= len(items):
        return Page(items[start:], None)
    page = items[start : start + limit]
    return Page(page, page[-1]["id"])


def _limit(value: str) -> int:
    try:
        limit = int(value)
    except ValueError:
        raise BadRequest(f"Invalid input for limit. Reason: '{value}' is not an integer.") from None
    if limit < 0:
        raise BadRequest(f"Invalid input for limit. Reason: '{value}' should be >= 0.")
    return limit
