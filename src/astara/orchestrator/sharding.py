"""Which worker process owns a tenant.

A tenant's resources all live in one worker process, so the events of one
tenant are never split across processes and a port change can reach every
router of its tenant in one place. The mapping must be the same in every
process and after every restart, so it never uses Python's ``hash()`` (salted
per process): a UUID tenant id maps by its integer value, any other tenant id
by a CRC-32 of its text. Nothing is dropped for having an unusual id.
"""

from __future__ import annotations

import functools
import uuid
import zlib

#: Tenant ids remembered by the two functions below: parsing a UUID costs more
#: than the rest of an event's routing, and a cloud has far fewer tenants than
#: this (a bounded cache, so random ids in bad notifications cannot grow it).
_CACHED_TENANTS = 1 << 16


@functools.lru_cache(maxsize=_CACHED_TENANTS)
def canonical_tenant(tenant_id: str) -> str:
    """One spelling per tenant: a UUID with or without dashes, any case, is the same tenant.

    Keystone writes project ids as 32 hex digits and some notifications carry
    the dashed form; both must land on the same worker and the same index.
    """
    try:
        return uuid.UUID(tenant_id).hex
    except ValueError:
        return tenant_id


@functools.lru_cache(maxsize=_CACHED_TENANTS)
def shard_of(tenant_id: str, shard_count: int) -> int:
    """The index, in ``range(shard_count)``, of the worker that owns ``tenant_id``."""
    if shard_count < 1:
        raise ValueError(f"shard_count must be at least 1, not {shard_count}")
    try:
        number = uuid.UUID(tenant_id).int
    except ValueError:
        number = zlib.crc32(tenant_id.encode("utf-8", "surrogatepass"))
    return number % shard_count
