"""Benchmark: how evenly the hash ring spreads resources, and how much moves.

For 2..10 members and 300 / 3,000 resources, many trials each draw random
host names and random resource UUIDs and record the worst member's distance
from the mean load, in percent. Next to it, "ideal" is the same figure for a
perfectly even random assignment (each resource to a uniformly random member):
the part of the unevenness that no hash can remove, because the resource ids
themselves are random. Then: the share of resources that move when a member
joins or leaves (ideal 1/N), and the cost of building a ring and of a lookup.

Run: ``.venv/bin/python bench/hash_ring.py`` (``--trials N`` for more or fewer
trials, ``--exponent E`` to try another hash_partition_exponent).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence

from astara.orchestrator.hash_ring import DEFAULT_PARTITION_EXPONENT, HashRing
from benchlib import machine, percentile


def random_ids(rng: random.Random, count: int) -> list[str]:
    return [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(count)]


def random_members(rng: random.Random, count: int) -> list[str]:
    return [f"orchestrator-{rng.getrandbits(32):08x}" for _ in range(count)]


def max_deviation_pct(owners: Sequence[str], members: Sequence[str]) -> float:
    counts = Counter({member: 0 for member in members})
    counts.update(owners)
    mean = len(owners) / len(members)
    return max(abs(count - mean) for count in counts.values()) / mean * 100


def deviations(rng: random.Random, trials: int, members: int, resources: int,
               assign: Callable[[list[str], list[str]], list[str]]) -> list[float]:
    result = []
    for _ in range(trials):
        names, keys = random_members(rng, members), random_ids(rng, resources)
        result.append(max_deviation_pct(assign(names, keys), names))
    return result


def spread(trials: int, exponent: int) -> float:
    """Print the spread table; return the mean worst deviation for 3 members, 300 resources."""
    print(f"\nspread: worst member's distance from the mean load, % ({trials} trials each, "
          f"2**{exponent} points per member)")
    print(f"{'members':>7} {'resources':>9} | {'ring mean':>9} {'p95':>6} {'max':>6} | "
          f"{'ideal mean':>10} {'p95':>6}")

    def by_ring(names: list[str], keys: list[str]) -> list[str]:
        ring = HashRing(frozenset(names), exponent)
        return [ring.owner(key) for key in keys]

    ideal_rng = random.Random(2)

    def ideally(names: list[str], keys: list[str]) -> list[str]:
        return [ideal_rng.choice(names) for _ in keys]

    headline = 0.0
    for resources in (300, 3_000):
        for members in range(2, 11):
            ring = deviations(random.Random(members), trials, members, resources, by_ring)
            ideal = deviations(random.Random(members), trials, members, resources, ideally)
            print(f"{members:>7} {resources:>9} | {statistics.mean(ring):>9.1f} "
                  f"{percentile(ring, 95):>6.1f} {max(ring):>6.1f} | "
                  f"{statistics.mean(ideal):>10.1f} {percentile(ideal, 95):>6.1f}")
            if (members, resources) == (3, 300):
                headline = statistics.mean(ring)
    return headline


def movement(exponent: int) -> None:
    print("\nmovement: share of 30,000 resources that change owner (ideal 1/N)")
    rng = random.Random(3)
    keys = random_ids(rng, 30_000)
    for members in (3, 5, 10):
        names = random_members(rng, members + 1)
        small = HashRing(frozenset(names[:members]), exponent)
        large = HashRing(frozenset(names), exponent)
        before = [small.owner(key) for key in keys]
        after = [large.owner(key) for key in keys]
        share = sum(old != new for old, new in zip(before, after, strict=True)) / len(keys)
        print(f"  {members} -> {members + 1} members (or back): {share * 100:.1f}% moved, "
              f"ideal {100 / (members + 1):.1f}%")


def cost(exponent: int) -> None:
    print("\ncost")
    names = random_members(random.Random(4), 10)
    started = time.perf_counter()
    ring = HashRing(frozenset(names), exponent)
    print(f"  build a ring of 10 members: {(time.perf_counter() - started) * 1000:.1f} ms")
    keys = random_ids(random.Random(5), 100_000)
    started = time.perf_counter()
    for key in keys:
        ring.owner(key)
    elapsed = time.perf_counter() - started
    print(f"  owner(): {elapsed / len(keys) * 1e6:.2f} us per lookup "
          f"({len(keys) / elapsed:,.0f} per second)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--exponent", type=int, default=DEFAULT_PARTITION_EXPONENT)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    headline = spread(args.trials, args.exponent)
    movement(args.exponent)
    cost(args.exponent)
    print(f"\nRESULT ring_max_deviation_pct_3x300 {headline:.1f} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
