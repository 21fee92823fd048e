"""Per-tenant ingest rate limits: one token bucket (spans per second) per tenant.

A request is admitted whole or not at all (nothing partially acknowledged). The bucket
holds one second of the rate; a request larger than that is admitted only into a full
bucket and leaves it in debt, so one big batch is never refused forever while the average
rate still holds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from spyglass.tenancy.config import ANY_TENANT


class _Bucket:
    __slots__ = ("rate", "tokens", "stamp")

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self.tokens = rate
        self.stamp = now


class RateLimits:
    """``rates``: tenant -> spans/s (``*`` for every tenant not named); tenants without a
    rate are never limited. ``clock`` is monotonic seconds (tests pass a fake one)."""

    def __init__(self, rates: dict[str, float], clock: Callable[[], float] = time.monotonic) -> None:
        self.rates = dict(rates)
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def rate_of(self, tenant: str) -> float | None:
        return self.rates.get(tenant, self.rates.get(ANY_TENANT))

    def take(self, tenant: str, n: int) -> bool:
        """Take ``n`` tokens from ``tenant``'s bucket; False (nothing taken) when it lacks them."""
        rate = self.rate_of(tenant)
        if rate is None or n <= 0:
            return True
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(tenant)
            if bucket is None:
                bucket = self._buckets[tenant] = _Bucket(rate, now)
            bucket.tokens = min(rate, bucket.tokens + (now - bucket.stamp) * rate)
            bucket.stamp = now
            if bucket.tokens >= n or (n > rate and bucket.tokens >= rate):
                bucket.tokens -= n
                return True
            return False

    async def acquire(self, tenant: str, n: int) -> bool:
        """``take`` as the gate calls it: a collector worker's limits ask its parent
        (``collector.workers.limits``), whose buckets every worker shares."""
        return self.take(tenant, n)

    def give_back(self, tenant: str, n: int) -> None:
        """Return tokens of a request that was admitted but then not accepted (queue full)."""
        if self.rate_of(tenant) is None or n <= 0:
            return
        with self._lock:
            bucket = self._buckets.get(tenant)
            if bucket is not None:
                bucket.tokens = min(bucket.rate, bucket.tokens + n)
