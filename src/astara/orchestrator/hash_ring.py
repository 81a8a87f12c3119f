"""Which orchestrator of a cluster owns which resource: a consistent hash ring.

Every orchestrator builds the ring from the same member names and so agrees,
with no message exchanged, on the one member that owns a key (a resource id).
A ring is a value: built once from a set of members, never changed, safe to
share between threads and to pickle to worker processes. A membership change
builds a new ring; nothing is cached at class level (the original kept one
mutable ring per process in class attributes, so two users of the class saw
each other's changes).

Each member takes ``2**partition_exponent`` points on a circle of 64-bit
positions; a key belongs to the member of the first point at or after the
key's position. Many points per member keep the shares even (each member's
share varies by about ``1/sqrt(points)``), and a member joining or leaving
moves only the keys of the arcs it takes or gives back, about ``1/N`` of them.

Positions come from BLAKE2b, never from Python's ``hash()``, which is salted
per process: two orchestrators must place a key at the same position.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

#: 2**10 points per member: three members then own 33.3% ± 2% of the keys
#: each, so the ring adds almost nothing to the unevenness that a few hundred
#: random resource ids have anyway (see bench/hash_ring.py). Building a ring of
#: ten members takes a few milliseconds.
DEFAULT_PARTITION_EXPONENT = 10

#: The most points per member a ring accepts (2**16), as the configuration does.
MAX_PARTITION_EXPONENT = 16


class EmptyRingError(LookupError):
    """The ring has no members, so no key has an owner."""


def ring_position(text: str) -> int:
    """The 64-bit position of ``text`` on the ring, the same in every process."""
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


@dataclass(frozen=True, slots=True)
class HashRing:
    """An immutable consistent hash ring over ``members``.

    Two rings with the same members and exponent are equal and place every
    key identically, whichever process built them.
    """

    members: frozenset[str]
    partition_exponent: int = DEFAULT_PARTITION_EXPONENT
    _positions: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _owners: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 0 <= self.partition_exponent <= MAX_PARTITION_EXPONENT:
            raise ValueError(
                f"partition_exponent must be in 0..{MAX_PARTITION_EXPONENT}, "
                f"not {self.partition_exponent}"
            )
        if any(not member for member in self.members):
            raise ValueError("a ring member needs a non-empty name")
        points_per_member = 2**self.partition_exponent
        # "member#index" is unambiguous because the index is digits and last.
        # Sorting by (position, member) keeps the ring identical in every
        # process even if two points ever share a position.
        points = sorted(
            (ring_position(f"{member}#{index}"), member)
            for member in self.members
            for index in range(points_per_member)
        )
        object.__setattr__(self, "_positions", tuple(position for position, _ in points))
        object.__setattr__(self, "_owners", tuple(member for _, member in points))

    def owner(self, key: str) -> str:
        """The member that owns ``key``; raises :class:`EmptyRingError` on an empty ring."""
        if not self._positions:
            raise EmptyRingError(f"no member owns {key!r}: the ring is empty")
        index = bisect.bisect_left(self._positions, ring_position(key))
        return self._owners[index % len(self._owners)]

    def owns(self, member: str, key: str) -> bool:
        """Whether ``member`` owns ``key``; on an empty ring nobody does."""
        return bool(self.members) and self.owner(key) == member


class Moves(NamedTuple):
    """The keys one member takes over and gives up when the ring changes."""

    gained: frozenset[str]
    lost: frozenset[str]


def moved(old_ring: HashRing, new_ring: HashRing, keys: Iterable[str], member: str) -> Moves:
    """Which of ``keys`` ``member`` gains and loses going from ``old_ring`` to ``new_ring``.

    A worker needs exactly this on a rebalance: the resources to start
    managing (gained) and those to hand over (lost). Either ring may be empty
    (before the first membership is known, after leaving): nobody owns
    anything in an empty ring.
    """
    gained: set[str] = set()
    lost: set[str] = set()
    for key in keys:
        owned_before, owned_after = old_ring.owns(member, key), new_ring.owns(member, key)
        if owned_after and not owned_before:
            gained.add(key)
        elif owned_before and not owned_after:
            lost.add(key)
    return Moves(gained=frozenset(gained), lost=frozenset(lost))
